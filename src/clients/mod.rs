//! Clients for the two APIs boardsync writes to and reads from: Miro's REST API (`miro`) and
//! monday's GraphQL API (`monday`). Base URLs come from the mappings file, so the sandbox and the
//! real services are one setting apart.
//!
//! Every failure becomes an [`ApiError`] here, once, by HTTP status and monday's
//! `extensions.code`; the dispatcher only asks what kind of failure it is. Clients never retry on
//! their own: retrying is the outbox's job, where attempts are counted and kept.
//!
//! The failures themselves are in `error.rs`, which the two clients import directly.

mod error;
pub(crate) mod miro;
pub(crate) mod monday;

pub(crate) use error::ApiError;

use std::time::Duration;

/// How long one API call may take before it counts as a timeout (a transient failure).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Clients for both APIs as the mappings file configures them, sharing one connection pool and
/// reckoning rate-limit waits on `clock`.
pub(crate) fn for_config(
    config: &crate::config::Config,
    clock: &crate::clock::Clock,
) -> (miro::MiroClient, monday::MondayClient) {
    let http = http_client();
    let miro = miro::MiroClient::new(
        http.clone(),
        config.miro.api_url.clone(),
        config.miro.token.expose(),
        clock.clone(),
    );
    let monday = monday::MondayClient::new(
        http,
        config.monday.api_url.clone(),
        config.monday.token.expose(),
        &config.monday.api_version,
        clock.clone(),
    );
    (miro, monday)
}

/// The HTTP client both APIs share: one connection pool, one timeout.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("boardsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these settings always builds")
}
