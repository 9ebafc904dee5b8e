//! The dashboard's buttons. STUB.
use super::access::CsrfChecked;
use crate::app::AppState;
use axum::extract::{Path, State};

pub async fn pause(State(_s): State<AppState>, Path(_slug): Path<String>, _c: CsrfChecked) {}
pub async fn resume(State(_s): State<AppState>, Path(_slug): Path<String>, _c: CsrfChecked) {}
pub async fn release(State(_s): State<AppState>, Path(_slug): Path<String>, _c: CsrfChecked) {}
pub async fn retry(State(_s): State<AppState>, Path(_id): Path<i64>, _c: CsrfChecked) {}
pub async fn discard(State(_s): State<AppState>, Path(_id): Path<i64>, _c: CsrfChecked) {}
