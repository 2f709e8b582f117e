//! `/metrics` in the Prometheus text format (version 0.0.4): runs and
//! records by flow, webhook deliveries by outcome, dead letters, and the
//! API calls, 429s and request durations the connectors count (their
//! `CallStats`, per endpoint such as `GET /orders/{id}`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::connectors::http::{CallStats, LATENCY_BOUNDS};
use crate::engine::Report;

/// Counters kept by the server itself; connector statistics are read at
/// scrape time.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    /// (flow, trigger, status) → runs.
    runs: BTreeMap<(String, &'static str, String), u64>,
    /// (flow, decision) → records.
    records: BTreeMap<(String, &'static str), u64>,
    /// outcome → deliveries.
    webhooks: BTreeMap<&'static str, u64>,
    /// flow → dead letters now.
    dead_letters: BTreeMap<String, u64>,
    /// (flow, seconds) of the last run.
    last_duration: BTreeMap<String, f64>,
}

impl Metrics {
    pub fn run(&self, flow: &str, trigger: &'static str, report: Option<&Report>) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let status = report.map_or("failed".to_string(), |r| r.status.clone());
        *c.runs
            .entry((flow.to_string(), trigger, status))
            .or_default() += 1;
        if let Some(r) = report {
            for (decision, n) in [
                ("create", r.created),
                ("update", r.updated),
                ("unchanged", r.unchanged),
                ("skip", r.skipped),
                ("fail", r.failed),
            ] {
                *c.records.entry((flow.to_string(), decision)).or_default() += n;
            }
            c.last_duration
                .insert(flow.to_string(), r.elapsed_ms as f64 / 1000.0);
        }
    }

    pub fn webhook(&self, outcome: &'static str) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *c.webhooks.entry(outcome).or_default() += 1;
    }

    pub fn dead_letters(&self, flow: &str, n: u64) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        c.dead_letters.insert(flow.to_string(), n);
    }

    /// The whole exposition; `calls` are the connectors' statistics by connector kind.
    pub fn render(&self, calls: &BTreeMap<String, CallStats>) -> String {
        let c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        family(
            &mut out,
            "flowc_runs_total",
            "counter",
            "Runs by flow, trigger (schedule, webhook, retry) and final status.",
        );
        for ((flow, trigger, status), n) in &c.runs {
            let _ = writeln!(
                out,
                "flowc_runs_total{{flow=\"{}\",trigger=\"{trigger}\",status=\"{}\"}} {n}",
                esc(flow),
                esc(status)
            );
        }
        family(
            &mut out,
            "flowc_records_total",
            "counter",
            "Source records by flow and decision.",
        );
        for ((flow, decision), n) in &c.records {
            let _ = writeln!(
                out,
                "flowc_records_total{{flow=\"{}\",decision=\"{decision}\"}} {n}",
                esc(flow)
            );
        }
        family(
            &mut out,
            "flowc_run_duration_seconds",
            "gauge",
            "How long the last run of each flow took.",
        );
        for (flow, secs) in &c.last_duration {
            let _ = writeln!(
                out,
                "flowc_run_duration_seconds{{flow=\"{}\"}} {secs}",
                esc(flow)
            );
        }
        family(
            &mut out,
            "flowc_dead_letters",
            "gauge",
            "Dead letters of each flow after its last run.",
        );
        for (flow, n) in &c.dead_letters {
            let _ = writeln!(out, "flowc_dead_letters{{flow=\"{}\"}} {n}", esc(flow));
        }
        family(
            &mut out,
            "flowc_webhook_deliveries_total",
            "counter",
            "Webhook deliveries received, by outcome.",
        );
        for (outcome, n) in &c.webhooks {
            let _ = writeln!(
                out,
                "flowc_webhook_deliveries_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        per_endpoint(
            &mut out,
            "flowc_api_calls_total",
            "Requests to services (retries included), by connector and endpoint.",
            calls,
            |s| &s.calls,
        );
        per_endpoint(
            &mut out,
            "flowc_api_rate_limited_total",
            "Answers 429 (too many requests), by connector and endpoint.",
            calls,
            |s| &s.rate_limited_by,
        );
        family(
            &mut out,
            "flowc_api_request_duration_seconds",
            "histogram",
            "Duration of each request to a service, by connector and endpoint.",
        );
        for (connector, stats) in calls {
            for (endpoint, h) in &stats.latency {
                let labels = format!(
                    "connector=\"{}\",endpoint=\"{}\"",
                    esc(connector),
                    esc(endpoint)
                );
                let mut cumulative = 0;
                for (bound, n) in LATENCY_BOUNDS.iter().zip(h.buckets) {
                    cumulative += n;
                    let _ = writeln!(out, "flowc_api_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
                }
                let _ = writeln!(
                    out,
                    "flowc_api_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "flowc_api_request_duration_seconds_sum{{{labels}}} {}",
                    h.sum.as_secs_f64()
                );
                let _ = writeln!(
                    out,
                    "flowc_api_request_duration_seconds_count{{{labels}}} {}",
                    h.count
                );
            }
        }
        out
    }
}

/// A counter family by connector and endpoint, from the connectors' statistics.
fn per_endpoint(
    out: &mut String,
    name: &str,
    help: &str,
    calls: &BTreeMap<String, CallStats>,
    counts: impl Fn(&CallStats) -> &BTreeMap<String, u64>,
) {
    family(out, name, "counter", help);
    for (connector, stats) in calls {
        for (endpoint, n) in counts(stats) {
            let _ = writeln!(
                out,
                "{name}{{connector=\"{}\",endpoint=\"{}\"}} {n}",
                esc(connector),
                esc(endpoint)
            );
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the format wants it: backslash, quote and newline escaped.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_exposition_counts_runs_records_calls_and_latency() {
        let m = Metrics::default();
        let report = Report {
            flow: "orders".into(),
            status: "succeeded".into(),
            read: 3,
            created: 2,
            unchanged: 1,
            ..Report::default()
        };
        m.run("orders", "schedule", Some(&report));
        m.run("orders", "schedule", None);
        m.webhook("bad_signature");
        let mut stats = CallStats::default();
        stats.calls.insert("GET /orders".into(), 4);
        stats.rate_limited_by.insert("GET /orders".into(), 1);
        let mut h = crate::connectors::http::Latency::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_millis(300));
        stats.latency.insert("GET /orders".into(), h);
        let text = m.render(&BTreeMap::from([("ccvshop".to_string(), stats)]));
        for line in [
            "flowc_runs_total{flow=\"orders\",trigger=\"schedule\",status=\"succeeded\"} 1",
            "flowc_runs_total{flow=\"orders\",trigger=\"schedule\",status=\"failed\"} 1",
            "flowc_records_total{flow=\"orders\",decision=\"create\"} 2",
            "flowc_webhook_deliveries_total{outcome=\"bad_signature\"} 1",
            "flowc_api_calls_total{connector=\"ccvshop\",endpoint=\"GET /orders\"} 4",
            "flowc_api_rate_limited_total{connector=\"ccvshop\",endpoint=\"GET /orders\"} 1",
            "flowc_api_request_duration_seconds_bucket{connector=\"ccvshop\",endpoint=\"GET /orders\",le=\"0.005\"} 1",
            "flowc_api_request_duration_seconds_bucket{connector=\"ccvshop\",endpoint=\"GET /orders\",le=\"0.25\"} 1",
            "flowc_api_request_duration_seconds_bucket{connector=\"ccvshop\",endpoint=\"GET /orders\",le=\"0.5\"} 2",
            "flowc_api_request_duration_seconds_count{connector=\"ccvshop\",endpoint=\"GET /orders\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert_eq!(esc("a\"b\\c"), "a\\\"b\\\\c");
    }
}
