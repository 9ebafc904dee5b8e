//! The monday GraphQL API stand-in, at `POST /v2`, with the same names and types as monday's
//! published schema (a subset), monday's transport rules and its limits:
//!
//! - `Authorization` carries the raw token (a `Bearer ` prefix is tolerated); `API-Version` takes
//!   any well-formed `yyyy-mm` version and is echoed in `api-version`;
//! - application errors answer HTTP 200 with `errors[].extensions.code`; limits answer 429 with
//!   `retry_in_seconds` and `Retry-After`;
//! - a complexity budget per token per minute (each query is charged an estimate: 10 per field,
//!   multiplied by the page sizes of list fields, and 10,000 more for a mutation) and an optional
//!   daily call cap per token, both on the shared clock;
//! - `Idempotency-Key` on mutations: the answer is replayed for 30 minutes with
//!   `Idempotency-Replayed: true`; a copy arriving while the first runs gets 409
//!   `IDEMPOTENCY_CONFLICT`.
//!
//! Seed (`monday` in the seed file):
//! ```json
//! {"boards": [{"id": 1771812698, "name": "Sprint planning",
//!              "groups": [{"id": "topics", "title": "To do"}],
//!              "columns": [{"id": "status", "title": "Status", "type": "status"}],
//!              "items": [{"name": "Write docs", "group": "topics", "values": {"status": {"label": "Done"}}}]}]}
//! ```
//! A board always has the `name` column; `values` take the write formats of `column_values`.

mod control;
mod model;
mod ops;
mod pages;
mod schema;
mod webhooks;

use super::control::{Caller, Cost, Instrumented, instrument};
use super::users::User;
use super::{Instruments, SandboxOptions, Shared};
use async_graphql::{EmptySubscription, ErrorExtensions, Schema};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How long an idempotent mutation's answer is kept, in milliseconds.
const IDEMPOTENCY_TTL_MS: i64 = 30 * 60 * 1000;

type MondaySchema = Schema<schema::Query, ops::Mutation, EmptySubscription>;

/// What resolvers and the transport share.
#[derive(Clone)]
pub(crate) struct MondayCtx {
    pub state: Arc<Mutex<model::State>>,
    pub shared: Shared,
    pub instruments: Instruments,
    pub cursors: Arc<Mutex<HashMap<String, pages::Cursor>>>,
    pub deliveries: Arc<Mutex<Vec<webhooks::Delivery>>>,
    complexity_per_minute: u64,
    daily_cap: Option<u64>,
    budgets: Arc<Mutex<HashMap<String, Budget>>>,
    /// Idempotency key → the answer, or `None` while the first request with it is running.
    idempotent: Arc<Mutex<HashMap<String, Option<Replay>>>>,
    schema: Arc<MondaySchema>,
}

/// One token's use of its limits.
struct Budget {
    /// Start of the current one-minute complexity window (ms), and points used in it.
    minute_start: i64,
    points: u64,
    /// The UTC day (days since the epoch), and calls made in it.
    day: i64,
    calls: u64,
}

/// A mutation's answer kept for `Idempotency-Key` replays.
struct Replay {
    at: i64,
    status: u16,
    body: Vec<u8>,
}

/// The caller of one request, and what it is charged, for resolvers.
pub(crate) struct Call {
    pub user: User,
    pub cost: u64,
    pub budget_before: i64,
    pub reset_in: i64,
}

pub(crate) fn app_error(code: &str, message: &str) -> async_graphql::Error {
    let code = code.to_owned();
    async_graphql::Error::new(message).extend_with(move |_, e| e.set("code", code.clone()))
}

fn error_body(status: StatusCode, code: &str, message: &str, retry_in: Option<i64>) -> Response {
    let mut ext = json!({ "code": code, "status_code": status.as_u16() });
    if let Some(r) = retry_in {
        ext["retry_in_seconds"] = json!(r);
    }
    let mut response = (
        status,
        axum::Json(json!({ "errors": [{ "message": message, "extensions": ext }] })),
    )
        .into_response();
    if let Some(r) = retry_in {
        response
            .headers_mut()
            .insert("Retry-After", HeaderValue::from(r));
    }
    response
}

fn fault_error(status: StatusCode) -> Response {
    match status.as_u16() {
        429 => error_body(
            status,
            "RATE_LIMIT_EXCEEDED",
            "Rate Limit Exceeded",
            Some(10),
        ),
        502 => error_body(status, "BAD_GATEWAY", "Bad Gateway", None),
        504 => error_body(status, "GATEWAY_TIMEOUT", "Gateway Timeout", None),
        _ => error_body(
            status,
            "INTERNAL_SERVER_ERROR",
            "Internal Server Error",
            None,
        ),
    }
}

pub(crate) fn router(shared: Shared, options: &SandboxOptions) -> anyhow::Result<Router> {
    let instruments = Instruments::default();
    let schema = Schema::build(schema::Query, ops::Mutation, EmptySubscription)
        .register_output_type::<schema::ColumnValue>()
        .finish();
    let ctx = MondayCtx {
        state: Arc::default(),
        shared: shared.clone(),
        instruments: instruments.clone(),
        cursors: Arc::default(),
        deliveries: Arc::default(),
        complexity_per_minute: options.monday_complexity,
        daily_cap: options.monday_daily_cap,
        budgets: Arc::default(),
        idempotent: Arc::default(),
        schema: Arc::new(schema),
    };
    if let Some(seed) = options.seed.as_ref().and_then(|s| s.monday.as_ref()) {
        control::apply_seed(&ctx, seed).map_err(|e| anyhow::anyhow!("monday seed: {e}"))?;
    }
    shared
        .tasks
        .spawn(webhooks::run(ctx.clone(), options.webhook_retry_interval));
    let api = Router::new()
        .route("/v2", post(graphql))
        .layer(middleware::from_fn_with_state(
            Instrumented {
                instruments: instruments.clone(),
                clock: shared.clock.clone(),
                error: fault_error,
            },
            instrument,
        ))
        .with_state(ctx.clone());
    Ok(api
        .merge(control::routes(ctx))
        .merge(super::control::routes(&shared, &instruments)))
}

/// An estimate of a query's complexity, made before it runs so that an over-budget call changes
/// nothing: 10 per selected field, list fields multiplied by their `limit`, 10,000 per mutation.
fn estimate(query: &str) -> u64 {
    let mutation = query.trim_start().starts_with("mutation");
    let fields = query
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .count() as u64;
    let limit = query
        .split("limit:")
        .skip(1)
        .filter_map(|rest| {
            rest.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(1);
    10 * fields * limit.clamp(1, 500) + if mutation { 10_000 } else { 0 }
}

/// The IETF `RateLimit-Policy` and `RateLimit` headers monday puts on every answer, for the
/// complexity budget (the only per-minute limit the sandbox keeps): its size, and what is left of
/// the caller's window and when it resets.
fn limit_headers(ctx: &MondayCtx, user: &str) -> (String, String) {
    let quota = ctx.complexity_per_minute;
    let now = ctx.shared.clock.now_ms();
    let budgets = ctx.budgets.lock().expect("budgets");
    let (left, reset_in) = match budgets.get(user) {
        Some(b) if now - b.minute_start < 60_000 => (
            quota.saturating_sub(b.points),
            (b.minute_start + 60_000 - now + 999) / 1000,
        ),
        _ => (quota, 60),
    };
    (
        format!("\"complexityMinute\";q={quota};w=60;qu=\"complexity-points\""),
        format!("\"complexityMinute\";r={left};t={reset_in}"),
    )
}

fn valid_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && matches!(&v[5..], "01" | "04" | "07" | "10")
}

async fn graphql(State(ctx): State<MondayCtx>, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.trim_start_matches("Bearer ").trim());
    let Some(user) = token.and_then(|t| ctx.shared.users.resolve(t)) else {
        return error_body(
            StatusCode::UNAUTHORIZED,
            "NOT_AUTHENTICATED",
            "Not Authenticated",
            None,
        );
    };
    let version = headers
        .get("api-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("2026-10")
        .to_owned();
    let mut response = answer(&ctx, &headers, &body, user.clone(), &version).await;
    let (policy, left) = limit_headers(&ctx, &user.name);
    for (name, value) in [("RateLimit-Policy", policy), ("RateLimit", left)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response.extensions_mut().insert(Caller(user.name));
    if let Ok(v) = HeaderValue::from_str(&version) {
        response.headers_mut().insert("api-version", v);
    }
    response
}

async fn answer(
    ctx: &MondayCtx,
    headers: &HeaderMap,
    body: &[u8],
    user: User,
    version: &str,
) -> Response {
    if !valid_version(version) {
        return error_body(
            StatusCode::OK,
            "InvalidVersionException",
            &format!("Invalid API version: {version}"),
            None,
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return error_body(
            StatusCode::BAD_REQUEST,
            "JsonParseException",
            "Unexpected token in JSON",
            None,
        );
    };
    let Some(query) = req["query"].as_str().map(str::to_owned) else {
        return error_body(
            StatusCode::OK,
            "InvalidArgumentException",
            "No query string was present",
            None,
        );
    };
    let mutation = query.trim_start().starts_with("mutation");
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|_| mutation)
        .map(|k| format!("{}:{k}", user.name));
    if let Some(key) = &key {
        let now = ctx.shared.clock.now_ms();
        let mut cache = ctx.idempotent.lock().expect("idempotency");
        cache.retain(|_, v| v.as_ref().is_none_or(|r| now - r.at < IDEMPOTENCY_TTL_MS));
        match cache.get(key) {
            Some(None) => {
                return error_body(
                    StatusCode::CONFLICT,
                    "IDEMPOTENCY_CONFLICT",
                    "A request with this Idempotency-Key is in progress",
                    Some(1),
                );
            }
            Some(Some(replay)) => {
                let mut r = (
                    StatusCode::from_u16(replay.status).unwrap_or(StatusCode::OK),
                    [("content-type", "application/json")],
                    replay.body.clone(),
                )
                    .into_response();
                r.headers_mut()
                    .insert("Idempotency-Replayed", HeaderValue::from_static("true"));
                return r;
            }
            None => {
                cache.insert(key.clone(), None);
            }
        }
    }
    let response = run(ctx, &query, &req, user).await;
    if let Some(key) = key {
        let mut cache = ctx.idempotent.lock().expect("idempotency");
        match &response {
            Ok((body, _)) => {
                let at = ctx.shared.clock.now_ms();
                cache.insert(
                    key,
                    Some(Replay {
                        at,
                        status: 200,
                        body: body.clone(),
                    }),
                );
            }
            // A refused call ran nothing: the key stays free for the retry.
            Err(_) => {
                cache.remove(&key);
            }
        }
    }
    match response {
        Ok((body, cost)) => {
            let mut r =
                (StatusCode::OK, [("content-type", "application/json")], body).into_response();
            r.extensions_mut().insert(Cost(cost));
            r
        }
        Err(refused) => refused,
    }
}

/// Charges the budgets and runs the query: its body and cost, or the 429 that refused it.
async fn run(
    ctx: &MondayCtx,
    query: &str,
    req: &Value,
    user: User,
) -> Result<(Vec<u8>, u64), Response> {
    let cost = estimate(query);
    let now = ctx.shared.clock.now();
    let now_ms = now.timestamp_millis();
    let day = now.timestamp().div_euclid(86_400);
    let limited = {
        let mut budgets = ctx.budgets.lock().expect("budgets");
        let b = budgets.entry(user.name.clone()).or_insert(Budget {
            minute_start: now_ms,
            points: 0,
            day,
            calls: 0,
        });
        if now_ms - b.minute_start >= 60_000 {
            (b.minute_start, b.points) = (now_ms, 0);
        }
        if b.day != day {
            (b.day, b.calls) = (day, 0);
        }
        let reset_in = (b.minute_start + 60_000 - now_ms + 999) / 1000;
        if ctx.daily_cap.is_some_and(|cap| b.calls >= cap) {
            Err((
                (day + 1) * 86_400 - now.timestamp(),
                "DAILY_LIMIT_EXCEEDED",
                "Daily limit exceeded",
            ))
        } else if b.points + cost > ctx.complexity_per_minute {
            // A refused call still counts toward the day, as monday counts it.
            b.calls += 1;
            Err((
                reset_in,
                "COMPLEXITY_BUDGET_EXHAUSTED",
                "Complexity budget exhausted",
            ))
        } else {
            let before = (ctx.complexity_per_minute - b.points) as i64;
            b.points += cost;
            b.calls += 1;
            Ok((before, reset_in))
        }
    };
    let (budget_before, reset_in) = match limited {
        Ok(v) => v,
        Err((retry, code, message)) => {
            return Err(error_body(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                message,
                Some(retry),
            ));
        }
    };
    let mut request = async_graphql::Request::new(query)
        .data(ctx.clone())
        .data(Call {
            user,
            cost,
            budget_before,
            reset_in,
        });
    if let Ok(vars) = serde_json::from_value::<async_graphql::Variables>(req["variables"].clone()) {
        request = request.variables(vars);
    }
    if let Some(op) = req["operationName"].as_str() {
        request = request.operation_name(op);
    }
    let answer = ctx.schema.execute(request).await;
    let mut body = serde_json::to_value(&answer).unwrap_or_else(|_| json!({}));
    if let Some(o) = body.as_object_mut() {
        if o.get("errors")
            .is_some_and(|e| e.as_array().is_some_and(|a| a.is_empty()))
        {
            o.remove("errors");
        }
        o.insert("account_id".into(), json!(0));
        o.insert(
            "extensions".into(),
            json!({ "request_id": uuid::Uuid::new_v4().to_string() }),
        );
    }
    Ok((serde_json::to_vec(&body).unwrap_or_default(), cost))
}
