//! What a run did: counts, calls, and the decisions a plan or a test shows.

use crate::connectors::CallStats;
use crate::diag::Diagnostic;

use super::plan::PlanEntry;

/// The result of a run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub flow: String,
    pub run: Option<i64>,
    pub status: String,
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    /// Records left out on purpose (`skip("…")`, a key another record
    /// holds), by reason: each reason is said once per run.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub skipped_because: std::collections::BTreeMap<String, u64>,
    pub failed: u64,
    /// Upserted records (customers, articles) created or updated on the way.
    pub related_writes: u64,
    /// Records the source returned more than once in this run (processed once).
    #[serde(skip_serializing_if = "is_zero")]
    pub duplicates: u64,
    /// Records the `where` rejected on a field that can still change: the
    /// cursor waits for them (they are read again next run).
    #[serde(skip_serializing_if = "is_zero")]
    pub held: u64,
    pub calls: CallStats,
    pub elapsed_ms: u128,
    /// Set when the run stopped early (time budget) and will resume.
    pub stopped_early: bool,
    /// A warning against false success: this run read nothing but earlier ones did.
    pub warning: Option<String>,
    /// Every decision, in the order of the source records (plans and tests).
    pub plan: Vec<PlanEntry>,
    /// The target appends records (a file): every mapped record is written.
    #[serde(skip)]
    pub appends: bool,
    /// Failures, for printing: (source record, diagnostic).
    #[serde(skip)]
    pub failures: Vec<(String, Diagnostic)>,
}

impl Report {
    pub fn calls_per_record(&self) -> f64 {
        if self.read == 0 {
            0.0
        } else {
            self.calls.total as f64 / self.read as f64
        }
    }

    /// The summary a person reads: records per second for files, API calls for services.
    pub fn human(&self) -> String {
        if self.appends {
            let secs = (self.elapsed_ms as f64 / 1000.0).max(1e-9);
            return format!(
                "flow {}: read {}, written {}, skipped by filter {}, failed {} ({:.0} records/s)",
                self.flow,
                self.read,
                self.created,
                self.skipped,
                self.failed,
                self.read as f64 / secs
            );
        }
        let mut s = format!(
            "flow {}: read {}, created {}, updated {}, unchanged {}, skipped by filter {}, failed {}",
            self.flow, self.read, self.created, self.updated, self.unchanged, self.skipped, self.failed
        );
        if self.related_writes > 0 {
            s.push_str(&format!(
                "; {} related records written",
                self.related_writes
            ));
        }
        s.push_str(&self.skip_lines());
        if self.duplicates > 0 {
            s.push_str(&format!(
                "\n  {} records came twice from the source; each was processed once",
                self.duplicates
            ));
        }
        if self.held > 0 {
            s.push_str(&format!(
                "\n  {} records the filter rejected on fields that can still change are read again next run",
                self.held
            ));
        }
        s.push_str(&format!(
            "\n  {} API calls ({:.2} per record, {} retried, {} rate-limited) in {:.1}s",
            self.calls.total,
            self.calls_per_record(),
            self.calls.retries,
            self.calls.rate_limited,
            self.elapsed_ms as f64 / 1000.0
        ));
        if self.stopped_early {
            s.push_str(
                "\n  stopped at the time budget; the next run resumes where this one stopped",
            );
        }
        if let Some(w) = &self.warning {
            s.push_str(&format!("\n  warning: {w}"));
        }
        s
    }
}

impl Report {
    /// `  skipped 3: sold in variants…`, the most frequent reasons first.
    fn skip_lines(&self) -> String {
        const SHOWN: usize = 5;
        let mut reasons: Vec<(&String, &u64)> = self.skipped_because.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut out: String = reasons
            .iter()
            .take(SHOWN)
            .map(|(why, n)| format!("\n  skipped {n}: {why}"))
            .collect();
        if reasons.len() > SHOWN {
            let rest: u64 = reasons[SHOWN..].iter().map(|(_, n)| **n).sum();
            out.push_str(&format!(
                "\n  skipped {rest} more, for {} other reasons (`flowc log` lists each record)",
                reasons.len() - SHOWN
            ));
        }
        out
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Counts of a run in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub read: u64,
    pub written: u64,
    pub unchanged: u64,
    pub failed: u64,
}
