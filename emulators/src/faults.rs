//! Fault injection shared by both emulators.
//!
//! Tests (and `flowc sandbox --chaos`) ask an emulator to misbehave on purpose:
//! answer 429 or 5xx, answer slowly, or apply a write and then drop the
//! connection so that the client never learns the outcome. Faults are either
//! scripted (a queue of rules consumed in order) or random with a seed, so
//! every failing test can be replayed exactly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One kind of misbehaviour.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer 429 with the service's own rate-limit body, without running the handler.
    RateLimited,
    /// Answer this 5xx status without running the handler.
    ServerError(u16),
    /// Wait this long before handling the request normally.
    Slow(Duration),
    /// Run the handler (the write is applied), then drop the connection
    /// instead of sending the response: the client cannot know what happened.
    DropResponseAfterWrite,
}

/// Which requests a scripted fault applies to.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// `None` matches every method.
    pub method: Option<Method>,
    /// The request path must contain this text (case-insensitive); empty matches all.
    pub path_contains: String,
}

impl Matcher {
    pub fn any() -> Self {
        Self::default()
    }
    pub fn new(method: Method, path_contains: &str) -> Self {
        Self {
            method: Some(method),
            path_contains: path_contains.to_ascii_lowercase(),
        }
    }
    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && (self.path_contains.is_empty()
                || path.to_ascii_lowercase().contains(&self.path_contains))
    }
}

/// A scripted fault: applies to the next `times` matching requests.
#[derive(Debug, Clone)]
pub struct Rule {
    pub matcher: Matcher,
    pub writes_only: bool,
    pub fault: Fault,
    pub times: u32,
}

/// Random faults: each request draws once; probabilities are per mille.
#[derive(Debug, Clone)]
pub struct Chaos {
    pub seed: u64,
    pub rate_limited_per_mille: u32,
    pub server_error_per_mille: u32,
    pub slow_per_mille: u32,
    pub slow_by: Duration,
    /// Only applied to writes (POST/PUT/PATCH/DELETE).
    pub drop_after_write_per_mille: u32,
}

#[derive(Debug, Default)]
struct Inner {
    rules: Vec<Rule>,
    chaos: Option<(Chaos, StdRng)>,
    /// Latency added to every request (the benchmark's "20 ms per request").
    base_latency: Duration,
    injected: u64,
}

/// Handle shared between an emulator's router and the test that drives it.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<Inner>>,
}

pub fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply `fault` to the next `times` requests matching `matcher`.
    pub fn push(&self, matcher: Matcher, fault: Fault, times: u32) {
        self.lock().rules.push(Rule {
            matcher,
            writes_only: false,
            fault,
            times,
        });
    }

    /// Apply `fault` to the next `times` writes (POST/PUT/PATCH/DELETE) to any path.
    pub fn push_on_writes(&self, fault: Fault, times: u32) {
        self.lock().rules.push(Rule {
            matcher: Matcher::any(),
            writes_only: true,
            fault,
            times,
        });
    }

    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.lock().chaos = chaos.map(|c| {
            let rng = StdRng::seed_from_u64(c.seed);
            (c, rng)
        });
    }

    pub fn set_base_latency(&self, latency: Duration) {
        self.lock().base_latency = latency;
    }

    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.rules.clear();
        inner.chaos = None;
    }

    /// How many faults have been injected so far.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock can only come from a bug in a test;
        // the data (a list of rules) stays consistent, so keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decide what happens to one request. Returns the base latency and at most one fault.
    pub fn draw(&self, method: &Method, path: &str) -> (Duration, Option<Fault>) {
        let mut inner = self.lock();
        let latency = inner.base_latency;
        let write = is_write(method);
        if let Some(pos) = inner
            .rules
            .iter()
            .position(|r| r.matcher.matches(method, path) && (!r.writes_only || write))
        {
            let rule = &mut inner.rules[pos];
            let fault = rule.fault.clone();
            rule.times = rule.times.saturating_sub(1);
            if rule.times == 0 {
                inner.rules.remove(pos);
            }
            inner.injected += 1;
            return (latency, Some(fault));
        }
        let mut drawn = None;
        if let Some((chaos, rng)) = inner.chaos.as_mut() {
            let roll: u32 = rng.gen_range(0..1000);
            let mut edge = chaos.rate_limited_per_mille;
            if roll < edge {
                drawn = Some(Fault::RateLimited);
            } else if roll < {
                edge += chaos.server_error_per_mille;
                edge
            } {
                drawn = Some(Fault::ServerError(if roll.is_multiple_of(2) {
                    500
                } else {
                    503
                }));
            } else if roll < {
                edge += chaos.slow_per_mille;
                edge
            } {
                drawn = Some(Fault::Slow(chaos.slow_by));
            } else if write && roll < edge + chaos.drop_after_write_per_mille {
                drawn = Some(Fault::DropResponseAfterWrite);
            }
        }
        if drawn.is_some() {
            inner.injected += 1;
        }
        (latency, drawn)
    }
}

/// How each service words its own fault responses.
pub trait FaultResponses: Clone + Send + Sync + 'static {
    fn rate_limited(&self) -> Response;
    fn server_error(&self, status: u16) -> Response;
}

/// State for [`middleware`]: the fault handle plus the service's wording.
#[derive(Clone)]
pub struct FaultLayerState<R: FaultResponses> {
    pub faults: Faults,
    pub responses: R,
}

/// axum middleware that applies [`Faults`] around every request.
pub async fn middleware<R: FaultResponses>(
    State(state): State<FaultLayerState<R>>,
    request: Request,
    next: Next,
) -> Response {
    let (latency, fault) = state.faults.draw(request.method(), request.uri().path());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        None => next.run(request).await,
        Some(Fault::RateLimited) => state.responses.rate_limited(),
        Some(Fault::ServerError(status)) => state.responses.server_error(status),
        Some(Fault::Slow(by)) => {
            tokio::time::sleep(by).await;
            next.run(request).await
        }
        Some(Fault::DropResponseAfterWrite) => {
            let response = next.run(request).await;
            drop(response);
            dropped_connection()
        }
    }
}

/// A response whose body fails half-way: hyper then aborts the connection,
/// so the client sees a transport error although the handler ran. Public so
/// that outer layers which buffer bodies (e.g. response signing) can
/// re-create the failure after their buffering hits it.
pub fn dropped_connection() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fault injected: response dropped after write",
        ))
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        axum::http::header::CONTENT_LENGTH,
        axum::http::HeaderValue::from_static("64"),
    );
    response.into_response()
}
