//! The world of the tag and connector tests: the whole daemon on the sandbox, its poll loop held
//! back (an interval of an hour: it polls once, at start), so each test runs the pollers' rounds
//! itself (`tags::poll_pair` and `connectors::poll_pair` after the scan, as the loop does) and
//! can say in how many rounds a change reached the other side. Everything else (webhooks, the
//! processor, the dispatcher) runs in the daemon as usual.

use crate::common::world::{Setup, World};
use boardsync::pollers::relation::PollReport;
use boardsync::pollers::{connectors, scan, tags};
use serde_json::{Value, json};

/// A daemon syncing one pair with `fields` (the body of `[pair.fields]`) and `extra` pair keys,
/// on Postgres or SQLite, to a monday board with a tags column and a dependency column; returns
/// once the daemon's first round is done.
pub async fn world(postgres: bool, extra: &str, fields: &str) -> World {
    Setup {
        postgres,
        name: "Tags test",
        columns: json!([
            {"id": "tags", "title": "Tags", "type": "tags"},
            {"id": "deps", "title": "Depends on", "type": "dependency"}
        ]),
        interval: "1h",
        pair: extra,
        fields,
        ..Setup::default()
    }
    .start()
    .await
}

impl World {
    /// One poll round, as the daemon's loop makes it: the scan, then tags and connectors.
    pub async fn round(&self) -> (PollReport, PollReport) {
        scan::scan_pair(&self.engine, &self.pair).await.unwrap();
        let tags = tags::poll_pair(&self.engine, &self.pair).await.unwrap();
        let connectors = connectors::poll_pair(&self.engine, &self.pair)
            .await
            .unwrap();
        (tags, connectors)
    }

    /// Runs rounds (letting the daemon settle after each) until `check` holds, at most two;
    /// returns the rounds it took and the last round's reports.
    pub async fn within_two_rounds<T, F, Fut>(
        &self,
        what: &str,
        mut check: F,
    ) -> (T, usize, (PollReport, PollReport))
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        for rounds in 1..=2 {
            let reports = self.round().await;
            self.settled().await;
            if let Some(found) = check().await {
                return (found, rounds, reports);
            }
        }
        panic!("{what} did not happen within two poll rounds");
    }

    /// A tag made on the Miro board by alice; its id.
    pub async fn miro_tag(&self, title: &str) -> String {
        let made = self
            .miro(
                reqwest::Method::POST,
                "tags",
                Some(json!({ "title": title, "fillColor": "red" })),
            )
            .await;
        made["id"].as_str().unwrap().to_owned()
    }

    /// The Miro item's tag titles, sorted.
    pub async fn miro_tags_of(&self, id: &str) -> Vec<String> {
        let board = self.miro_board().await;
        let item = board["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap_or(Value::Null);
        let mut titles: Vec<String> = item["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        titles.sort();
        titles
    }

    /// The writes boardsync made to either API (`boardsync_api_calls_total`, one per folded
    /// group of writes).
    pub async fn writes(&self) -> u64 {
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with("boardsync_api_calls_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Two more rounds make no write at all: boardsync's own writes came back as echoes.
    pub async fn assert_quiet(&self) {
        self.settled().await;
        let before = self.writes().await;
        for _ in 0..2 {
            self.round().await;
            self.settled().await;
        }
        assert_eq!(
            self.writes().await,
            before,
            "boardsync kept writing after the boards settled"
        );
    }
}
