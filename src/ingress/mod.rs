//! The webhook receivers, the daemon's front door: `POST /webhooks/miro`, `POST /webhooks/monday`
//! and `POST /webhooks/monday/{secret}`.
//!
//! Each request is limited in size, answered at once if it is a challenge, authenticated over
//! its raw bytes, parsed into normalised changes, deduplicated, and stored in the durable inbox;
//! only then is it answered 200. A crash after the answer therefore loses nothing, and a copy
//! of a delivery takes effect once. Receivers only authenticate, parse and persist: what a change
//! means for the other board is decided by the processor.

pub mod dedupe;
mod event;
mod miro;
mod monday;
pub mod writer;

use crate::clock::Clock;
use crate::config::Config;

use crate::metrics::Metrics;
use crate::store::{InboxInsert, NewInboxEntry};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use dedupe::{Claim, RedisDedupe};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;
use writer::InboxWriter;

pub(crate) use event::{Event, Rejection};

/// Parses a Miro webhook body into events (no signature check): for fuzzing and tests.
pub fn parse_miro(body: &[u8]) -> Result<Vec<Event>, Rejection> {
    miro::parse(body)
}

/// Parses a monday webhook body into events (no authentication): for fuzzing and tests.
pub fn parse_monday(body: &[u8]) -> Result<Vec<Event>, Rejection> {
    monday::parse(body)
}

/// What became of a request; also the `outcome` label of `boardsync_webhooks_received_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Duplicate,
    Ignored,
    Stale,
    Unauthorized,
    Malformed,
    TooLarge,
    /// The body did not arrive within `[daemon] body_read_timeout`.
    TimedOut,
    Unavailable,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Stale => "stale",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Malformed => "malformed",
            Outcome::TooLarge => "too_large",
            Outcome::TimedOut => "timed_out",
            Outcome::Unavailable => "unavailable",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Outcome::Accepted | Outcome::Duplicate | Outcome::Ignored | Outcome::Stale => {
                StatusCode::OK
            }
            Outcome::Unauthorized => StatusCode::UNAUTHORIZED,
            Outcome::Malformed => StatusCode::BAD_REQUEST,
            Outcome::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::TimedOut => StatusCode::REQUEST_TIMEOUT,
            Outcome::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// What the receivers share.
#[derive(Clone)]
pub(crate) struct Ingress {
    config: Arc<Config>,
    writer: InboxWriter,
    redis: Option<RedisDedupe>,
    metrics: Metrics,
    clock: Clock,
}

impl Ingress {
    pub(crate) fn new(
        config: Arc<Config>,
        writer: InboxWriter,
        redis: Option<RedisDedupe>,
        metrics: Metrics,
        clock: Clock,
    ) -> Ingress {
        Ingress {
            config,
            writer,
            redis,
            metrics,
            clock,
        }
    }

    pub(crate) fn routes(self) -> Router {
        Router::new()
            .route("/webhooks/miro", post(receive_miro))
            .route("/webhooks/monday", post(receive_monday))
            .route("/webhooks/monday/{secret}", post(receive_monday_secret))
            .with_state(self)
    }

    /// The exact URL monday was given for a receiver path (the JWT's audience).
    fn public_url(&self, path: &str) -> Option<String> {
        let base = self.config.daemon.public_url.as_ref()?;
        Some(format!("{}{path}", base.as_str().trim_end_matches('/')))
    }
}

#[derive(Clone, Copy)]
enum Source {
    Miro,
    Monday,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Miro => "miro",
            Source::Monday => "monday",
        }
    }
}

async fn receive_miro(State(ing): State<Ingress>, headers: HeaderMap, body: Body) -> Response {
    let secret = ing
        .config
        .miro
        .client_secret
        .as_ref()
        .map(|s| s.expose().to_owned());
    handle(ing, Source::Miro, body, move |bytes| {
        miro::verify(&headers, bytes, secret.as_deref())
    })
    .await
}

async fn receive_monday(State(ing): State<Ingress>, headers: HeaderMap, body: Body) -> Response {
    let secret = ing
        .config
        .monday
        .signing_secret
        .as_ref()
        .map(|s| s.expose().to_owned());
    let audience = ing.public_url("/webhooks/monday");
    handle(ing, Source::Monday, body, move |_| {
        monday::verify_jwt(&headers, secret.as_deref(), audience.as_deref())
    })
    .await
}

async fn receive_monday_secret(
    State(ing): State<Ingress>,
    Path(given): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let configured = ing
        .config
        .monday
        .webhook_secret
        .as_ref()
        .map(|s| s.expose().to_owned());
    let secret = ing
        .config
        .monday
        .signing_secret
        .as_ref()
        .map(|s| s.expose().to_owned());
    let audience = ing.public_url(&format!("/webhooks/monday/{given}"));
    handle(ing, Source::Monday, body, move |_| {
        // Either proof will do: the path secret (personal-token webhooks carry no JWT), or a JWT
        // issued for this exact URL.
        monday::verify_path_secret(&given, configured.as_deref())
            .or_else(|_| monday::verify_jwt(&headers, secret.as_deref(), audience.as_deref()))
    })
    .await
}

/// The flow every receiver shares, timed and counted.
async fn handle(
    ing: Ingress,
    source: Source,
    body: Body,
    verify: impl FnOnce(&[u8]) -> Result<(), Rejection>,
) -> Response {
    let started = Instant::now();
    let span = tracing::info_span!(
        "webhook",
        source = source.as_str(),
        delivery = tracing::field::Empty,
        outcome = tracing::field::Empty
    );
    let (outcome, why, response) = async {
        let limit = usize::try_from(ing.config.ingress.body_limit.0).unwrap_or(usize::MAX);
        let deadline = ing.config.daemon.body_read_timeout.0;
        let bytes = match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) if is_too_large(&e) => {
                let why = "body too large";
                return (
                    Some(Outcome::TooLarge),
                    Some(why),
                    plain(Outcome::TooLarge, why),
                );
            }
            Ok(Err(_)) => {
                // The client went away mid-body: nobody is left to read an answer.
                let why = "the body was cut short";
                return (
                    Some(Outcome::Malformed),
                    Some(why),
                    plain(Outcome::Malformed, why),
                );
            }
            Err(_) => {
                let why = "the body did not arrive within [daemon] body_read_timeout";
                tracing::warn!(timeout = ?deadline, "body read timed out");
                return (
                    Some(Outcome::TimedOut),
                    Some(why),
                    plain(Outcome::TimedOut, why),
                );
            }
        };
        if let Some(echo) = challenge(&bytes) {
            return (None, None, echo);
        }
        if let Err(Rejection::Unauthorized(why)) = verify(&bytes) {
            tracing::warn!(reason = why, "refused");
            return (
                Some(Outcome::Unauthorized),
                Some(why),
                plain(Outcome::Unauthorized, why),
            );
        }
        let events = match source {
            Source::Miro => miro::parse(&bytes),
            Source::Monday => monday::parse(&bytes),
        };
        let events = match events {
            Ok(e) => e,
            Err(Rejection::Malformed(why) | Rejection::Unauthorized(why)) => {
                tracing::warn!(reason = why, bytes = bytes.len(), "malformed");
                return (
                    Some(Outcome::Malformed),
                    Some(why),
                    plain(Outcome::Malformed, why),
                );
            }
        };
        let mut outcome = Outcome::Accepted;
        let mut why = None;
        for event in events {
            tracing::Span::current().record("delivery", event.key());
            let pair = pair_of(&ing.config, source, event.board());
            let this = match store(&ing, source, &bytes, event).await {
                Ok(stored) => stored,
                Err(unstored) => {
                    why = Some(unstored.0);
                    Outcome::Unavailable
                }
            };
            ing.metrics.receivers.event(pair.as_deref(), this.as_str());
            // The request's outcome is its worst event's.
            if this == Outcome::Unavailable || outcome == Outcome::Accepted {
                outcome = this;
            }
        }
        (
            Some(outcome),
            why,
            plain(outcome, why.unwrap_or(outcome.as_str())),
        )
    }
    .instrument(span.clone())
    .await;
    if let Some(outcome) = outcome {
        span.record("outcome", outcome.as_str());
        ing.metrics
            .webhooks_received
            .with_label_values(&[source.as_str(), outcome.as_str()])
            .inc();
        ing.metrics
            .webhook_ack_seconds
            .with_label_values(&[source.as_str()])
            .observe(started.elapsed().as_secs_f64());
        ing.metrics.receivers.request(
            source.as_str(),
            outcome.status().is_success(),
            why,
            ing.clock.now_ms(),
        );
        span.in_scope(|| tracing::debug!(outcome = outcome.as_str(), "answered"));
    }
    response
}

/// How soon a sender is asked to try again after a 503.
const RETRY_AFTER_SECONDS: &str = "5";

fn plain(outcome: Outcome, message: &str) -> Response {
    let mut response = (outcome.status(), format!("{message}\n")).into_response();
    if outcome == Outcome::Unavailable {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// Whether reading a body failed because it passed the limit (the `Limited` body's error, boxed
/// inside axum's), rather than because the client went away.
fn is_too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Why an event was not stored (its request is answered 503).
struct Unstored(&'static str);

/// The longest challenge echoed: monday's and Miro's are a few dozen characters, and an unsigned
/// request must not have the daemon send back whatever it was given.
const MAX_CHALLENGE: usize = 256;

/// `{"challenge": "..."}` is echoed before any authentication: both services send it unsigned
/// when a subscription is made. A longer one is no challenge (and is refused unsigned).
fn challenge(bytes: &Bytes) -> Option<Response> {
    if bytes.len() > MAX_CHALLENGE + 32 {
        return None;
    }
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let obj = v.as_object()?;
    (obj.len() == 1 && obj.get("challenge")?.is_string())
        .then(|| (StatusCode::OK, axum::Json(v.clone())).into_response())
}

/// Dedupes and stores one event; answers only once it is committed, or says why it was not.
async fn store(
    ing: &Ingress,
    source: Source,
    body: &Bytes,
    event: Event,
) -> Result<Outcome, Unstored> {
    let now = ing.clock.now_ms();
    let ttl_ms = i64::try_from(ing.config.ingress.dedupe_ttl.0.as_millis()).unwrap_or(i64::MAX);
    let source_ts = event.at();
    let stale = source_ts.is_some_and(|ts| now - ts > ttl_ms);
    let (item, kind, change, known) = match &event {
        Event::Change { change, .. } => (
            Some(change.item.item().to_owned()),
            change.kind.as_str().to_owned(),
            serde_json::to_string(change).expect("a change serialises"),
            stale.then_some(Outcome::Stale),
        ),
        Event::Ignored { reason, .. } => (
            None,
            "ignored".to_owned(),
            serde_json::json!({ "ignored": reason }).to_string(),
            Some(if stale {
                Outcome::Stale
            } else {
                Outcome::Ignored
            }),
        ),
    };
    let board = event.board().to_owned();
    let entry = NewInboxEntry {
        dedupe_key: event.key().to_owned(),
        source: source.as_str().to_owned(),
        pair: pair_of(&ing.config, source, &board),
        board_id: board,
        item_id: item,
        kind,
        change,
        raw_body: Some(body.to_vec()),
        source_ts,
        received_at: now,
        outcome: known.map(|o| o.as_str().to_owned()),
    };
    // Redis, when it answers, keeps a repeat away from the store; the store's key decides
    // whenever Redis cannot.
    let claimed = match &ing.redis {
        Some(redis) if !redis.away() => match redis.claim(event.key()).await {
            Ok(Claim::Mine(token)) => Some(token),
            Ok(Claim::Done) => return Ok(Outcome::Duplicate),
            Ok(Claim::Unknown) => {
                ing.metrics
                    .redis_bypassed
                    .with_label_values(&["pending"])
                    .inc();
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "Redis is not answering; the store decides duplicates");
                ing.metrics
                    .redis_bypassed
                    .with_label_values(&["unanswered"])
                    .inc();
                None
            }
        },
        Some(_) => {
            ing.metrics
                .redis_bypassed
                .with_label_values(&["away"])
                .inc();
            None
        }
        None => None,
    };
    let deadline = ing.config.daemon.store_timeout.0;
    let result = match tokio::time::timeout(
        deadline,
        ing.writer.insert(entry, now.saturating_add(ttl_ms)),
    )
    .await
    {
        Ok(inserted) => inserted.map_err(|e| {
            tracing::warn!(error = %e, "the store is not answering");
            Unstored("the store is not answering")
        }),
        Err(_) => {
            // The event may still be committed later: the sender's retry is then a duplicate.
            tracing::warn!(?deadline, "the store did not commit the event in time");
            Err(Unstored("the store did not answer in time"))
        }
    };
    if let Some(redis) = &ing.redis
        && let Some(token) = claimed
    {
        match &result {
            Ok(_) => {
                if let Err(e) = redis.done(event.key()).await {
                    // Stored all the same; the store's own key still catches a repeat.
                    tracing::warn!(error = %e, "could not mark the event done in Redis");
                }
            }
            Err(_) => redis.release(event.key(), &token).await,
        }
    }
    match result? {
        InboxInsert::Stored(_) => Ok(known.unwrap_or(Outcome::Accepted)),
        InboxInsert::Duplicate => Ok(Outcome::Duplicate),
    }
}

/// The pair a board belongs to, when exactly one pair has it on that side.
fn pair_of(config: &Config, source: Source, board: &str) -> Option<String> {
    let mut pairs = config.pairs.iter().filter(|p| match source {
        Source::Miro => p.miro_board.as_str() == board,
        Source::Monday => p.monday_board.as_str() == board,
    });
    let first = pairs.next()?;
    pairs.next().is_none().then(|| first.slug.clone())
}
