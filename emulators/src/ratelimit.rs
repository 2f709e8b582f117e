//! Fixed per-minute windows, as both services describe their limits
//! ("150 per minute", "600 per minute per endpoint").
//!
//! The clock can be shifted forward by tests so that "wait for the next
//! minute" does not cost a real minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
struct Inner {
    /// (key, minute index) -> requests counted in that minute.
    counts: HashMap<String, (u64, u32)>,
    skew: Duration,
    /// Every request answered 429, for reports.
    rejected: u64,
}

/// Counts requests per key per wall-clock minute.
#[derive(Debug, Clone, Default)]
pub struct MinuteWindows {
    inner: Arc<Mutex<Inner>>,
}

/// Outcome of [`MinuteWindows::hit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Over the limit; the window resets in this many whole seconds (at least 1).
    Rejected {
        retry_after_secs: u64,
    },
}

impl MinuteWindows {
    pub fn new() -> Self {
        Self::default()
    }

    /// Pretend `by` more time has passed (tests only need this to skip a window).
    pub fn advance(&self, by: Duration) {
        self.lock().skew += by;
    }

    /// Seconds since the epoch on this limiter's (possibly shifted) clock.
    pub fn now(&self) -> Duration {
        let skew = self.lock().skew;
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + skew
    }

    pub fn rejected(&self) -> u64 {
        self.lock().rejected
    }

    /// Count one request against `key`, allowing `limit` per minute.
    pub fn hit(&self, key: &str, limit: u32) -> Admission {
        let now = self.now();
        let minute = now.as_secs() / 60;
        let mut inner = self.lock();
        let entry = inner.counts.entry(key.to_string()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= limit {
            inner.rejected += 1;
            let retry_after_secs = (60 - now.as_secs() % 60).max(1);
            return Admission::Rejected { retry_after_secs };
        }
        entry.1 += 1;
        Admission::Allowed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_over_limit_and_resets_next_minute() {
        let w = MinuteWindows::new();
        // Align to the start of a minute so the test cannot straddle a boundary.
        let into_minute = w.now().as_secs() % 60;
        w.advance(Duration::from_secs(60 - into_minute));
        assert_eq!(w.hit("GET orders", 2), Admission::Allowed);
        assert_eq!(w.hit("GET orders", 2), Admission::Allowed);
        assert!(matches!(w.hit("GET orders", 2), Admission::Rejected { .. }));
        assert_eq!(
            w.hit("POST orders", 2),
            Admission::Allowed,
            "keys are independent"
        );
        w.advance(Duration::from_secs(60));
        assert_eq!(w.hit("GET orders", 2), Admission::Allowed);
        assert_eq!(w.rejected(), 1);
    }
}
