//! The Miro REST API stand-in: the routes boardsync and its users touch, at the same paths, with
//! the same bodies, status codes, errors and rate-limit headers as the official OpenAPI spec.
//!
//! Every API route needs `Authorization: Bearer TOKEN` (see `users`), is charged credits by its
//! level (1: 50, 2: 100, 3: 500, 4: 2000) against a per-token budget per minute of the shared
//! clock, and goes through the fault layer and request log. The control routes under
//! `/_sandbox/` need no token.
//!
//! Seed (`miro` in the seed file):
//! ```json
//! {"boards": [{"id": "uXjVOfjiK8A=", "name": "Sprint planning", "owner": "alice",
//!              "tags": [{"title": "urgent", "fillColor": "red"}],
//!              "items": [{"type": "sticky_note", "data": {"content": "<p>Plan</p>"},
//!                         "style": {"fillColor": "light_green"}, "tags": ["urgent"]}]}]}
//! ```
//! `id` and `owner` are optional; items take the bodies the create endpoints take, plus `type`
//! and the titles of seeded tags.

// Errors here are ready HTTP answers handed straight back to axum; boxing them would buy nothing.
#![allow(clippy::result_large_err)]

mod control;
mod items;
mod model;
mod other;
mod webhooks;

use super::control::{Caller, Cost, Instrumented, instrument};
use super::users::User;
use super::{Instruments, SandboxOptions, Shared};
use axum::Router;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use model::State as MiroState;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub state: Arc<Mutex<MiroState>>,
    pub shared: Shared,
    pub instruments: Instruments,
    pub credits_per_minute: u64,
    /// Per token: the start of its current one-minute window (ms) and the credits used in it.
    budgets: Arc<Mutex<HashMap<String, (i64, u64)>>>,
    pub held: Arc<Mutex<Option<webhooks::Outgoing>>>,
}

pub(crate) fn router(shared: Shared, options: &SandboxOptions) -> anyhow::Result<Router> {
    let instruments = Instruments::default();
    let ctx = Ctx {
        state: Arc::default(),
        shared: shared.clone(),
        instruments: instruments.clone(),
        credits_per_minute: options.miro_credits,
        budgets: Arc::default(),
        held: Arc::default(),
    };
    if let Some(seed) = options.seed.as_ref().and_then(|s| s.miro.as_ref()) {
        control::apply_seed(&ctx, seed).map_err(|e| anyhow::anyhow!("miro seed: {e}"))?;
    }
    let api = Router::new()
        .route(
            "/v2/boards",
            get(other::list_boards).post(other::create_board),
        )
        .route("/v2/boards/{board}", get(other::get_board))
        .route("/v1/oauth-token", get(other::token_info))
        .route("/v2/boards/{board}/items", get(items::list))
        .route(
            "/v2/boards/{board}/items/{item}",
            get(items::get_generic)
                .patch(items::patch_generic)
                .delete(items::delete_generic)
                .post(other::attach_tag),
        )
        .route(
            "/v2/boards/{board}/items/{item}/tags",
            get(other::item_tags),
        )
        .route(
            "/v2/boards/{board}/tags",
            get(other::list_tags).post(other::create_tag),
        )
        .route(
            "/v2/boards/{board}/tags/{tag}",
            get(other::get_tag)
                .patch(other::update_tag)
                .delete(other::delete_tag),
        )
        .route(
            "/v2/boards/{board}/connectors",
            get(other::list_connectors).post(other::create_connector),
        )
        .route(
            "/v2/boards/{board}/connectors/{connector}",
            get(other::get_connector)
                .patch(other::update_connector)
                .delete(other::delete_connector),
        )
        .route("/v2/boards/{board}/{collection}", post(items::create))
        .route(
            "/v2/boards/{board}/{collection}/{item}",
            get(items::get_typed)
                .patch(items::patch_typed)
                .delete(items::delete_typed),
        )
        .route(
            "/v2/orgs/{org}/content-logs/items",
            get(other::content_logs),
        )
        .route(
            "/v2-experimental/webhooks/board_subscriptions",
            post(webhooks::create),
        )
        .route(
            "/v2-experimental/webhooks/board_subscriptions/{id}",
            patch(webhooks::update),
        )
        .route(
            "/v2-experimental/webhooks/subscriptions",
            get(webhooks::list),
        )
        .route(
            "/v2-experimental/webhooks/subscriptions/{id}",
            get(webhooks::get).delete(webhooks::delete),
        )
        .route_layer(middleware::from_fn_with_state(ctx.clone(), authorize))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "notFound", "No such route") })
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

/// Miro's error body.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({ "type": "error", "status": status.as_u16(), "code": code, "message": message }),
        ),
    )
        .into_response()
}

fn fault_error(status: StatusCode) -> Response {
    match status.as_u16() {
        429 => error(status, "tooManyRequests", "Rate limit exceeded"),
        502 => error(status, "badGateway", "Bad gateway"),
        504 => error(status, "gatewayTimeout", "Gateway timeout"),
        _ => error(status, "internalError", "Something went wrong"),
    }
}

pub(crate) fn not_found(what: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "notFound",
        &format!("{what} not found"),
    )
}

pub(crate) fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "invalidParameters", message)
}

/// A JSON body whose rejection is answered in Miro's error shape, not axum's plain text.
pub(crate) struct Body(pub Value);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| invalid("Request body could not be read"))?;
        if bytes.is_empty() {
            return Ok(Body(json!({})));
        }
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "badRequest",
                &format!("Invalid JSON: {e}"),
            )
        })
    }
}

/// Credits per call, by the level the spec gives each operation.
fn credits(method: &Method, route: &str, query: &str) -> u64 {
    let has_tag = query.contains("tag_id=");
    let level = match (method.as_str(), route) {
        ("GET", "/v2/orgs/{org}/content-logs/items")
        | ("GET", "/v2-experimental/webhooks/subscriptions") => 4,
        ("POST", "/v2/boards") => 3,
        ("DELETE", "/v2/boards/{board}/items/{item}") if has_tag => 1,
        ("POST", "/v2/boards/{board}/items/{item}") => 1,
        ("GET", "/v2/boards/{board}/items") if has_tag => 1,
        (_, r) if r.contains("/tags") => 1,
        ("DELETE", r) if !r.starts_with("/v2-experimental") => 3,
        ("POST" | "PATCH", _) => 2,
        ("GET", "/v2/boards/{board}/items" | "/v2/boards/{board}/connectors") => 2,
        ("GET", "/v2-experimental/webhooks/subscriptions/{id}") | ("DELETE", _) => 2,
        _ => 1,
    };
    [0, 50, 100, 500, 2000][level]
}

/// Resolves the token, charges the call's credits, and adds the rate-limit headers.
async fn authorize(State(ctx): State<Ctx>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(user) = token.and_then(|t| ctx.shared.users.resolve(t)) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Invalid or missing access token",
        );
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let cost = credits(req.method(), &route, req.uri().query().unwrap_or(""));
    let now = ctx.shared.clock.now_ms();
    let (window_start, remaining, allowed) = {
        let mut budgets = ctx.budgets.lock().expect("budgets lock");
        let entry = budgets.entry(user.name.clone()).or_insert((now, 0));
        if now - entry.0 >= 60_000 {
            *entry = (now, 0);
        }
        let allowed = entry.1 + cost <= ctx.credits_per_minute;
        if allowed {
            entry.1 += cost;
        }
        (
            entry.0,
            ctx.credits_per_minute.saturating_sub(entry.1),
            allowed,
        )
    };
    let caller = Caller(user.name.clone());
    req.extensions_mut().insert::<User>(user);
    let mut response = if allowed {
        next.run(req).await
    } else {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "tooManyRequests",
            "Rate limit exceeded. Retry after the reset time.",
        )
    };
    let headers = response.headers_mut();
    headers.insert(
        "X-RateLimit-Limit",
        HeaderValue::from(ctx.credits_per_minute),
    );
    headers.insert("X-RateLimit-Remaining", HeaderValue::from(remaining));
    headers.insert(
        "X-RateLimit-Reset",
        // Whole seconds, rounded up: the window is over by then.
        HeaderValue::from((window_start + 60_000 + 999) / 1000),
    );
    response.extensions_mut().insert(caller);
    response
        .extensions_mut()
        .insert(Cost(if allowed { cost } else { 0 }));
    response
}
