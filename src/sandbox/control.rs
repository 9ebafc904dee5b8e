//! What the two APIs share around their handlers: the request log, the fault layer, and the
//! control routes under `/_sandbox/` that tests and the demo drive (`faults`, `requests`, `clock`).
//! Each API adds its own `state`, `reset` (and, for Miro, `comments`) beside these.

use super::faults::{FaultConfig, HttpFault};
use super::{Instruments, Shared};
use crate::clock::Clock;
use axum::Json;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a handler charged for a request (Miro credits, monday complexity); put in the response's
/// extensions so the request log can record it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cost(pub u64);

/// Who made a request, as resolved by the API's authentication; put in the response's extensions.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub String);

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoggedRequest {
    pub seq: u64,
    pub at: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub user: Option<String>,
    pub status: u16,
    pub cost: u64,
    /// The fault injected, if any.
    pub fault: Option<String>,
}

/// Every API call received (the control API aside), oldest first.
#[derive(Clone, Default)]
pub(crate) struct RequestLog {
    entries: Arc<Mutex<Vec<LoggedRequest>>>,
}

impl RequestLog {
    pub(crate) fn all(&self) -> Vec<LoggedRequest> {
        self.entries.lock().expect("log lock").clone()
    }

    pub(crate) fn clear(&self) {
        self.entries.lock().expect("log lock").clear();
    }

    fn push(&self, mut entry: LoggedRequest) {
        let mut entries = self.entries.lock().expect("log lock");
        entry.seq = entries.len() as u64 + 1;
        entries.push(entry);
    }
}

/// Builds the error response an API gives for a status (Miro's error body, monday's `errors[]`).
pub(crate) type ErrorResponder = fn(StatusCode) -> Response;

/// State for [`instrument`].
#[derive(Clone)]
pub(crate) struct Instrumented {
    pub instruments: Instruments,
    pub clock: Clock,
    pub error: ErrorResponder,
}

/// Middleware around every API route: injects the configured faults and logs the request with
/// its caller, status and cost.
pub(crate) async fn instrument(
    State(ctx): State<Instrumented>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let at = Clock::iso_millis(ctx.clock.now());
    let user = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").trim())
        .and_then(|t| {
            t.strip_prefix("sandbox-app-")
                .or_else(|| t.strip_prefix("sandbox-"))
        })
        .map(str::to_owned);
    let fault = ctx
        .instruments
        .faults
        .for_request(&format!("{method} {path}"), user.as_deref());
    let response = match fault {
        Some(HttpFault::Status(code)) => {
            (ctx.error)(StatusCode::from_u16(code).expect("fault status"))
        }
        Some(HttpFault::Timeout) => {
            // Long enough that any sane client has given up; the client's disconnect drops this.
            tokio::time::sleep(Duration::from_secs(300)).await;
            (ctx.error)(StatusCode::GATEWAY_TIMEOUT)
        }
        Some(HttpFault::Slow(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(req).await
        }
        Some(HttpFault::LostResponse) => {
            let _ = next.run(req).await;
            (ctx.error)(StatusCode::BAD_GATEWAY)
        }
        None => next.run(req).await,
    };
    let cost = response.extensions().get::<Cost>().map_or(0, |c| c.0);
    let user = response.extensions().get::<Caller>().map(|c| c.0.clone());
    ctx.instruments.requests.push(LoggedRequest {
        seq: 0,
        at,
        method,
        path,
        query,
        user,
        status: response.status().as_u16(),
        cost,
        fault: fault.map(|f| format!("{f:?}")),
    });
    response
}

/// `/_sandbox/faults`, `/_sandbox/requests`, `/_sandbox/clock`, for one API.
pub(crate) fn routes(shared: &Shared, instruments: &Instruments) -> Router {
    Router::new()
        .route("/_sandbox/faults", get(get_faults).post(set_faults))
        .route(
            "/_sandbox/requests",
            get(get_requests).delete(clear_requests),
        )
        .with_state(instruments.clone())
        .merge(
            Router::new()
                .route("/_sandbox/clock", get(get_clock).post(move_clock))
                .with_state(shared.clock.clone()),
        )
}

async fn get_faults(State(i): State<Instruments>) -> Json<serde_json::Value> {
    Json(i.faults.report())
}

async fn set_faults(State(i): State<Instruments>, Json(config): Json<FaultConfig>) -> Response {
    match i.faults.configure(config) {
        Ok(()) => Json(i.faults.report()).into_response(),
        Err(message) => control_error(StatusCode::BAD_REQUEST, &message),
    }
}

#[derive(Deserialize)]
struct RequestsQuery {
    /// Only entries after this sequence number.
    after: Option<u64>,
}

async fn get_requests(
    State(i): State<Instruments>,
    Query(q): Query<RequestsQuery>,
) -> Json<Vec<LoggedRequest>> {
    let after = q.after.unwrap_or(0);
    Json(
        i.requests
            .all()
            .into_iter()
            .filter(|r| r.seq > after)
            .collect(),
    )
}

async fn clear_requests(State(i): State<Instruments>) -> StatusCode {
    i.requests.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockMove {
    /// A duration such as "90s" or "31m".
    advance: String,
}

async fn get_clock(State(clock): State<Clock>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "now": Clock::iso_millis(clock.now()) }))
}

async fn move_clock(State(clock): State<Clock>, Json(m): Json<ClockMove>) -> Response {
    match humantime::parse_duration(&m.advance) {
        Ok(by) => {
            clock.advance(by);
            Json(serde_json::json!({ "now": Clock::iso_millis(clock.now()) })).into_response()
        }
        Err(e) => control_error(
            StatusCode::BAD_REQUEST,
            &format!("`advance` is not a duration such as \"90s\": {e}"),
        ),
    }
}

/// The control API's own error shape: `{"error": "..."}`.
pub(crate) fn control_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
