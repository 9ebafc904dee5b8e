//! The daemon's metrics, served at `GET /metrics` in the Prometheus text format. Each `App` has a
//! registry of its own (no process-wide state), so tests can run several daemons in one process
//! and read each one's counts.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `boardsync_webhooks_received_total{source,outcome}`
    pub webhooks_received: IntCounterVec,
    /// `boardsync_webhook_ack_seconds{source}`: from the request's arrival to its answer.
    pub webhook_ack_seconds: HistogramVec,
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
        registry
            .register(Box::new(webhooks_received.clone()))
            .expect("registered once");
        registry
            .register(Box::new(webhook_ack_seconds.clone()))
            .expect("registered once");
        Metrics {
            registry,
            webhooks_received,
            webhook_ack_seconds,
        }
    }
}

impl Metrics {
    /// Every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to memory cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}
