//! The dashboard's pages. STUB.
use crate::app::AppState;
use axum::extract::{Path, State};
use axum::response::Html;

pub async fn overview(State(_s): State<AppState>) -> Html<String> {
    Html(String::new())
}
pub async fn pair(State(_s): State<AppState>, Path(_slug): Path<String>) -> Html<String> {
    Html(String::new())
}
pub async fn dead(State(_s): State<AppState>) -> Html<String> {
    Html(String::new())
}
pub async fn conflicts(State(_s): State<AppState>) -> Html<String> {
    Html(String::new())
}
pub async fn stylesheet() -> &'static str {
    ""
}
pub async fn script() -> &'static str {
    ""
}
