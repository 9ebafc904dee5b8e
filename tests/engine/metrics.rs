//! `GET /metrics` as Prometheus reads it: a daemon on the sandbox syncs one sticky note and
//! refuses one webhook, then its scrape is parsed with `prometheus-parse` and every boardsync
//! metric, and the process metrics, must be there with values that make sense.

use crate::common::world::DEADLINE;
use crate::relations::world;
use prometheus_parse::{LineInfo, Sample, Scrape, Value};
use std::collections::HashSet;

const FIELDS: &str = r#"title = { miro = "data.content", monday = "name" }
  tags  = { miro = "tags", monday = "tags" }"#;
/// The pair's name, which is the `pair` label.
const PAIR: &str = "Tags test";

/// Every metric src/metrics.rs defines, and the standard process metrics on Linux.
const NAMES: [&str; 15] = [
    "boardsync_webhooks_received_total",
    "boardsync_webhook_ack_seconds",
    "boardsync_changes_total",
    "boardsync_api_calls_total",
    "boardsync_store_errors_total",
    "boardsync_outbox_depth",
    "boardsync_sync_lag_seconds",
    "boardsync_polls_total",
    "boardsync_poll_interval_seconds",
    "boardsync_poll_ignored",
    "boardsync_miro_credits_used_total",
    "boardsync_worker_restarts_total",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
];

/// The samples named `name` whose labels include every one of `labels`.
fn samples<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect()
}

/// The one counter or gauge named `name` with `labels`.
fn number(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples(scrape, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    match found[0].value {
        Value::Counter(v) | Value::Gauge(v) => v,
        ref other => panic!("{name} {labels:?} is not a counter or gauge: {other:?}"),
    }
}

/// The observations of histogram `name` with `labels`: its `+Inf` bucket, after checking that
/// the buckets only grow and that `_count` agrees.
fn observations(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples(scrape, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    let Value::Histogram(buckets) = &found[0].value else {
        panic!("{name} is not a histogram: {:?}", found[0].value);
    };
    assert!(
        buckets.windows(2).all(|w| w[0].count <= w[1].count),
        "{name} buckets shrink: {buckets:?}"
    );
    let all = buckets.last().expect("a histogram has buckets");
    assert!(all.less_than.is_infinite(), "{buckets:?}");
    let count = samples(scrape, &format!("{name}_count"), labels);
    assert_eq!(count.len(), 1, "{name}_count");
    assert_eq!(count[0].value, Value::Untyped(all.count), "{name}_count");
    assert!(
        samples(scrape, &format!("{name}_sum"), labels)
            .iter()
            .all(|s| matches!(s.value, Value::Untyped(sum) if sum >= 0.0)),
        "{name}_sum"
    );
    all.count
}

#[tokio::test]
async fn the_scrape_parses_and_shows_every_boardsync_metric_and_the_process() {
    let w = world(false, "", FIELDS).await;

    // One change the whole way: found by the scan, processed, written to monday.
    w.sticky("Count me").await;
    w.within_two_rounds("the sticky note on monday", || w.monday_item("Count me"))
        .await;
    // One webhook refused (it is not signed): the receivers count it.
    let refused = reqwest::Client::new()
        .post(format!("{}/webhooks/miro", w.base))
        .json(&serde_json::json!({ "type": "event" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let url = format!("{}/metrics", w.base);
    let text = crate::common::wait_for(
        &format!("each of {NAMES:?} in the scrape"),
        DEADLINE,
        || async {
            let text = crate::common::get_text(&url).await;
            NAMES
                .iter()
                .all(|n| text.contains(&format!("\n{n}")))
                .then_some(text)
        },
    )
    .await;

    // Every line is a comment Prometheus knows, or a sample with a number.
    for line in text.lines().filter(|l| !l.is_empty()) {
        match LineInfo::parse(line) {
            LineInfo::Doc { .. } | LineInfo::Type { .. } => {}
            LineInfo::Sample { value, .. } => assert!(value.parse::<f64>().is_ok(), "{line}"),
            other => panic!("unparsed line {line:?}: {other:?}"),
        }
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let helped: HashSet<&str> = scrape.docs.keys().map(String::as_str).collect();
    for name in NAMES {
        assert!(helped.contains(name), "{name} has no HELP line");
    }
    for sample in &scrape.samples {
        let base = ["_count", "_sum"]
            .iter()
            .find_map(|suffix| sample.metric.strip_suffix(suffix))
            .filter(|base| helped.contains(base))
            .unwrap_or(&sample.metric);
        assert!(helped.contains(base), "{} has no HELP line", sample.metric);
    }

    let miro_refused = [("source", "miro"), ("outcome", "unauthorized")];
    assert_eq!(
        number(&scrape, "boardsync_webhooks_received_total", &miro_refused),
        1.0
    );
    assert!(
        observations(
            &scrape,
            "boardsync_webhook_ack_seconds",
            &[("source", "miro")]
        ) >= 1.0
    );

    let from_miro = [("pair", PAIR), ("origin", "miro")];
    let applied = [("pair", PAIR), ("origin", "miro"), ("outcome", "applied")];
    assert_eq!(
        number(&scrape, "boardsync_changes_total", &applied),
        1.0,
        "the one sticky note"
    );
    assert!(
        number(
            &scrape,
            "boardsync_api_calls_total",
            &[("api", "monday"), ("outcome", "ok")]
        ) >= 1.0
    );
    assert!(observations(&scrape, "boardsync_sync_lag_seconds", &from_miro) >= 1.0);
    assert!(number(&scrape, "boardsync_outbox_depth", &[("pair", PAIR)]) >= 0.0);

    // The daemon's own poll loop ran once at start (its interval is an hour).
    for poller in ["miro_scan", "miro_tags", "monday_reconcile"] {
        let ok = [("pair", PAIR), ("poller", poller), ("outcome", "ok")];
        assert!(
            number(&scrape, "boardsync_polls_total", &ok) >= 1.0,
            "{poller}"
        );
    }
    assert_eq!(
        number(
            &scrape,
            "boardsync_poll_interval_seconds",
            &[("pair", PAIR)]
        ),
        3600.0
    );
    assert_eq!(
        number(
            &scrape,
            "boardsync_poll_ignored",
            &[("pair", PAIR), ("poller", "miro_tags")]
        ),
        0.0,
        "no tag on the board when the loop polled"
    );
    assert!(
        number(
            &scrape,
            "boardsync_miro_credits_used_total",
            &[("purpose", "poll")]
        ) > 0.0
    );

    // Every worker is listed from the start, and none had to be restarted.
    for worker in [
        "processor",
        "dispatcher",
        "http",
        "inbox-writer",
        "retention",
    ] {
        assert_eq!(
            number(
                &scrape,
                "boardsync_worker_restarts_total",
                &[("worker", worker)]
            ),
            0.0,
            "{worker}"
        );
    }

    // The process counts whole CPU seconds: at most the time it has run on every core.
    let now = chrono::Utc::now().timestamp() as f64;
    let started = number(&scrape, "process_start_time_seconds", &[]);
    assert!(
        started <= now && started > now - 3600.0,
        "started at {started}, now {now}"
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpu = number(&scrape, "process_cpu_seconds_total", &[]);
    assert!(
        cpu >= 0.0 && cpu <= (now - started + 1.0) * cores,
        "{cpu} CPU seconds"
    );
    let rss = number(&scrape, "process_resident_memory_bytes", &[]);
    assert!((1e6..1e11).contains(&rss), "resident memory {rss}");
    let fds = number(&scrape, "process_open_fds", &[]);
    assert!(
        fds >= 3.0 && fds <= number(&scrape, "process_max_fds", &[]),
        "{fds}"
    );

    w.stop().await;
}
