//! What a failed call becomes: an [`ApiError`], decided once here for both APIs. Both clients
//! import it from this file, so neither needs anything from `clients/mod.rs`, which imports them.

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
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, ApiError::RateLimited { .. } | ApiError::Transient(_))
    }

    /// A label for metrics: `rate_limited`, `transient`, `not_found` or `rejected`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Transient(_) => "transient",
            ApiError::NotFound(_) => "not_found",
            ApiError::Rejected(_) => "rejected",
        }
    }
}

/// A reqwest failure that never got an HTTP answer: always worth another try.
pub(super) fn transport(e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::Transient("the API did not answer in time".into())
    } else if e.is_decode() {
        ApiError::Rejected(format!("the API's answer did not parse: {e}"))
    } else {
        ApiError::Transient(format!("cannot reach the API: {e}"))
    }
}

/// A short excerpt of an error body for a message: never the whole of it.
pub(super) fn excerpt(body: &str) -> String {
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
