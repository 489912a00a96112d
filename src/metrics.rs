//! Process-local counters exposed at `/metrics` in the Prometheus text format.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The HTTP response counter's name.
const RESPONSES: &str = "sso_broker_http_responses_total";

/// Status codes are 100–599.
const STATUSES: usize = 600;

#[derive(Debug)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(String, String), u64>>,
    /// `sso_broker_http_responses_total` by status code: counted on every response, so without
    /// a lock or an allocation.
    responses: Box<[AtomicU64]>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            counters: Mutex::default(),
            responses: (0..STATUSES).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Metrics {
    /// Counts one HTTP response with `status`.
    pub fn response(&self, status: u16) {
        if let Some(counter) = self.responses.get(usize::from(status)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds one to counter `name` with the given label set (`key="value",…`, already escaped).
    pub fn incr(&self, name: &str, labels: &str) {
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *counters
            .entry((name.to_string(), labels.to_string()))
            .or_insert(0) += 1;
    }

    pub fn sign_in(&self, method: &str, outcome: &str) {
        self.incr(
            "sso_broker_sign_in_attempts_total",
            &format!("method=\"{method}\",outcome=\"{outcome}\""),
        );
    }

    /// Counts a token request of the OpenID Provider by grant and outcome (`issued`, `refused`).
    pub fn oidc_token(&self, grant: &str, outcome: &str) {
        self.incr(
            "sso_broker_oidc_tokens_total",
            &format!("grant=\"{grant}\",outcome=\"{outcome}\""),
        );
    }

    /// Renders every counter as Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        for (status, counter) in self.responses.iter().enumerate() {
            let value = counter.load(Ordering::Relaxed);
            if value > 0 {
                counters.insert((RESPONSES.into(), format!("status=\"{status}\"")), value);
            }
        }
        let mut out = String::new();
        let mut last_name = "";
        for ((name, labels), value) in counters.iter() {
            if name != last_name {
                out.push_str(&format!("# TYPE {name} counter\n"));
                last_name = name;
            }
            out.push_str(&format!("{name}{{{labels}}} {value}\n"));
        }
        out.push_str("# TYPE sso_broker_up gauge\nsso_broker_up 1\n");
        out
    }
}
