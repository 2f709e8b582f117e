//! A strict, in-process emulator of the CCV Shop REST API (`/api/rest/v1`).
//!
//! It verifies request signatures exactly as the real shop does, signs its
//! responses, pages with absolute `next` links, enforces per-minute limits and
//! rejects anything it does not understand with CCV's error shape. Being
//! stricter than the real API is deliberate: every laxity here is a bug a
//! user would meet first.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use flowc_emulators::ccvshop::{start, CcvShopConfig};
//! let shop = start(CcvShopConfig::default()).await?;
//! let api = format!("{}/api/rest/v1", shop.base_url());
//! # let _ = api; Ok(()) }
//! ```
//!
//! Request flow: count (per method + path template) → sign the response →
//! fault injection → authenticate → route (404/405) → rate limits (429) →
//! resource handler.

pub mod auth;
pub mod categories;
pub mod collections;
pub mod errors;
pub mod generate;
pub mod input;
pub mod misc;
pub mod orders;
pub mod products;
pub mod signing;
pub mod store;
pub mod webhooks;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use self::collections::{Paging, Query};
use self::errors::{ApiError, CcvFaultResponses};
use self::signing::Credentials;
use self::store::{SeedData, Store, WebhookDelivery};
use crate::faults::{self, FaultLayerState, Faults};
use crate::ratelimit::{Admission, MinuteWindows};

/// The API prefix every resource lives under.
pub const API_PREFIX: &str = "/api/rest/v1";

/// Largest request body accepted; CCV documents a "payload too big" error.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Per-minute limits (API notes §5). All can be changed per emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// GET per resource per minute.
    pub get_per_minute: u32,
    /// Each of POST/PUT/PATCH/DELETE per resource per minute.
    pub write_per_minute: u32,
    /// GET /productqueries per minute.
    pub productqueries_per_minute: u32,
    /// All authenticated requests together per minute (the value CCV uses is
    /// unknown; 1,000 leaves room for the documented per-resource limits).
    pub total_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            get_per_minute: 150,
            write_per_minute: 100,
            productqueries_per_minute: 30,
            total_per_minute: 1_000,
        }
    }
}

/// What the shop holds at start.
#[derive(Debug, Clone, PartialEq)]
pub enum SeedSource {
    /// Settings, payment methods, users and categories only.
    Base,
    /// The base plus a few hand-written products and orders with edge cases.
    Sample,
    /// The base plus deterministic synthetic data.
    Generated {
        orders: usize,
        products: usize,
        seed: u64,
    },
    /// Exactly this data.
    Custom(SeedData),
}

#[derive(Clone)]
pub struct CcvShopConfig {
    pub public_key: String,
    pub secret_key: String,
    /// 0 picks a free port.
    pub port: u16,
    pub data: SeedSource,
    pub limits: RateLimitConfig,
    /// Largest accepted difference between `x-date` and the real clock.
    pub max_clock_skew: Duration,
    pub default_page_size: u32,
    pub max_page_size: u32,
    /// POST webhook events to registered (loopback) addresses.
    pub deliver_webhooks: bool,
}

impl Default for CcvShopConfig {
    fn default() -> Self {
        Self {
            // Real keys are 32 characters and may contain `! ^ * _ -`
            // (API notes §1.1); using such characters here catches clients
            // that escape or trim the key.
            public_key: "flowcEmuPublic_Key-0000^0000*001".to_string(),
            secret_key: "flowcEmuSecret!Key_0000^0000*001".to_string(),
            port: 0,
            data: SeedSource::Sample,
            limits: RateLimitConfig::default(),
            max_clock_skew: Duration::from_secs(5 * 60),
            default_page_size: 25,
            max_page_size: 250,
            deliver_webhooks: true,
        }
    }
}

impl fmt::Debug for CcvShopConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CcvShopConfig")
            .field("public_key", &self.public_key)
            .field("secret_key", &"<redacted>")
            .field("port", &self.port)
            .field("data", &self.data)
            .field("limits", &self.limits)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("default_page_size", &self.default_page_size)
            .field("max_page_size", &self.max_page_size)
            .field("deliver_webhooks", &self.deliver_webhooks)
            .finish()
    }
}

/// State shared by every request of one emulator.
pub(crate) struct App {
    base_url: String,
    api_root: String,
    credentials: Credentials,
    config: CcvShopConfig,
    /// Shared with background webhook deliveries, which record their outcome.
    store: Arc<Mutex<Store>>,
    limits: MinuteWindows,
    faults: Faults,
    counters: Mutex<BTreeMap<String, u64>>,
    http: reqwest::Client,
}

impl App {
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        // A handler never panics while holding the lock, and the data stays
        // consistent between statements, so a poisoned lock is still usable.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn shared_store(&self) -> Arc<Mutex<Store>> {
        self.store.clone()
    }

    fn counters(&self) -> MutexGuard<'_, BTreeMap<String, u64>> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Absolute URL of a resource path relative to the API root, with the
    /// trailing slash the docs use, e.g. `url("orders/5")`.
    pub(crate) fn url(&self, relative: &str) -> String {
        format!("{}/{relative}/", self.api_root)
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Json(StatusCode, Value),
    /// 204 with an empty body (PATCH, PUT, DELETE).
    NoContent,
}

impl Reply {
    pub fn ok(v: Value) -> Self {
        Reply::Json(StatusCode::OK, v)
    }
    pub fn created(v: Value) -> Self {
        Reply::Json(StatusCode::CREATED, v)
    }
}

/// Everything a resource handler gets.
pub struct Ctx<'a> {
    pub(crate) app: &'a App,
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub query: Query,
    pub body: &'a [u8],
    /// The `{id}` segments of the path, in order.
    pub ids: Vec<i64>,
}

impl Ctx<'_> {
    pub fn id(&self, n: usize) -> i64 {
        self.ids.get(n).copied().unwrap_or(0)
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.app.store()
    }

    pub fn url(&self, relative: &str) -> String {
        self.app.url(relative)
    }

    pub fn paging(&self) -> Result<Paging, ApiError> {
        Paging::from_query(
            &self.query,
            self.app.config.default_page_size,
            self.app.config.max_page_size,
        )
    }

    pub fn object(&self) -> Result<Map<String, Value>, ApiError> {
        input::parse_object(self.headers, self.body)
    }
}

type Handler = fn(&Ctx) -> Result<Reply, ApiError>;

struct RouteDef {
    /// Relative to the API root, without slashes at either end; `{id}` is a
    /// positive integer segment.
    template: &'static str,
    methods: &'static [(&'static str, Handler)],
}

impl RouteDef {
    /// The collection name the rate limit is counted against: the last
    /// literal segment, so `orders/{id}/orderrows` counts as `orderrows`.
    fn resource(&self) -> &'static str {
        self.template
            .rsplit('/')
            .find(|s| *s != "{id}")
            .filter(|s| !s.is_empty())
            .unwrap_or("root")
    }
}

static ROUTES: &[RouteDef] = &[
    RouteDef {
        template: "",
        methods: &[("GET", misc::root as Handler)],
    },
    RouteDef {
        template: "orders",
        methods: &[("GET", orders::list as Handler), ("POST", orders::create)],
    },
    RouteDef {
        template: "orders/{id}",
        methods: &[("GET", orders::get as Handler), ("PATCH", orders::patch)],
    },
    RouteDef {
        template: "orders/{id}/orderrows",
        methods: &[("GET", orders::rows_of_order as Handler)],
    },
    RouteDef {
        template: "orderrows/{id}",
        methods: &[("GET", orders::row as Handler)],
    },
    RouteDef {
        template: "products",
        methods: &[
            ("GET", products::list as Handler),
            ("POST", products::create),
        ],
    },
    RouteDef {
        template: "products/{id}",
        methods: &[
            ("GET", products::get as Handler),
            ("PATCH", products::patch),
            ("DELETE", products::delete),
        ],
    },
    RouteDef {
        template: "products/{id}/producttocategories",
        methods: &[("GET", categories::links_of_product as Handler)],
    },
    RouteDef {
        template: "productqueries",
        methods: &[("GET", products::query as Handler)],
    },
    RouteDef {
        template: "categories",
        methods: &[
            ("GET", categories::list as Handler),
            ("POST", categories::create),
        ],
    },
    RouteDef {
        template: "categories/{id}",
        methods: &[
            ("GET", categories::get as Handler),
            ("PATCH", categories::patch),
            ("DELETE", categories::delete),
        ],
    },
    RouteDef {
        template: "categories/{id}/categories",
        methods: &[("GET", categories::children as Handler)],
    },
    RouteDef {
        template: "categories/{id}/products",
        methods: &[("GET", products::of_category as Handler)],
    },
    RouteDef {
        template: "categories/{id}/producttocategories",
        methods: &[("GET", categories::links_of_category as Handler)],
    },
    RouteDef {
        template: "producttocategories",
        methods: &[
            ("GET", categories::links as Handler),
            ("POST", categories::create_link),
        ],
    },
    RouteDef {
        template: "producttocategories/{id}",
        methods: &[
            ("GET", categories::link as Handler),
            ("DELETE", categories::delete_link),
        ],
    },
    RouteDef {
        template: "paymethods",
        methods: &[("GET", misc::paymethods as Handler)],
    },
    RouteDef {
        template: "users",
        methods: &[("GET", misc::users as Handler)],
    },
    RouteDef {
        template: "users/{id}",
        methods: &[("GET", misc::user as Handler)],
    },
    RouteDef {
        template: "webshops",
        methods: &[("GET", misc::webshops as Handler)],
    },
    RouteDef {
        template: "webshops/{id}",
        methods: &[("GET", misc::webshop as Handler)],
    },
    RouteDef {
        template: "webshops/{id}/settings",
        methods: &[("GET", misc::settings as Handler)],
    },
    RouteDef {
        template: "webhooks",
        methods: &[
            ("GET", webhooks::list as Handler),
            ("POST", webhooks::create),
        ],
    },
    RouteDef {
        template: "webhooks/{id}",
        methods: &[
            ("GET", webhooks::get as Handler),
            ("PATCH", webhooks::patch),
            ("DELETE", webhooks::delete),
        ],
    },
];

/// Top-level collections, for the root listing.
pub(crate) fn top_level_resources() -> impl Iterator<Item = &'static str> {
    ROUTES
        .iter()
        .map(|r| r.template)
        .filter(|t| !t.is_empty() && !t.contains('/'))
}

/// Match a request path to a route, collecting the `{id}` values.
fn match_route(path: &str) -> Option<(&'static RouteDef, Vec<i64>)> {
    let rest = path.strip_prefix(API_PREFIX)?;
    let rest = match rest {
        "" | "/" => "",
        r => {
            let r = r.strip_prefix('/')?;
            r.strip_suffix('/').unwrap_or(r)
        }
    };
    let segments: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    'routes: for route in ROUTES {
        let pattern: Vec<&str> = if route.template.is_empty() {
            Vec::new()
        } else {
            route.template.split('/').collect()
        };
        if pattern.len() != segments.len() {
            continue;
        }
        let mut ids = Vec::new();
        for (p, s) in pattern.iter().zip(&segments) {
            if *p == "{id}" {
                match parse_id(s) {
                    Some(id) => ids.push(id),
                    None => continue 'routes,
                }
            } else if p != s {
                continue 'routes;
            }
        }
        return Some((route, ids));
    }
    None
}

fn parse_id(segment: &str) -> Option<i64> {
    if segment.is_empty() || segment.len() > 18 || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    segment.parse::<i64>().ok().filter(|id| *id > 0)
}

/// `"GET /orders/{id}"`-style counter key; unmatched paths are counted as `<unknown>`.
fn counter_key(method: &Method, path: &str) -> String {
    match match_route(path) {
        Some((route, _)) => format!("{} /{}", method.as_str(), route.template),
        None => format!("{} <unknown>", method.as_str()),
    }
}

/// Outermost layer: count the call, then sign whatever answer comes back.
async fn count_and_sign(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    *app.counters()
        .entry(counter_key(&method, request.uri().path()))
        .or_insert(0) += 1;

    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        // The fault layer dropped the response on purpose; keep it dropped.
        Err(_) => return faults::dropped_connection(),
    };
    let x_date = signing::format_x_date(Utc::now());
    let x_hash = app.credentials.hash(method.as_str(), &uri, &bytes, &x_date);
    if let (Ok(d), Ok(h)) = (
        HeaderValue::from_str(&x_date),
        HeaderValue::from_str(&x_hash),
    ) {
        parts.headers.insert(signing::HEADER_DATE, d);
        parts.headers.insert(signing::HEADER_HASH, h);
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return ApiError::payload_too_big().into_response(),
    };
    match dispatch(&app, &parts.method, &parts.uri, &parts.headers, &bytes) {
        Ok(Reply::Json(status, value)) => errors::json_response(status, &value),
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

fn dispatch(
    app: &App,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let path_and_query = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    auth::authenticate(app, method, path_and_query, headers, body)?;

    let (route, ids) = match_route(uri.path()).ok_or_else(ApiError::unknown_resource)?;
    let handler = route
        .methods
        .iter()
        .find(|(m, _)| *m == method.as_str())
        .map(|(_, h)| *h)
        .ok_or_else(ApiError::method_not_allowed)?;

    check_limits(app, method, route)?;

    let query = Query::parse(uri.query())?;
    let ctx = Ctx {
        app,
        method,
        headers,
        query,
        body,
        ids,
    };
    handler(&ctx)
}

fn check_limits(app: &App, method: &Method, route: &RouteDef) -> Result<(), ApiError> {
    let cfg = &app.config.limits;
    if !cfg.enabled {
        return Ok(());
    }
    let resource = route.resource();
    let limit = match (method.as_str(), resource) {
        ("GET", "productqueries") => cfg.productqueries_per_minute,
        ("GET", _) => cfg.get_per_minute,
        _ => cfg.write_per_minute,
    };
    if let Admission::Rejected { .. } = app
        .limits
        .hit(&format!("{} {resource}", method.as_str()), limit)
    {
        return Err(ApiError::rate_limited_resource());
    }
    if let Admission::Rejected { .. } = app.limits.hit("total", cfg.total_per_minute) {
        return Err(ApiError::rate_limited_total());
    }
    Ok(())
}

fn build_router(app: Arc<App>) -> Router {
    let fault_state = FaultLayerState {
        faults: app.faults.clone(),
        responses: CcvFaultResponses,
    };
    Router::new()
        .fallback(handle)
        .with_state(app.clone())
        .layer(middleware::from_fn_with_state(
            fault_state,
            faults::middleware::<CcvFaultResponses>,
        ))
        .layer(middleware::from_fn_with_state(app, count_and_sign))
}

fn initial_store(data: &SeedSource) -> Result<Store, String> {
    let seed = match data {
        SeedSource::Base => SeedData::base().map_err(|e| e.to_string())?,
        SeedSource::Sample => SeedData::sample().map_err(|e| e.to_string())?,
        SeedSource::Generated {
            orders,
            products,
            seed,
        } => generate::generate(*orders, *products, *seed)?,
        SeedSource::Custom(d) => d.clone(),
    };
    Store::from_seed(seed)
}

/// Handle to a running emulator. Dropping it stops the server.
pub struct CcvShopEmulator {
    addr: SocketAddr,
    app: Arc<App>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl fmt::Debug for CcvShopEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CcvShopEmulator")
            .field("base_url", &self.app.base_url)
            .finish_non_exhaustive()
    }
}

async fn bind(config: CcvShopConfig) -> std::io::Result<(TcpListener, Arc<App>)> {
    let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let store = initial_store(&config.data).map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("seed data: {e}"))
    })?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(std::io::Error::other)?;
    let base_url = format!("http://{addr}");
    let app = Arc::new(App {
        api_root: format!("{base_url}{API_PREFIX}"),
        base_url,
        credentials: Credentials::new(config.public_key.clone(), config.secret_key.clone()),
        config,
        store: Arc::new(Mutex::new(store)),
        limits: MinuteWindows::new(),
        faults: Faults::new(),
        counters: Mutex::new(BTreeMap::new()),
        http,
    });
    Ok((listener, app))
}

fn serve(
    listener: TcpListener,
    app: Arc<App>,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let router = build_router(app);
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        // A serve error means the listener died; there is no caller to tell.
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
    });
    (tx, task)
}

/// Start an emulator on `127.0.0.1` (port from the config, 0 = any free port)
/// inside the current tokio runtime.
pub async fn start(config: CcvShopConfig) -> std::io::Result<CcvShopEmulator> {
    let (listener, app) = bind(config).await?;
    let addr = listener.local_addr()?;
    let (tx, _task) = serve(listener, app.clone());
    Ok(CcvShopEmulator {
        addr,
        app,
        shutdown: Some(tx),
    })
}

/// Start an emulator on its own runtime thread, for callers without a
/// runtime (e.g. `flowc sandbox`). Dropping the handle stops it.
pub fn start_blocking(config: CcvShopConfig) -> std::io::Result<CcvShopEmulator> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("ccvshop-emulator".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                match bind(config).await {
                    Ok((listener, app)) => {
                        let addr = match listener.local_addr() {
                            Ok(a) => a,
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        };
                        let (tx, task) = serve(listener, app.clone());
                        if ready_tx
                            .send(Ok(CcvShopEmulator {
                                addr,
                                app,
                                shutdown: Some(tx),
                            }))
                            .is_ok()
                        {
                            let _ = task.await;
                        }
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
    ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("emulator thread exited before starting"))?
}

impl CcvShopEmulator {
    /// The shop root, e.g. `http://127.0.0.1:41234`; the API is under [`API_PREFIX`].
    pub fn base_url(&self) -> &str {
        &self.app.base_url
    }

    /// `base_url()` + `/api/rest/v1`.
    pub fn api_url(&self) -> &str {
        &self.app.api_root
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn public_key(&self) -> &str {
        self.app.credentials.public_key()
    }

    pub fn secret_key(&self) -> &str {
        self.app.credentials.secret_key()
    }

    pub fn config(&self) -> &CcvShopConfig {
        &self.app.config
    }

    /// Scripted or random faults for the following requests.
    pub fn faults(&self) -> &Faults {
        &self.app.faults
    }

    /// The per-minute counters; `limits().advance(60s)` skips to the next window.
    pub fn limits(&self) -> &MinuteWindows {
        &self.app.limits
    }

    /// A copy of the whole shop, for assertions.
    pub fn state(&self) -> Store {
        self.app.store().clone()
    }

    /// Change the shop directly, bypassing the API (and its webhooks).
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut self.app.store())
    }

    /// Replace all data with `data`. Webhook deliveries so far are kept.
    pub fn seed(&self, data: SeedData) -> Result<(), String> {
        let fresh = Store::from_seed(data)?;
        let mut store = self.app.store();
        let deliveries = std::mem::take(&mut store.webhook_deliveries);
        *store = fresh;
        store.webhook_deliveries = deliveries;
        Ok(())
    }

    /// Replace all data with the base seed plus deterministic synthetic
    /// orders and products.
    pub fn generate(&self, orders: usize, products: usize, seed: u64) -> Result<(), String> {
        self.seed(generate::generate(orders, products, seed)?)
    }

    /// Add one completed, paid order with exactly `rows` rows; returns its id.
    pub fn add_order_with_rows(&self, rows: usize, seed: u64) -> i64 {
        generate::add_synthetic_order(&mut self.app.store(), rows, seed)
    }

    /// Requests seen for `method` and path template, e.g.
    /// `request_count("GET", "/orders/{id}/orderrows")`; the root is `"/"`.
    /// Every request counts, including rejected and fault-injected ones.
    pub fn request_count(&self, method: &str, template: &str) -> u64 {
        let key = format!(
            "{} /{}",
            method.to_ascii_uppercase(),
            template.trim_matches('/')
        );
        self.app.counters().get(&key).copied().unwrap_or(0)
    }

    /// All counters, keyed `"GET /orders/{id}"`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.app.counters().clone()
    }

    pub fn total_requests(&self) -> u64 {
        self.app.counters().values().sum()
    }

    pub fn reset_request_counts(&self) {
        self.app.counters().clear();
    }

    /// Webhook deliveries attempted so far.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.app.store().webhook_deliveries.clone()
    }

    /// Wait until at least `count` deliveries have finished (or `timeout`).
    pub async fn wait_for_webhooks(&self, count: usize, timeout: Duration) -> Vec<WebhookDelivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let done: Vec<WebhookDelivery> = self
                .webhook_deliveries()
                .into_iter()
                .filter(|d| d.outcome.is_some())
                .collect();
            if done.len() >= count || tokio::time::Instant::now() >= deadline {
                return done;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stop accepting connections. Dropping the handle does the same.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for CcvShopEmulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A decimal as a JSON number with exactly its digits (`12.50` stays `12.50`).
pub fn num(d: Decimal) -> Value {
    d.to_string()
        .parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

pub fn opt_num(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, num)
}

/// Concatenate JSON objects, keeping key order (for resources too large for one `json!`).
pub fn merge_objects<const N: usize>(parts: [Value; N]) -> Value {
    let mut out = Map::new();
    for part in parts {
        if let Value::Object(m) = part {
            out.extend(m);
        }
    }
    Value::Object(out)
}

/// A timestamp as the API writes it: `2024-01-01T12:00:00Z`.
pub fn ts(d: DateTime<Utc>) -> Value {
    Value::String(d.to_rfc3339_opts(SecondsFormat::Secs, true))
}

pub fn opt_ts(d: Option<DateTime<Utc>>) -> Value {
    d.map_or(Value::Null, ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_and_without_trailing_slash() {
        for path in ["/api/rest/v1/orders", "/api/rest/v1/orders/"] {
            let (route, ids) = match_route(path).expect("matches");
            assert_eq!(route.template, "orders");
            assert!(ids.is_empty());
        }
        let (route, ids) = match_route("/api/rest/v1/orders/12/orderrows/").expect("matches");
        assert_eq!((route.template, ids), ("orders/{id}/orderrows", vec![12]));
        assert_eq!(route.resource(), "orderrows");
        assert_eq!(
            match_route("/api/rest/v1/").map(|(r, _)| r.template),
            Some("")
        );
        assert_eq!(
            match_route("/api/rest/v1").map(|(r, _)| r.template),
            Some("")
        );
        for bad in [
            "/api/rest/v1/orders//",
            "/api/rest/v1/orders/abc",
            "/api/rest/v1/orders/0",
            "/api/rest/v2/orders",
            "/api/rest/v1/nope",
            "/api/rest/v1orders",
        ] {
            assert!(match_route(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn numbers_keep_digits() {
        assert_eq!(
            serde_json::to_string(&num(Decimal::new(1250, 2))).ok(),
            Some("12.50".to_string())
        );
        assert_eq!(
            serde_json::to_string(&num(Decimal::new(-5, 0))).ok(),
            Some("-5".to_string())
        );
    }

    #[test]
    fn config_debug_hides_secret() {
        let c = CcvShopConfig::default();
        assert!(!format!("{c:?}").contains(&c.secret_key));
    }

    fn test_app() -> App {
        let config = CcvShopConfig {
            limits: RateLimitConfig {
                enabled: false,
                ..RateLimitConfig::default()
            },
            ..CcvShopConfig::default()
        };
        let store = initial_store(&config.data).expect("sample seed");
        App {
            base_url: "http://127.0.0.1:1".into(),
            api_root: format!("http://127.0.0.1:1{API_PREFIX}"),
            credentials: Credentials::new(config.public_key.clone(), config.secret_key.clone()),
            config,
            store: Arc::new(Mutex::new(store)),
            limits: MinuteWindows::new(),
            faults: Faults::new(),
            counters: Mutex::new(BTreeMap::new()),
            http: reqwest::Client::new(),
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "-?[0-9]{1,20}(\\.[0-9]{1,30})?(e[0-9]{1,3})?".prop_map(|s| s
                .parse::<serde_json::Number>()
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            "[a-z0-9 ._-]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("status".to_string()),
                        Just("paid".to_string()),
                        Just("price".to_string()),
                        Just("stock".to_string()),
                        Just("active".to_string()),
                        Just("orderrows".to_string()),
                        Just("count".to_string()),
                        Just("customer".to_string()),
                        Just("billingaddress".to_string()),
                        Just("name".to_string()),
                        Just("event".to_string()),
                        Just("address".to_string()),
                        "[a-z_]{1,8}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        // Whatever a signed client sends, the emulator answers with a
        // CCV-shaped status and never panics.
        #[test]
        fn never_panics_on_signed_garbage(
            method in proptest::sample::select(vec!["GET", "POST", "PATCH", "PUT", "DELETE"]),
            route in proptest::sample::select(ROUTES.iter().map(|r| r.template).collect::<Vec<_>>()),
            id in proptest::prop_oneof![proptest::prelude::Just("1".to_string()), "[0-9]{1,20}", "[a-z%]{1,4}"],
            slash in proptest::prelude::any::<bool>(),
            query in proptest::collection::vec(("[a-z_]{1,14}", "[a-z0-9 ,:+%_-]{0,12}"), 0..4),
            body in json_value(),
            raw_body in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)),
        ) {
            let app = test_app();
            let path = format!("{API_PREFIX}/{}{}", route.replace("{id}", &id), if slash { "/" } else { "" });
            let q = signing::build_query(&query);
            let pq = if q.is_empty() { path } else { format!("{path}?{q}") };
            let Ok(uri) = pq.parse::<axum::http::Uri>() else { return Ok(()) };
            let bytes = raw_body.unwrap_or_else(|| serde_json::to_vec(&body).unwrap_or_default());
            let x_date = signing::format_x_date(Utc::now());
            let x_hash = app.credentials.hash(method, &pq, &bytes, &x_date);
            let mut headers = HeaderMap::new();
            for (k, v) in [
                (signing::HEADER_PUBLIC, app.credentials.public_key().to_string()),
                (signing::HEADER_DATE, x_date),
                (signing::HEADER_HASH, x_hash),
            ] {
                headers.insert(k, HeaderValue::from_str(&v).expect("ascii"));
            }
            headers.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let m = Method::from_bytes(method.as_bytes()).expect("method");
            match dispatch(&app, &m, &uri, &headers, &bytes) {
                Ok(Reply::Json(status, _)) => proptest::prop_assert!(status == StatusCode::OK || status == StatusCode::CREATED),
                Ok(Reply::NoContent) => {}
                Err(e) => {
                    proptest::prop_assert!([400, 404, 405].contains(&e.status), "{e}");
                    proptest::prop_assert!(e.code.starts_with(&e.status.to_string()));
                }
            }
        }
    }
}
