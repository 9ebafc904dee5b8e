//! The Miro HTTP client itself: one call (`call`), the credit budget every call books against and
//! the pollers' share of it, paging, and how Miro's answers become an `ApiError`. The endpoints
//! are in the sibling files, each an `impl MiroClient` block over `call`.

use crate::clients::error::{ApiError, excerpt, transport};
use crate::clock::Clock;
use serde::Deserialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use url::Url;

/// Credits a call of each Miro rate-limit level costs.
pub(crate) const LEVEL_1: u64 = 50;
pub(crate) const LEVEL_2: u64 = 100;
pub(crate) const LEVEL_3: u64 = 500;
pub(crate) const LEVEL_4: u64 = 2_000;
/// Credits always left for other work: the budget waits for the next window below this.
const CREDIT_RESERVE: u64 = 500;
/// Items per page of the board listing (Miro's maximum).
pub(crate) const PAGE_LIMIT: u32 = 50;

tokio::task_local! {
    /// The credits booked by the task running inside [`MiroClient::metered`]: what one poller's
    /// round cost, apart from the rounds of every other board running at the same time.
    static METER: std::cell::Cell<u64>;
}

#[derive(Debug, Deserialize)]
struct CursorPage<T> {
    data: Vec<T>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OffsetPage<T> {
    data: Vec<T>,
    #[serde(default)]
    total: Option<usize>,
}

/// What a call is for: pollers may use only their share of the credits, so writes always have
/// room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Poll,
    Write,
}

impl Purpose {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Purpose::Poll => "poll",
            Purpose::Write => "write",
        }
    }
}

/// The credit window as the answers describe it (times in local Unix ms), and what boardsync
/// booked against it. Shared by every clone of a client.
#[derive(Debug, Default)]
struct Budget {
    /// `X-RateLimit-Limit`: credits per window.
    limit: Option<u64>,
    /// `X-RateLimit-Remaining` less what was booked since; `None` once the window has reset and
    /// no answer has told the new count yet.
    remaining: Option<u64>,
    /// When the window resets; 0 when not known.
    reset_at: i64,
    /// Credits pollers booked in this window.
    polled: u64,
}

impl Budget {
    /// Starts the next window once its reset has passed.
    fn roll(&mut self, now: i64) {
        if self.reset_at != 0 && now >= self.reset_at {
            self.remaining = None;
            self.polled = 0;
            self.reset_at = 0;
        }
    }

    /// Books `cost` for `purpose`, or says until when it must wait.
    fn book(&mut self, purpose: Purpose, cost: u64, poll_share: f64, now: i64) -> Result<(), i64> {
        self.roll(now);
        // With the window's end unknown, a wait is a second: by then an answer has told it.
        let until = if self.reset_at != 0 {
            self.reset_at
        } else {
            now + 1_000
        };
        if self.remaining.is_some_and(|r| r < cost + CREDIT_RESERVE) {
            return Err(until);
        }
        if purpose == Purpose::Poll
            && let Some(limit) = self.limit
            && (self.polled + cost) as f64 > limit as f64 * poll_share
        {
            return Err(until);
        }
        if let Some(r) = self.remaining.as_mut() {
            *r -= cost;
        }
        if purpose == Purpose::Poll {
            self.polled += cost;
        }
        Ok(())
    }
}

#[derive(Clone)]
pub struct MiroClient {
    http: reqwest::Client,
    base: Url,
    token: String,
    budget: Arc<Mutex<Budget>>,
    purpose: Purpose,
    /// The share of each window's credits that calls made for polls may use.
    poll_share: f64,
    /// `boardsync_miro_credits_used_total{purpose}`, when the engine counts.
    credits_used: Option<prometheus::IntCounterVec>,
    /// The daemon's clock: credit windows and rate-limit waits are reckoned on it.
    clock: Clock,
}

impl std::fmt::Debug for MiroClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiroClient")
            .field("base", &self.base.as_str())
            .finish()
    }
}

impl MiroClient {
    pub(crate) fn new(http: reqwest::Client, base: Url, token: &str, clock: Clock) -> MiroClient {
        MiroClient {
            http,
            base,
            token: token.to_owned(),
            clock,
            budget: Arc::default(),
            purpose: Purpose::Write,
            poll_share: 1.0,
            credits_used: None,
        }
    }

    /// This client with pollers limited to `share` of each window's credits, counting the
    /// credits it uses in `counter` (labelled by purpose).
    pub(crate) fn governed(mut self, share: f64, counter: prometheus::IntCounterVec) -> MiroClient {
        self.poll_share = share;
        self.credits_used = Some(counter);
        self
    }

    /// The same client (same credit budget) for a poller's calls: they wait when the pollers
    /// have used their share of the window.
    pub(crate) fn polling(&self) -> MiroClient {
        MiroClient {
            purpose: Purpose::Poll,
            ..self.clone()
        }
    }

    /// Miro's credits per window, once an answer has said it.
    pub(crate) fn credit_limit(&self) -> Option<u64> {
        self.budget.lock().expect("credits lock").limit
    }

    /// Runs `work` and answers with the credits its own calls booked. The budget is shared by
    /// every board's poller, so its totals cannot say what one round cost: with 200 boards
    /// scanning at once, the difference of the totals before and after a 100-credit round was
    /// 20,000. The meter is the task's own, so only calls made by `work` itself count (not those
    /// of tasks it spawns).
    pub(crate) async fn metered<T>(work: impl std::future::Future<Output = T>) -> (T, u64) {
        METER
            .scope(std::cell::Cell::new(0), async {
                let out = work.await;
                (out, METER.with(std::cell::Cell::get))
            })
            .await
    }

    /// The id of the user the token acts as: boardsync's own user, whose changes are its own.
    pub(crate) async fn own_user_id(&self) -> Result<String, ApiError> {
        let v = self
            .call(reqwest::Method::GET, "v1/oauth-token", &[], None, LEVEL_1)
            .await?;
        crate::domain::change::id_text(&v["user"]["id"])
            .ok_or_else(|| ApiError::Rejected("Miro's token information has no user id".into()))
    }

    /// Every element of a cursor-paged list (`{data, cursor, ...}`), `limit` at a time; the last
    /// page has no cursor, or an empty one.
    pub(super) async fn cursor_pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        limit: u32,
        cost: u64,
    ) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let page: CursorPage<T> = parse(
                self.call(reqwest::Method::GET, path, &query, None, cost)
                    .await?,
            )?;
            out.extend(page.data);
            match page.cursor {
                Some(c) if !c.is_empty() => cursor = Some(c),
                _ => return Ok(out),
            }
        }
    }

    /// Every element of an offset-paged list (`{data, total, offset, ...}`), 50 at a time.
    pub(super) async fn offset_pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        cost: u64,
    ) -> Result<Vec<T>, ApiError> {
        let mut out: Vec<T> = Vec::new();
        loop {
            let mut q = query.to_vec();
            q.push(("limit", PAGE_LIMIT.to_string()));
            q.push(("offset", out.len().to_string()));
            let page: OffsetPage<T> = parse(
                self.call(reqwest::Method::GET, path, &q, None, cost)
                    .await?,
            )?;
            let (got, total) = (page.data.len(), page.total);
            out.extend(page.data);
            // `total` says when to stop; a short or empty page stops too, so a list that shrinks
            // while it is read cannot loop.
            if got == 0 || got < PAGE_LIMIT as usize || total.is_some_and(|t| out.len() >= t) {
                return Ok(out);
            }
        }
    }

    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        cost: u64,
    ) -> Result<Value, ApiError> {
        self.wait_for_credits(cost).await;
        let url = self
            .base
            .join(path)
            .map_err(|e| ApiError::Rejected(format!("bad Miro URL {path}: {e}")))?;
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        self.note_credits(&headers);
        let text = response.text().await.map_err(transport)?;
        if status.is_success() {
            if text.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text)
                .map_err(|e| ApiError::Rejected(format!("Miro's answer did not parse: {e}")));
        }
        Err(classify(
            status.as_u16(),
            &headers,
            &text,
            self.clock.now_ms(),
        ))
    }

    /// Books `cost`, first waiting for the next credit window when the last answer left less
    /// than `cost` plus a reserve, or when this is a poller's call and the pollers have used their
    /// share of the window. Booking before the answer makes calls sent at once count against one
    /// budget; each answer's headers set the count to Miro's own again.
    async fn wait_for_credits(&self, cost: u64) {
        loop {
            let now = self.clock.now_ms();
            let booked = self.budget.lock().expect("credits lock").book(
                self.purpose,
                cost,
                self.poll_share,
                now,
            );
            match booked {
                Ok(()) => break,
                Err(until) => {
                    tracing::debug!(
                        wait_ms = until - now,
                        purpose = self.purpose.as_str(),
                        "Miro credits used up for now; waiting for the next window"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(
                        (until - now).max(1) as u64
                    ))
                    .await;
                }
            }
        }
        if let Some(counter) = &self.credits_used {
            counter
                .with_label_values(&[self.purpose.as_str()])
                .inc_by(cost);
        }
        let _ = METER.try_with(|spent| spent.set(spent.get() + cost));
    }

    fn note_credits(&self, headers: &reqwest::header::HeaderMap) {
        let number = |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.parse().ok() };
        if let (Some(remaining), Some(reset)) =
            (number("X-RateLimit-Remaining"), number("X-RateLimit-Reset"))
        {
            let mut budget = self.budget.lock().expect("credits lock");
            budget.remaining = Some(remaining.max(0) as u64);
            budget.reset_at = reset_at(headers, reset, self.clock.now_ms());
            if let Some(limit) = number("X-RateLimit-Limit") {
                budget.limit = Some(limit.max(0) as u64);
            }
        }
    }
}

/// `X-RateLimit-Reset` (epoch seconds on Miro's clock) as local Unix ms: its distance from the
/// answer's `Date` added to our clock (`now`), so a skewed clock on either side does not matter.
fn reset_at(headers: &reqwest::header::HeaderMap, reset_epoch_s: i64, now: i64) -> i64 {
    let their_now = http_date_ms(headers).unwrap_or(now);
    // Both are whole seconds (`Date` has no fraction): a second more is sure to be past the reset.
    now + (reset_epoch_s * 1000 - their_now + 1000).clamp(0, 121_000)
}

/// Unix milliseconds of an HTTP `Date` header, when there is a valid one.
fn http_date_ms(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let text = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    chrono::DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Miro's answer as a decision: 429 waits for the window, 5xx and 423 back off, 404 is gone,
/// every other 4xx is permanent. `now` is the daemon's clock, from which waits are reckoned.
pub(crate) fn classify(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &str,
    now: i64,
) -> ApiError {
    let message = || format!("Miro answered {status}: {}", excerpt(body));
    match status {
        429 => {
            let reset = headers
                .get("X-RateLimit-Reset")
                .and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
            let retry_at = match reset {
                Some(r) => reset_at(headers, r, now),
                None => now + 60_000,
            };
            ApiError::RateLimited {
                retry_at,
                reason: message(),
            }
        }
        404 => ApiError::NotFound(message()),
        408 | 423 | 500..=599 => ApiError::Transient(message()),
        _ => ApiError::Rejected(message()),
    }
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| {
        ApiError::Rejected(format!("Miro's answer is not what boardsync expects: {e}"))
    })
}

/// An id as a path segment, percent-encoded (board ids end in `=`).
pub(super) fn enc(segment: impl AsRef<str>) -> String {
    crate::domain::path_segment(segment.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn statuses_become_the_decision_the_dispatcher_makes() {
        let none = HeaderMap::new();
        let now = 1_800_000_000_000;
        assert!(matches!(
            classify(500, &none, "", now),
            ApiError::Transient(_)
        ));
        assert!(matches!(
            classify(423, &none, "", now),
            ApiError::Transient(_)
        ));
        assert!(matches!(
            classify(404, &none, "", now),
            ApiError::NotFound(_)
        ));
        assert!(matches!(
            classify(400, &none, "bad", now),
            ApiError::Rejected(_)
        ));
        // No reset header: a minute from the daemon's now.
        assert!(matches!(
            classify(429, &none, "", now),
            ApiError::RateLimited { retry_at, .. } if retry_at == now + 60_000
        ));
    }

    #[test]
    fn a_rate_limit_waits_as_long_as_the_reset_is_after_the_answers_date() {
        let mut headers = HeaderMap::new();
        // Miro's clock says 10:00:00 and the window resets at 10:00:30: wait 30 s from our now
        // (and a second more, for the whole seconds both are given in), whatever our own clock
        // says.
        headers.insert(
            "Date",
            HeaderValue::from_static("Mon, 30 Nov 2026 10:00:00 GMT"),
        );
        let date = chrono::DateTime::parse_from_rfc2822("Mon, 30 Nov 2026 10:00:00 GMT").unwrap();
        let reset = date.timestamp() + 30;
        headers.insert("X-RateLimit-Reset", HeaderValue::from(reset));
        // Our clock is hours away from Miro's: only the distance between reset and `Date` counts.
        let now = date.timestamp_millis() + 5 * 3_600_000;
        let ApiError::RateLimited { retry_at, .. } = classify(429, &headers, "", now) else {
            panic!("429 is a rate limit");
        };
        assert_eq!(retry_at - now, 31_000);
    }

    #[tokio::test]
    async fn a_meter_counts_only_the_credits_of_its_own_task() {
        let client = MiroClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9".parse().unwrap(),
            "t",
            Clock::default(),
        )
        .polling();
        let other = client.clone();
        let ((), mine) = MiroClient::metered(async {
            client.wait_for_credits(LEVEL_2).await;
            // Another board's poller books meanwhile, outside this meter.
            tokio::spawn(async move { other.wait_for_credits(LEVEL_4).await })
                .await
                .unwrap();
            client.wait_for_credits(LEVEL_1).await;
        })
        .await;
        assert_eq!(mine, LEVEL_2 + LEVEL_1);
    }

    #[test]
    fn path_segments_are_percent_encoded_not_form_encoded() {
        assert_eq!(enc("uXjVOD6LSME="), "uXjVOD6LSME%3D");
        assert_eq!(enc("a/b c+d=e"), "a%2Fb%20c%2Bd%3De");
        assert_eq!(enc("3458764612345678901"), "3458764612345678901");
        assert_eq!(enc("safe-._~"), "safe-._~");
    }

    #[test]
    fn pollers_stop_at_their_share_and_writes_go_on_until_the_reserve() {
        let mut b = Budget {
            limit: Some(10_000),
            remaining: Some(10_000),
            reset_at: 60_000,
            ..Budget::default()
        };
        for _ in 0..50 {
            b.book(Purpose::Poll, 100, 0.5, 0).unwrap();
        }
        assert_eq!(b.book(Purpose::Poll, 100, 0.5, 0), Err(60_000));
        for _ in 0..45 {
            b.book(Purpose::Write, 100, 0.5, 0).unwrap();
        }
        assert_eq!(b.book(Purpose::Write, 100, 0.5, 0), Err(60_000));
        assert_eq!((b.polled, b.remaining), (5_000, Some(500)));
        // The next window: both may go again, before any answer has told the new count.
        b.book(Purpose::Poll, 100, 0.5, 60_000).unwrap();
        assert_eq!((b.polled, b.remaining), (100, None));
    }
}
