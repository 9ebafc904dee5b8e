//! The daemon's metrics, served at `GET /metrics` in the Prometheus text format. Each `App` has a
//! registry of its own (no process-wide state), so tests can run several daemons in one process
//! and read each one's counts. On Linux the registry also carries the standard `process_*`
//! metrics (CPU, memory, open files), which describe the whole process whichever daemon serves them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `boardsync_webhooks_received_total{source,outcome}`
    pub webhooks_received: IntCounterVec,
    /// `boardsync_webhook_ack_seconds{source}`: from the request's arrival to its answer.
    pub webhook_ack_seconds: HistogramVec,
    /// `boardsync_changes_total{pair,origin,outcome}`: processed changes.
    pub changes: IntCounterVec,
    /// `boardsync_api_calls_total{api,outcome}`: calls to Miro and monday.
    pub api_calls: IntCounterVec,
    /// `boardsync_store_errors_total{part}`: writes to the APIs interrupted by the store failing.
    pub store_errors: IntCounterVec,
    /// `boardsync_redis_bypassed_total{reason}`: deliveries whose duplicates the store decided
    /// alone: Redis did not answer (`unanswered`), was left aside after that (`away`), or held
    /// another copy's claim too long (`pending`).
    pub redis_bypassed: IntCounterVec,
    /// `boardsync_outbox_depth{pair}`: writes waiting (pending or in flight).
    pub outbox_depth: IntGaugeVec,
    /// `boardsync_sync_lag_seconds{pair,origin}`: from a change at its source to its write applied.
    pub sync_lag_seconds: HistogramVec,
    /// `boardsync_polls_total{pair,poller,outcome}`: polls of a board (`ok` or `error`).
    pub polls: IntCounterVec,
    /// `boardsync_poll_interval_seconds{pair}`: the time between a pair's Miro scans.
    pub poll_interval_seconds: prometheus::GaugeVec,
    /// `boardsync_poll_ignored{pair,poller}`: what the last tag or connector poll left out.
    pub poll_ignored: IntGaugeVec,
    pub miro_credits_used: IntCounterVec,
    /// `boardsync_monday_calls_waiting`: monday calls held until monday's next minute.
    pub monday_calls_waiting: prometheus::IntGauge,
    /// `boardsync_worker_restarts_total{worker}`: background tasks restarted after they failed.
    pub worker_restarts: IntCounterVec,
    /// `boardsync_http_connections`: connections open now, within `[daemon] max_connections`.
    pub http_connections: prometheus::IntGauge,
    /// `boardsync_http_connections_over_limit_total`: connections that came while
    /// `max_connections` were open, answered only `/healthz` and `/readyz`, and closed.
    pub http_connections_over_limit: prometheus::IntCounter,
    /// Webhook health for the dashboard.
    pub receivers: ReceiverLog,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let webhooks_received = IntCounterVec::new(
            Opts::new(
                "boardsync_webhooks_received_total",
                "Webhook requests received, by source and outcome",
            ),
            &["source", "outcome"],
        )
        .expect("valid metric");
        let webhook_ack_seconds = HistogramVec::new(
            HistogramOpts::new(
                "boardsync_webhook_ack_seconds",
                "Time from a webhook's arrival to its answer",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["source"],
        )
        .expect("valid metric");
        let changes = IntCounterVec::new(
            Opts::new(
                "boardsync_changes_total",
                "Changes processed, by pair, the side they came from, and outcome",
            ),
            &["pair", "origin", "outcome"],
        )
        .expect("valid metric");
        let api_calls = IntCounterVec::new(
            Opts::new(
                "boardsync_api_calls_total",
                "Write calls to the Miro and monday APIs, by outcome",
            ),
            &["api", "outcome"],
        )
        .expect("valid metric");
        let store_errors = IntCounterVec::new(
            Opts::new(
                "boardsync_store_errors_total",
                "Writes to the APIs interrupted by a store failure (retried), by the part that met it",
            ),
            &["part"],
        )
        .expect("valid metric");
        // Shown at 0 from the start, so a rate over it sees the first failure.
        store_errors.with_label_values(&["dispatcher"]).inc_by(0);
        let redis_bypassed = IntCounterVec::new(
            Opts::new(
                "boardsync_redis_bypassed_total",
                "Deliveries stored without Redis's dedupe (the store's key decided), by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let outbox_depth = IntGaugeVec::new(
            Opts::new(
                "boardsync_outbox_depth",
                "Writes waiting in the outbox (pending or in flight)",
            ),
            &["pair"],
        )
        .expect("valid metric");
        let sync_lag_seconds = HistogramVec::new(
            HistogramOpts::new(
                "boardsync_sync_lag_seconds",
                "Time from a change at its source to its write applied on the other side",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
            ]),
            &["pair", "origin"],
        )
        .expect("valid metric");
        let polls = IntCounterVec::new(
            Opts::new(
                "boardsync_polls_total",
                "Polls of a board, by pair, poller and outcome",
            ),
            &["pair", "poller", "outcome"],
        )
        .expect("valid metric");
        let poll_interval_seconds = prometheus::GaugeVec::new(
            Opts::new(
                "boardsync_poll_interval_seconds",
                "The time between two scans of a pair's Miro board",
            ),
            &["pair"],
        )
        .expect("valid metric");
        let poll_ignored = IntGaugeVec::new(
            Opts::new(
                "boardsync_poll_ignored",
                "What the last tag or connector poll of a pair left out: tag changes of items that are not linked, connector ends that are not linked",
            ),
            &["pair", "poller"],
        )
        .expect("valid metric");
        let miro_credits_used = IntCounterVec::new(
            Opts::new(
                "boardsync_miro_credits_used_total",
                "Miro credits boardsync's calls used, by purpose (poll or write)",
            ),
            &["purpose"],
        )
        .expect("valid metric");
        let monday_calls_waiting = prometheus::IntGauge::new(
            "boardsync_monday_calls_waiting",
            "monday calls waiting for the next minute of monday's limits (complexity, calls)",
        )
        .expect("valid metric");
        let worker_restarts = IntCounterVec::new(
            Opts::new(
                "boardsync_worker_restarts_total",
                "Background workers restarted after a panic or an unexpected return, by worker",
            ),
            &["worker"],
        )
        .expect("valid metric");
        let http_connections = prometheus::IntGauge::new(
            "boardsync_http_connections",
            "HTTP connections open, within [daemon] max_connections",
        )
        .expect("valid metric");
        let http_connections_over_limit = prometheus::IntCounter::new(
            "boardsync_http_connections_over_limit_total",
            "Connections that came while max_connections were open: answered only /healthz and /readyz (others 503) and closed",
        )
        .expect("valid metric");
        for metric in [
            Box::new(webhooks_received.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_connections.clone()),
            Box::new(http_connections_over_limit.clone()),
            Box::new(webhook_ack_seconds.clone()),
            Box::new(changes.clone()),
            Box::new(api_calls.clone()),
            Box::new(store_errors.clone()),
            Box::new(redis_bypassed.clone()),
            Box::new(outbox_depth.clone()),
            Box::new(sync_lag_seconds.clone()),
            Box::new(polls.clone()),
            Box::new(poll_interval_seconds.clone()),
            Box::new(poll_ignored.clone()),
            Box::new(miro_credits_used.clone()),
            Box::new(monday_calls_waiting.clone()),
            Box::new(worker_restarts.clone()),
        ] {
            registry.register(metric).expect("registered once");
        }
        // CPU, memory and open files of this process, read from /proc at each scrape.
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("registered once");
        Metrics {
            registry,
            webhooks_received,
            webhook_ack_seconds,
            changes,
            api_calls,
            store_errors,
            redis_bypassed,
            outbox_depth,
            sync_lag_seconds,
            polls,
            poll_interval_seconds,
            poll_ignored,
            miro_credits_used,
            monday_calls_waiting,
            worker_restarts,
            http_connections,
            http_connections_over_limit,
            receivers: ReceiverLog::default(),
        }
    }
}

impl Metrics {
    pub(crate) fn change(&self, pair: &str, origin: &str, outcome: &str) {
        self.changes
            .with_label_values(&[pair, origin, outcome])
            .inc();
    }

    pub(crate) fn api_call(&self, api: &str, outcome: &str) {
        self.api_calls.with_label_values(&[api, outcome]).inc();
    }

    pub(crate) fn store_error(&self, part: &str) {
        self.store_errors.with_label_values(&[part]).inc();
    }

    /// Every metric in the Prometheus text exposition format.
    pub(crate) fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to memory cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// What this process's receivers saw, for the dashboard's webhook health: per source, the last
/// delivery and the last failure with its reason; per pair, how many events were duplicates,
/// stale or ignored. Counts start at zero with the process (the metrics have the same counts per
/// source, without the pair).
#[derive(Clone, Default)]
pub struct ReceiverLog(Arc<Mutex<ReceiverState>>);

#[derive(Default)]
struct ReceiverState {
    sources: BTreeMap<String, SourceHealth>,
    /// (pair, outcome) -> events.
    events: HashMap<(String, String), u64>,
}

/// How one source's webhooks have been going, in this process.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub(crate) struct SourceHealth {
    /// Requests answered 2xx.
    pub deliveries: u64,
    /// Requests refused (bad signature, malformed, too large) or not stored.
    pub failures: u64,
    /// When the last 2xx answer was given (Unix ms).
    pub last_delivery: Option<i64>,
    pub last_failure: Option<i64>,
    pub last_failure_reason: Option<String>,
}

impl ReceiverLog {
    /// Notes one answered request of `source`.
    pub(crate) fn request(&self, source: &str, ok: bool, why: Option<&str>, now: i64) {
        let mut state = self.0.lock().expect("receiver log lock");
        let health = state.sources.entry(source.to_owned()).or_default();
        if ok {
            health.deliveries += 1;
            health.last_delivery = Some(now);
        } else {
            health.failures += 1;
            health.last_failure = Some(now);
            health.last_failure_reason = why.map(str::to_owned);
        }
    }

    /// Notes what became of one event of a delivery (`accepted`, `duplicate`, `stale`...).
    pub(crate) fn event(&self, pair: Option<&str>, outcome: &str) {
        let Some(pair) = pair else { return };
        let mut state = self.0.lock().expect("receiver log lock");
        *state
            .events
            .entry((pair.to_owned(), outcome.to_owned()))
            .or_default() += 1;
    }

    /// The health of `source`'s webhooks.
    pub(crate) fn source(&self, source: &str) -> SourceHealth {
        let state = self.0.lock().expect("receiver log lock");
        state.sources.get(source).cloned().unwrap_or_default()
    }

    /// How many of `pair`'s events had `outcome`.
    pub(crate) fn events(&self, pair: &str, outcome: &str) -> u64 {
        let state = self.0.lock().expect("receiver log lock");
        state
            .events
            .get(&(pair.to_owned(), outcome.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}
