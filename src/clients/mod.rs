//! Clients for the two APIs boardsync writes to and reads from: Miro's REST API (`miro`) and
//! monday's GraphQL API (`monday`). Base URLs come from the mappings file, so the sandbox and the
//! real services are one setting apart.
//!
//! Every failure becomes an [`ApiError`] here, once, by HTTP status and monday's
//! `extensions.code`; the dispatcher only asks what kind of failure it is. Clients never retry on
//! their own: retrying is the outbox's job, where attempts are counted and kept.

pub mod miro;
pub mod monday;

use std::time::Duration;

/// How long one API call may take before it counts as a timeout (a transient failure).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// What went wrong with a call, as the decision the caller has to make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Over a rate, complexity or daily limit: try again at `retry_at` (Unix ms), not before.
    #[error("rate limited until {retry_at}: {reason}")]
    RateLimited { retry_at: i64, reason: String },
    /// 5xx, a timeout, a lost connection, 423, an idempotency key still in use: back off and retry.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The item (or board) is not there: the link's other side is gone.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request is wrong and will stay wrong: retrying cannot help.
    #[error("rejected: {0}")]
    Rejected(String),
}

impl ApiError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ApiError::RateLimited { .. } | ApiError::Transient(_))
    }

    /// A label for metrics: `rate_limited`, `transient`, `not_found` or `rejected`.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Transient(_) => "transient",
            ApiError::NotFound(_) => "not_found",
            ApiError::Rejected(_) => "rejected",
        }
    }
}

/// Clients for both APIs as the mappings file configures them, sharing one connection pool.
pub fn for_config(config: &crate::config::Config) -> (miro::MiroClient, monday::MondayClient) {
    let http = http_client();
    let miro = miro::MiroClient::new(
        http.clone(),
        config.miro.api_url.clone(),
        config.miro.token.expose(),
    );
    let monday = monday::MondayClient::new(
        http,
        config.monday.api_url.clone(),
        config.monday.token.expose(),
        &config.monday.api_version,
    );
    (miro, monday)
}

/// A reqwest failure that never got an HTTP answer: always worth another try.
fn transport(e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::Transient("the API did not answer in time".into())
    } else if e.is_decode() {
        ApiError::Rejected(format!("the API's answer did not parse: {e}"))
    } else {
        ApiError::Transient(format!("cannot reach the API: {e}"))
    }
}

/// The HTTP client both APIs share: one connection pool, one timeout.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("boardsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these settings always builds")
}

/// A short excerpt of an error body for a message: never the whole of it.
fn excerpt(body: &str) -> String {
    const MAX: usize = 300;
    let body = body.trim();
    if body.len() <= MAX {
        return body.to_owned();
    }
    let mut end = MAX;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}

/// Unix milliseconds of an HTTP `Date` header, when there is a valid one.
fn http_date_ms(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let text = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    chrono::DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|t| t.timestamp_millis())
}
