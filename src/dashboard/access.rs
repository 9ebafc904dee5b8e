//! Who may see the dashboard. STUB: open to all; the real guard (token, login form, CSRF) lands
//! with issue 8.

use crate::app::AppState;
use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Lets a request to a guarded route through, or answers it.
pub async fn guard(State(_state): State<AppState>, request: Request, next: Next) -> Response {
    next.run(request).await
}

/// The routes open to all that access needs (the login form).
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// The CSRF token a page puts in each of its forms, as the hidden field `csrf`.
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Csrf {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        _parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Csrf(String::new()))
    }
}

/// A POST whose form carried the right `csrf` field; rejects the request (403, saying why)
/// otherwise.
pub struct CsrfChecked;

impl<S: Send + Sync> FromRequest<S> for CsrfChecked {
    type Rejection = Response;
    async fn from_request(_req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(CsrfChecked)
    }
}
