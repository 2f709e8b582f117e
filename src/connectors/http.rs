//! What every HTTP connector shares: client-side rate budgets that keep a
//! run under the service's limits, retries with exponential backoff and full
//! jitter that honour the service's "try again in N seconds", and call
//! statistics for the run summary.
//!
//! Only requests that certainly had no effect are retried here (reads, and
//! writes answered 429 or refused before sending). A write whose outcome is
//! unknown is returned to the engine, which searches before writing again.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use super::error::{ConnectorError, ErrorClass};

/// Sliding one-minute windows per key ("GET orders", "POST customers"):
/// at most `limit` requests in ANY window, which also keeps every fixed
/// minute window of the service under its limit.
#[derive(Debug)]
pub struct RateBudget {
    windows: Mutex<HashMap<String, VecDeque<Duration>>>,
    window: Duration,
}

impl Default for RateBudget {
    fn default() -> Self {
        Self::with_window(Duration::from_secs(60))
    }
}

impl RateBudget {
    pub fn new() -> Self {
        Self::default()
    }

    /// A window other than a minute: a little longer guards against a
    /// request counted by the service in the next minute than the client's.
    pub fn with_window(window: Duration) -> Self {
        RateBudget {
            windows: Mutex::new(HashMap::new()),
            window,
        }
    }

    /// How long to wait before a request on `key` fits the budget; when the
    /// answer is zero the request is counted.
    pub fn reserve(&self, key: &str, limit: u32) -> Duration {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.reserve_at(key, limit, now)
    }

    /// [`RateBudget::reserve`] on a clock of the caller's (time since the epoch).
    pub fn reserve_at(&self, key: &str, limit: u32, now: Duration) -> Duration {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = windows.entry(key.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= self.window)
        {
            window.pop_front();
        }
        if (window.len() as u32) < limit.max(1) {
            window.push_back(now);
            return Duration::ZERO;
        }
        let oldest = window.front().copied().unwrap_or(now);
        (oldest + self.window).saturating_sub(now) + Duration::from_millis(5)
    }
}

/// How often and how patiently to retry.
#[derive(Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// Never wait longer than this for one rate-limit window (the run's time
    /// budget is the engine's concern).
    pub max_wait: Duration,
    /// Sleeps; tests replace it to skip real waiting.
    pub sleep: Arc<dyn Fn(Duration) + Send + Sync>,
}

impl std::fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("base", &self.base)
            .field("cap", &self.cap)
            .finish()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            max_wait: Duration::from_secs(65),
            sleep: Arc::new(std::thread::sleep),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a random wait between zero and the exponential ceiling.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(if millis == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=millis)
        })
    }

    /// The wait before attempt `attempt + 1` after `error`, or `None` to give up.
    pub fn next_wait(
        &self,
        attempt: u32,
        error: &ConnectorError,
        idempotent: bool,
    ) -> Option<Duration> {
        if attempt + 1 >= self.max_attempts {
            return None;
        }
        let safe = idempotent
            || (error.class == ErrorClass::RateLimited)
            || (error.class == ErrorClass::Connection && !error.outcome_unknown);
        if !safe || !error.is_transient() {
            return None;
        }
        let wait = match error.retry_after {
            Some(told) => told,
            None => self.backoff(attempt),
        };
        (wait <= self.max_wait).then_some(wait)
    }
}

/// Counts of calls made, for summaries and the acceptance figures.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CallStats {
    /// "GET orders" → calls, including retries.
    pub calls: BTreeMap<String, u64>,
    pub total: u64,
    pub retries: u64,
    pub rate_limited: u64,
    /// Time spent waiting for the client-side budget, in milliseconds.
    pub budget_wait_ms: u64,
    /// "GET orders" → answers 429 (for `/metrics`; the summary counts the total).
    #[serde(skip)]
    pub rate_limited_by: BTreeMap<String, u64>,
    /// "GET orders" → how long each attempt took (for `/metrics`).
    #[serde(skip)]
    pub latency: BTreeMap<String, Latency>,
}

/// Upper bounds of the latency histogram's buckets, in seconds (Prometheus'
/// defaults: from a fast local answer to a slow page of a remote API).
pub const LATENCY_BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram of request durations: counts per bucket of [`LATENCY_BOUNDS`]
/// (each counts the requests up to its bound, not cumulative), the total
/// count and the sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    pub buckets: [u64; LATENCY_BOUNDS.len()],
    pub count: u64,
    pub sum: Duration,
}

impl Latency {
    pub fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BOUNDS.iter().position(|b| secs <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += d;
    }

    fn merge(&mut self, other: &Latency) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
    }

    fn since(&self, earlier: &Latency) -> Latency {
        let mut buckets = self.buckets;
        for (a, b) in buckets.iter_mut().zip(earlier.buckets) {
            *a -= b;
        }
        Latency {
            buckets,
            count: self.count - earlier.count,
            sum: self.sum.saturating_sub(earlier.sum),
        }
    }
}

impl CallStats {
    /// The calls made since `earlier` was taken (a run on connections that
    /// earlier runs of the same session used too).
    pub fn since(&self, earlier: &CallStats) -> CallStats {
        CallStats {
            calls: self
                .calls
                .iter()
                .map(|(k, v)| (k.clone(), v - earlier.calls.get(k).copied().unwrap_or(0)))
                .filter(|(_, v)| *v > 0)
                .collect(),
            total: self.total - earlier.total,
            retries: self.retries - earlier.retries,
            rate_limited: self.rate_limited - earlier.rate_limited,
            budget_wait_ms: self.budget_wait_ms - earlier.budget_wait_ms,
            rate_limited_by: self
                .rate_limited_by
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v - earlier.rate_limited_by.get(k).copied().unwrap_or(0),
                    )
                })
                .filter(|(_, v)| *v > 0)
                .collect(),
            latency: self
                .latency
                .iter()
                .map(|(k, v)| match earlier.latency.get(k) {
                    Some(e) => (k.clone(), v.since(e)),
                    None => (k.clone(), v.clone()),
                })
                .filter(|(_, v)| v.count > 0)
                .collect(),
        }
    }

    pub fn merge(&mut self, other: &CallStats) {
        for (k, v) in &other.calls {
            *self.calls.entry(k.clone()).or_default() += v;
        }
        self.total += other.total;
        self.retries += other.retries;
        self.rate_limited += other.rate_limited;
        self.budget_wait_ms += other.budget_wait_ms;
        for (k, v) in &other.rate_limited_by {
            *self.rate_limited_by.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.latency {
            self.latency.entry(k.clone()).or_default().merge(v);
        }
    }
}

/// Shared, thread-safe call accounting.
#[derive(Debug, Default)]
pub struct StatsCell(Mutex<CallStats>);

impl StatsCell {
    pub fn call(&self, key: &str) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *s.calls.entry(key.to_string()).or_default() += 1;
        s.total += 1;
    }
    pub fn retry(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).retries += 1;
    }
    pub fn rate_limited(&self, key: &str) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.rate_limited += 1;
        *s.rate_limited_by.entry(key.to_string()).or_default() += 1;
    }
    pub fn took(&self, key: &str, d: Duration) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match s.latency.get_mut(key) {
            Some(l) => l.observe(d),
            None => {
                let mut l = Latency::default();
                l.observe(d);
                s.latency.insert(key.to_string(), l);
            }
        }
    }
    pub fn waited(&self, d: Duration) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .budget_wait_ms += d.as_millis() as u64;
    }
    pub fn snapshot(&self) -> CallStats {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs `attempt` under a rate budget with retries.
///
/// `key` names the budget and the statistic ("GET orders"); `limit` is the
/// budget per minute; `idempotent` says whether a transient failure may be
/// retried blindly.
pub fn with_retries<T>(
    budget: &RateBudget,
    stats: &StatsCell,
    policy: &RetryPolicy,
    key: &str,
    limit: u32,
    idempotent: bool,
    mut attempt: impl FnMut() -> Result<T, ConnectorError>,
) -> Result<T, ConnectorError> {
    let mut n = 0;
    loop {
        loop {
            let wait = budget.reserve(key, limit);
            if wait.is_zero() {
                break;
            }
            stats.waited(wait);
            (policy.sleep)(wait);
        }
        stats.call(key);
        let started = std::time::Instant::now();
        let result = attempt();
        stats.took(key, started.elapsed());
        match result {
            Ok(v) => return Ok(v),
            Err(e) => {
                if e.class == ErrorClass::RateLimited {
                    stats.rate_limited(key);
                }
                match policy.next_wait(n, &e, idempotent) {
                    Some(wait) => {
                        stats.retry();
                        (policy.sleep)(wait);
                        n += 1;
                    }
                    None => return Err(e),
                }
            }
        }
    }
}

/// The most bytes flowc reads of one answer. A page of 500 records is a few
/// megabytes; an answer larger than this is refused instead of filling memory.
pub const MAX_BODY_BYTES: u64 = 64 << 20;

/// Reads an answer's body, refusing one larger than `cap` bytes. A body
/// that breaks off is a transport failure; after a write (`write`) whether
/// it was applied is then unknown.
pub fn read_body(
    body: impl std::io::Read,
    cap: u64,
    what: &str,
    write: bool,
) -> Result<Vec<u8>, ConnectorError> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(body, cap + 1), &mut out).map_err(|e| {
        let timeout = e.kind() == std::io::ErrorKind::TimedOut
            || e.get_ref()
                .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
                .is_some_and(reqwest::Error::is_timeout);
        let class = if timeout {
            ErrorClass::Timeout
        } else {
            ErrorClass::Connection
        };
        let mut err = ConnectorError::new(
            class,
            format!(
                "{what}: reading the answer: {}",
                super::redact::scrub(&e.to_string())
            ),
        );
        err.outcome_unknown = write;
        err
    })?;
    if out.len() as u64 > cap {
        let mut err = ConnectorError::new(
            ErrorClass::Protocol,
            format!(
                "{what}: the answer is larger than {} MiB; flowc does not read it (ask for smaller pages)",
                cap >> 20
            ),
        );
        err.outcome_unknown = write;
        return Err(err);
    }
    Ok(out)
}

/// A `Retry-After` header: seconds, or an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Classifies a transport failure from reqwest. `sent` says whether the
/// request may have reached the service (then a write's outcome is unknown).
pub fn transport_error(e: &reqwest::Error, what: &str) -> ConnectorError {
    let class = if e.is_timeout() {
        ErrorClass::Timeout
    } else {
        ErrorClass::Connection
    };
    let mut err = ConnectorError::new(class, format!("{what}: {}", describe_reqwest(e)));
    // A connect error means nothing was sent; anything else may have been applied.
    if !e.is_connect() {
        err = err.unknown_outcome();
    }
    err
}

/// The error and its causes, without the URL (its query string may carry
/// search values such as an e-mail address).
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    super::redact::scrub(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn no_sleep() -> RetryPolicy {
        RetryPolicy {
            sleep: Arc::new(|_| {}),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn budget_allows_the_limit_then_asks_to_wait() {
        let b = RateBudget::new();
        for _ in 0..3 {
            assert_eq!(b.reserve("GET x", 3), Duration::ZERO);
        }
        let wait = b.reserve("GET x", 3);
        assert!(
            wait > Duration::from_secs(59) && wait <= Duration::from_secs(61),
            "{wait:?}"
        );
        assert_eq!(
            b.reserve("GET y", 3),
            Duration::ZERO,
            "keys are independent"
        );
    }

    #[test]
    fn reads_retry_transient_errors_but_writes_with_unknown_outcome_do_not() {
        let (budget, stats, policy) = (RateBudget::new(), StatsCell::default(), no_sleep());
        let tries = AtomicU32::new(0);
        let r: Result<u32, _> = with_retries(&budget, &stats, &policy, "GET x", 100, true, || {
            if tries.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(ConnectorError::new(ErrorClass::Server, "boom").with_status(503))
            } else {
                Ok(7)
            }
        });
        assert_eq!(r.unwrap(), 7);
        assert_eq!(stats.snapshot().retries, 2);

        let tries = AtomicU32::new(0);
        let r: Result<u32, _> =
            with_retries(&budget, &stats, &policy, "POST x", 100, false, || {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(ConnectorError::new(ErrorClass::Connection, "reset").unknown_outcome())
            });
        assert!(r.unwrap_err().outcome_unknown);
        assert_eq!(
            tries.load(Ordering::SeqCst),
            1,
            "never blindly repeat a write that may have happened"
        );
    }

    #[test]
    fn rate_limited_writes_are_retried_after_the_told_wait() {
        let waits = Arc::new(Mutex::new(Vec::new()));
        let w = waits.clone();
        let policy = RetryPolicy {
            sleep: Arc::new(move |d| w.lock().unwrap().push(d)),
            ..RetryPolicy::default()
        };
        let (budget, stats) = (RateBudget::new(), StatsCell::default());
        let tries = AtomicU32::new(0);
        let r: Result<(), _> = with_retries(&budget, &stats, &policy, "POST x", 100, false, || {
            if tries.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(ConnectorError::new(ErrorClass::RateLimited, "slow down")
                    .with_retry_after(Duration::from_secs(7)))
            } else {
                Ok(())
            }
        });
        assert!(r.is_ok());
        assert_eq!(*waits.lock().unwrap(), vec![Duration::from_secs(7)]);
        assert_eq!(stats.snapshot().rate_limited, 1);
    }

    #[test]
    fn bodies_are_read_up_to_a_cap() {
        let body = [b'x'; 100];
        assert_eq!(
            read_body(&body[..], 100, "GET x", false).unwrap().len(),
            100
        );
        let e = read_body(&body[..], 99, "GET x", false).unwrap_err();
        assert_eq!(e.class, ErrorClass::Protocol);
        assert!(!e.outcome_unknown);
        assert!(
            read_body(&body[..], 99, "POST x", true)
                .unwrap_err()
                .outcome_unknown
        );
    }

    #[test]
    fn retry_after_headers_are_seconds_or_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past");
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        h.insert(reqwest::header::RETRY_AFTER, soon.parse().unwrap());
        let wait = retry_after(&h).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }

    #[test]
    fn permanent_errors_are_not_retried() {
        let (budget, stats, policy) = (RateBudget::new(), StatsCell::default(), no_sleep());
        let r: Result<(), _> = with_retries(&budget, &stats, &policy, "GET x", 100, true, || {
            Err(ConnectorError::new(ErrorClass::Validation, "bad").with_status(400))
        });
        assert_eq!(r.unwrap_err().class, ErrorClass::Validation);
        assert_eq!(stats.snapshot().total, 1);
    }
}
