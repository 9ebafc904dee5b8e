//! `/api/stream`. STUB.
use crate::app::AppState;
use axum::extract::State;

pub async fn api_stream(State(_s): State<AppState>) -> &'static str {
    ""
}
