//! The Miro REST API stand-in (being built).

use super::{SandboxOptions, Shared};
use axum::Router;

pub fn router(_shared: Shared, _options: &SandboxOptions) -> anyhow::Result<Router> {
    Ok(Router::new())
}
