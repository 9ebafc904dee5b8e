//! Faults on demand: each rule gives a kind of failure a probability, optionally only for requests
//! whose `METHOD /path` contains `route`. The random source is seeded, so a test that sets a seed
//! sees the same faults on every run.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FaultKind {
    /// Answer 429 as the API does when over its limit.
    #[serde(rename = "http_429")]
    Http429,
    #[serde(rename = "http_500")]
    Http500,
    #[serde(rename = "http_503")]
    Http503,
    /// Hold the request without answering until the client gives up.
    Timeout,
    /// Answer after `ms` milliseconds.
    Slow,
    /// Carry out the request, then answer 502 as if the response was lost on the way: the client
    /// cannot tell that its write happened.
    LostResponse,
    /// Do not deliver a webhook (monday still counts it as delivered).
    WebhookDrop,
    /// Deliver a webhook twice.
    WebhookDuplicate,
    /// Hold a webhook back and deliver it after the next one.
    WebhookReorder,
}

impl FaultKind {
    fn is_webhook(self) -> bool {
        matches!(
            self,
            FaultKind::WebhookDrop | FaultKind::WebhookDuplicate | FaultKind::WebhookReorder
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRule {
    pub kind: FaultKind,
    /// From 0 to 1.
    pub probability: f64,
    /// Only requests (or webhook targets) whose `METHOD /path` (or URL) contains this.
    #[serde(default)]
    pub route: Option<String>,
    /// Only requests made by this user (`NAME` of a `sandbox-NAME` or `sandbox-app-NAME` token):
    /// to fail boardsync's calls while people's edits go through.
    #[serde(default)]
    pub user: Option<String>,
    /// For `slow`: how long to wait.
    #[serde(default)]
    pub ms: Option<u64>,
}

/// The body of `POST /_sandbox/faults`: replaces every rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultConfig {
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpFault {
    Status(u16),
    Timeout,
    Slow(u64),
    LostResponse,
}

/// What to do to one webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WebhookFault {
    Drop,
    Duplicate,
    Reorder,
}

#[derive(Clone)]
pub(crate) struct Faults {
    inner: Arc<Mutex<State>>,
}

struct State {
    config: FaultConfig,
    rng: StdRng,
    injected: BTreeMap<FaultKind, u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            inner: Arc::new(Mutex::new(State {
                config: FaultConfig::default(),
                rng: StdRng::from_entropy(),
                injected: BTreeMap::new(),
            })),
        }
    }
}

impl Faults {
    /// Replaces the rules (and the random seed, when given); resets the counts.
    pub(crate) fn configure(&self, config: FaultConfig) -> Result<(), String> {
        for rule in &config.rules {
            if !(0.0..=1.0).contains(&rule.probability) {
                return Err(format!(
                    "probability {} is not between 0 and 1",
                    rule.probability
                ));
            }
            if rule.kind == FaultKind::Slow && rule.ms.is_none() {
                return Err("a `slow` rule needs `ms`".to_owned());
            }
        }
        let mut state = self.inner.lock().expect("faults lock");
        state.rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        state.config = config;
        state.injected.clear();
        Ok(())
    }

    /// The rules in force and how often each kind has been injected.
    pub(crate) fn report(&self) -> serde_json::Value {
        let state = self.inner.lock().expect("faults lock");
        serde_json::json!({ "seed": state.config.seed, "rules": state.config.rules, "injected": state.injected })
    }

    /// The fault to apply to a request to `route` (`METHOD /path`) by `user`, if one fires.
    pub(crate) fn for_request(&self, route: &str, user: Option<&str>) -> Option<HttpFault> {
        let kind = self.pick(route, false, user)?;
        let state = self.inner.lock().expect("faults lock");
        let ms = state
            .config
            .rules
            .iter()
            .find(|r| r.kind == kind)
            .and_then(|r| r.ms)
            .unwrap_or(0);
        Some(match kind {
            FaultKind::Http429 => HttpFault::Status(429),
            FaultKind::Http500 => HttpFault::Status(500),
            FaultKind::Http503 => HttpFault::Status(503),
            FaultKind::Timeout => HttpFault::Timeout,
            FaultKind::Slow => HttpFault::Slow(ms),
            _ => HttpFault::LostResponse,
        })
    }

    /// The fault to apply to a webhook delivery to `url`, if one fires.
    pub(crate) fn for_webhook(&self, url: &str) -> Option<WebhookFault> {
        Some(match self.pick(url, true, None)? {
            FaultKind::WebhookDrop => WebhookFault::Drop,
            FaultKind::WebhookDuplicate => WebhookFault::Duplicate,
            _ => WebhookFault::Reorder,
        })
    }

    /// Rolls each matching rule in order; the first that fires is counted and returned.
    fn pick(&self, target: &str, webhook: bool, user: Option<&str>) -> Option<FaultKind> {
        let mut state = self.inner.lock().expect("faults lock");
        let State {
            config,
            rng,
            injected,
        } = &mut *state;
        for rule in &config.rules {
            if rule.kind.is_webhook() != webhook {
                continue;
            }
            if rule.route.as_deref().is_some_and(|r| !target.contains(r)) {
                continue;
            }
            if rule.user.is_some() && rule.user.as_deref() != user {
                continue;
            }
            if rng.gen_bool(rule.probability) {
                *injected.entry(rule.kind).or_default() += 1;
                return Some(rule.kind);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(rules: Vec<FaultRule>) -> Faults {
        let f = Faults::default();
        f.configure(FaultConfig {
            seed: Some(7),
            rules,
        })
        .unwrap();
        f
    }

    fn rule(kind: FaultKind, probability: f64, route: Option<&str>) -> FaultRule {
        FaultRule {
            kind,
            probability,
            route: route.map(str::to_owned),
            user: None,
            ms: None,
        }
    }

    #[test]
    fn faults_fire_at_about_the_rate_asked_for() {
        let f = faults(vec![rule(FaultKind::Http503, 0.2, None)]);
        let fired = (0..10_000)
            .filter(|_| f.for_request("GET /v2/boards", None).is_some())
            .count();
        assert!((1_800..=2_200).contains(&fired), "fired {fired} of 10000");
        assert_eq!(f.report()["injected"]["http_503"], fired as u64);
    }

    #[test]
    fn a_route_rule_leaves_other_routes_alone() {
        let f = faults(vec![rule(FaultKind::Http429, 1.0, Some("/sticky_notes"))]);
        assert_eq!(
            f.for_request("POST /v2/boards/b/sticky_notes", None),
            Some(HttpFault::Status(429))
        );
        assert_eq!(f.for_request("GET /v2/boards/b/items", None), None);
        assert_eq!(
            f.for_webhook("http://x/sticky_notes"),
            None,
            "not a webhook rule"
        );
    }

    #[test]
    fn a_user_rule_fails_that_users_calls_only() {
        let mut only_boardsync = rule(FaultKind::Http503, 1.0, Some("PATCH"));
        only_boardsync.user = Some("boardsync".into());
        let f = faults(vec![only_boardsync]);
        let patch = "PATCH /v2/boards/b/sticky_notes/1";
        assert_eq!(
            f.for_request(patch, Some("boardsync")),
            Some(HttpFault::Status(503))
        );
        assert_eq!(f.for_request(patch, Some("alice")), None);
        assert_eq!(f.for_request(patch, None), None);
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let run = || {
            let f = faults(vec![rule(FaultKind::WebhookDrop, 0.5, None)]);
            (0..64)
                .map(|_| f.for_webhook("u").is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn impossible_rules_are_refused() {
        let f = Faults::default();
        assert!(
            f.configure(FaultConfig {
                seed: None,
                rules: vec![rule(FaultKind::Http500, 1.5, None)]
            })
            .is_err()
        );
        assert!(
            f.configure(FaultConfig {
                seed: None,
                rules: vec![rule(FaultKind::Slow, 0.5, None)]
            })
            .is_err()
        );
    }
}
