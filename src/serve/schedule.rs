//! When a flow runs: every interval, or on a cron expression (the `cron`
//! crate: six fields, seconds first, UTC), plus a random jitter so that
//! many flows on one schedule do not all start in the same second.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron(Box<cron::Schedule>),
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Schedule::Every(a), Schedule::Every(b)) => a == b,
            (Schedule::Cron(a), Schedule::Cron(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

impl Schedule {
    pub fn cron(expression: &str) -> Result<Schedule, String> {
        cron::Schedule::from_str(expression.trim())
            .map(|s| Schedule::Cron(Box::new(s)))
            .map_err(|e| e.to_string())
    }

    /// The next run after `after` (which is usually now or the end of the
    /// last run), before jitter. An interval counts from `after`: a run that
    /// took longer than the interval is followed by the next one at once
    /// less nothing, never by a burst of missed ones.
    pub fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Schedule::Every(d) => {
                after + chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX / 2)
            }
            // A cron expression with no future time (a year in the past) never runs again.
            Schedule::Cron(c) => c.after(&after).next().unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// [`Schedule::next_after`] plus a random jitter in `[0, jitter]`.
    pub fn next_with_jitter(
        &self,
        after: DateTime<Utc>,
        jitter: Duration,
        rng: &mut impl Rng,
    ) -> DateTime<Utc> {
        let base = self.next_after(after);
        let millis = jitter.as_millis().min(u64::MAX as u128) as u64;
        let extra = if millis == 0 {
            0
        } else {
            rng.gen_range(0..=millis)
        };
        base.checked_add_signed(chrono::Duration::milliseconds(extra as i64))
            .unwrap_or(base)
    }

    /// For people: `every 15m` or `cron 0 */15 * * * *`.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Every(d) => format!("every {}", humantime::format_duration(*d)),
            Schedule::Cron(c) => format!("cron {c}"),
        }
    }
}

/// When a flow should run first after serve starts: the time stored by
/// the previous process if there is one (a missed time runs now, once),
/// else now: a flow just configured is brought up to date at once.
pub fn first_run(stored: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    match stored {
        Some(at) => at.max(now),
        None => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn an_interval_counts_from_the_given_time() {
        let s = Schedule::Every(Duration::from_secs(900));
        assert_eq!(
            s.next_after(at("2026-01-01T10:07:00Z")),
            at("2026-01-01T10:22:00Z")
        );
    }

    #[test]
    fn cron_gives_the_next_matching_second_in_utc() {
        let s = Schedule::cron("0 */15 * * * *").unwrap();
        assert_eq!(
            s.next_after(at("2026-01-01T10:07:00Z")),
            at("2026-01-01T10:15:00Z")
        );
        assert_eq!(
            s.next_after(at("2026-01-01T10:15:00Z")),
            at("2026-01-01T10:30:00Z")
        );
        let nightly = Schedule::cron("0 30 2 * * *").unwrap();
        assert_eq!(
            nightly.next_after(at("2026-01-01T10:07:00Z")),
            at("2026-01-02T02:30:00Z")
        );
        assert!(Schedule::cron("every day").is_err());
        assert!(Schedule::cron("61 * * * * *").is_err());
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_spreads() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let s = Schedule::Every(Duration::from_secs(60));
        let from = at("2026-01-01T10:00:00Z");
        let base = at("2026-01-01T10:01:00Z");
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let t = s.next_with_jitter(from, Duration::from_secs(10), &mut rng);
            assert!(
                t >= base && t <= base + chrono::Duration::seconds(10),
                "{t}"
            );
            seen.insert((t - base).num_seconds());
        }
        // Whole seconds into the window: 0 to 9 (10 only at its very end).
        assert!(seen.len() >= 10, "the whole window is used: {seen:?}");
        assert_eq!(s.next_with_jitter(from, Duration::ZERO, &mut rng), base);
    }

    #[test]
    fn a_stored_next_run_survives_and_a_missed_one_runs_now() {
        let now = at("2026-01-01T10:00:00Z");
        let later = at("2026-01-01T10:40:00Z");
        assert_eq!(first_run(Some(later), now), later);
        let missed = at("2026-01-01T08:00:00Z");
        assert_eq!(first_run(Some(missed), now), now);
        assert_eq!(first_run(None, now), now);
    }
}
