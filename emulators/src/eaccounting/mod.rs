//! A strict, in-process emulator of the Visma eAccounting API v2 and its
//! OAuth2 identity server, served over real HTTP on loopback.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use flowc_emulators::eaccounting::{start, EaccountingConfig};
//! let emu = start(EaccountingConfig::default()).await?;
//! let token = emu.access_token("ea:api ea:sales");
//! let url = format!("{}/customers", emu.api_url());
//! # let _ = (token, url); Ok(()) }
//! ```
//!
//! Request pipeline, outermost first: request counter → fault injection
//! ([`faults::middleware`]) → routing (paths are case-insensitive) →
//! bearer check (401/4005) → `ea:api` (403) → per-client-per-endpoint
//! minute window (429/4010) → endpoint scope (403) → handler.

pub mod errors;
pub mod identity;
pub mod odata;
pub mod resources;
pub mod store;
pub mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::faults::{self, FaultLayerState, Faults};
use crate::ratelimit::{Admission, MinuteWindows};
use errors::{ApiError, EaccountingFaultResponses};
use identity::{Identity, OAuthClient, TokenSet};
use resources::Doc;
use store::Store;
use validate::{format_utc, Schema};

/// What a connector asks for in production (see the notes, §1).
pub const DEFAULT_SCOPE: &str = "ea:api offline_access ea:sales ea:accounting";

#[derive(Debug, Clone)]
pub struct EaccountingConfig {
    /// 0 picks a free port.
    pub port: u16,
    /// Where the API is mounted; the real service uses `/v2`.
    pub api_base: String,
    pub clients: Vec<OAuthClient>,
    /// The user every authorize request logs in as.
    pub user: String,
    pub access_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
    /// Requests per minute per client per endpoint (method + path template).
    pub rate_limit_per_minute: u32,
    /// Extra seed JSON (same format as [`EaccountingEmulator::load_seed`])
    /// applied over the built-in reference data.
    pub seed: Option<String>,
}

impl Default for EaccountingConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_base: "/v2".into(),
            clients: vec![OAuthClient {
                client_id: "flowc-test".into(),
                client_secret: "flowc-test-secret".into(),
                redirect_uris: vec!["http://localhost/callback".into()],
            }],
            user: "test.user@example.com".into(),
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(60 * 60 * 24 * 60),
            rate_limit_per_minute: 600,
            seed: None,
        }
    }
}

struct Shared {
    api_base: String,
    rate_limit: u32,
    store: Mutex<Store>,
    identity: Mutex<Identity>,
    limits: MinuteWindows,
    faults: Faults,
    counters: Mutex<BTreeMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Handlers never leave the data half-written on panic (they build the
    // new entity first, then swap it in), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn clock(&self) -> Duration {
        self.limits.now()
    }
    fn now(&self) -> DateTime<Utc> {
        let d = self.clock();
        DateTime::from_timestamp(d.as_secs() as i64, d.subsec_nanos()).unwrap_or_default()
    }
}

/// Handle to a running emulator; the server stops when it is dropped.
pub struct EaccountingEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    client: OAuthClient,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Starts the emulator on `127.0.0.1` (port from the config, 0 = any).
pub async fn start(config: EaccountingConfig) -> std::io::Result<EaccountingEmulator> {
    start_inner(config).await.map(|(emu, _task)| emu)
}

async fn start_inner(
    config: EaccountingConfig,
) -> std::io::Result<(EaccountingEmulator, tokio::task::JoinHandle<()>)> {
    let invalid = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg);
    let client = config
        .clients
        .first()
        .cloned()
        .ok_or_else(|| invalid("EaccountingConfig.clients must not be empty".into()))?;
    let base = format!("/{}", config.api_base.trim_matches('/')).to_ascii_lowercase();
    let mut store = Store::with_reference_seed();
    if let Some(seed) = &config.seed {
        apply_seed(&mut store, seed, Utc::now()).map_err(invalid)?;
    }
    let limits = MinuteWindows::new();
    let faults = Faults::new();
    let shared = Arc::new(Shared {
        api_base: base,
        rate_limit: config.rate_limit_per_minute,
        store: Mutex::new(store),
        identity: Mutex::new(Identity::new(
            config.clients.clone(),
            config.access_token_lifetime,
            config.refresh_token_lifetime,
            config.user.clone(),
        )),
        limits: limits.clone(),
        faults: faults.clone(),
        counters: Mutex::new(BTreeMap::new()),
    });
    let fault_state = FaultLayerState {
        faults,
        responses: EaccountingFaultResponses {
            limits,
            limit: config.rate_limit_per_minute,
        },
    };
    let app = Router::new()
        .fallback(entry)
        .with_state(shared.clone())
        .layer(from_fn_with_state(
            fault_state,
            faults::middleware::<EaccountingFaultResponses>,
        ))
        .layer(from_fn_with_state(shared.clone(), count_requests));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok((
        EaccountingEmulator {
            shared,
            addr,
            client,
            shutdown: Some(tx),
        },
        task,
    ))
}

/// For non-async callers (`flowc sandbox`): runs the server on its own
/// runtime thread. Dropping the handle stops the server and joins the thread.
pub fn start_blocking(config: EaccountingConfig) -> std::io::Result<BlockingEaccountingEmulator> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("eaccounting-emulator".into())
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
                match start_inner(config).await {
                    Ok((emu, task)) => {
                        if ready_tx.send(Ok(emu)).is_err() {
                            return;
                        }
                        let _ = stop_rx.await;
                        // Open keep-alive connections may hold graceful shutdown; do not hang on them.
                        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
    let inner = ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("emulator thread exited before starting"))??;
    Ok(BlockingEaccountingEmulator {
        inner: Some(inner),
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

pub struct BlockingEaccountingEmulator {
    inner: Option<EaccountingEmulator>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::ops::Deref for BlockingEaccountingEmulator {
    type Target = EaccountingEmulator;
    fn deref(&self) -> &EaccountingEmulator {
        // Only `drop` takes `inner`, so it is always present here.
        self.inner
            .as_ref()
            .expect("emulator handle used after drop")
    }
}

impl Drop for BlockingEaccountingEmulator {
    fn drop(&mut self) {
        drop(self.inner.take());
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EaccountingEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl EaccountingEmulator {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://127.0.0.1:PORT/v2`, the equivalent of `https://eaccountingapi.vismaonline.com/v2`.
    pub fn api_url(&self) -> String {
        format!("http://{}{}", self.addr, self.shared.api_base)
    }
    /// `http://127.0.0.1:PORT`, the equivalent of `https://identity.vismaonline.com`.
    pub fn identity_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn token_url(&self) -> String {
        format!("{}/connect/token", self.identity_url())
    }
    pub fn authorize_url(&self) -> String {
        format!("{}/connect/authorize", self.identity_url())
    }
    pub fn client_id(&self) -> &str {
        &self.client.client_id
    }
    pub fn client_secret(&self) -> &str {
        &self.client.client_secret
    }
    /// The first registered redirect URI of the default client.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.client.redirect_uris.first().map(String::as_str)
    }

    fn grant(&self, scope: &str) -> identity::Grant {
        let scopes = scope.split_whitespace().map(str::to_string).collect();
        lock(&self.shared.identity).grant_for(&self.client.client_id, scopes)
    }

    /// An authorization code for the default client, as `/connect/authorize`
    /// would put on the redirect (bound to [`Self::redirect_uri`]).
    pub fn authorization_code(&self, scope: &str) -> String {
        let grant = self.grant(scope);
        let now = self.shared.clock();
        let redirect = self.redirect_uri().map(str::to_string);
        lock(&self.shared.identity).issue_code(grant, redirect, now)
    }

    /// Mints a token pair without HTTP (not counted as a token request).
    pub fn tokens(&self, scope: &str) -> TokenSet {
        let grant = self.grant(scope);
        let now = self.shared.clock();
        lock(&self.shared.identity).issue_tokens(grant, now)
    }

    pub fn access_token(&self, scope: &str) -> String {
        self.tokens(scope).access_token
    }

    /// A refresh token; `offline_access` is added to `scope` if missing.
    pub fn refresh_token(&self, scope: &str) -> String {
        let scope = if scope.split_whitespace().any(|s| s == "offline_access") {
            scope.to_string()
        } else {
            format!("{scope} offline_access")
        };
        self.tokens(&scope).refresh_token.unwrap_or_default()
    }

    /// Every access token stops working (refresh tokens still do).
    pub fn expire_access_tokens(&self) {
        lock(&self.shared.identity).expire_access_tokens();
    }

    /// Every access token, refresh token and pending code stops working.
    pub fn revoke_all_tokens(&self) {
        lock(&self.shared.identity).revoke_all();
    }

    /// `POST /connect/token` calls received (whatever their outcome).
    pub fn token_requests(&self) -> u64 {
        lock(&self.shared.identity).token_requests
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The rate windows. Their clock is the emulator clock: `advance` also
    /// ages access tokens, refresh tokens and codes.
    pub fn limits(&self) -> &MinuteWindows {
        &self.shared.limits
    }

    pub fn advance(&self, by: Duration) {
        self.shared.limits.advance(by);
    }

    /// All data: `{"CompanySettings": {...}, "customers": [...], ...}`.
    pub fn state(&self) -> Value {
        lock(&self.shared.store).snapshot()
    }

    /// One collection by its URL name, e.g. `"customerinvoicedrafts"`.
    pub fn collection(&self, name: &str) -> Vec<Value> {
        lock(&self.shared.store).all(name).to_vec()
    }

    /// Calls per `"METHOD /template"`, e.g. `"POST /v2/customers"`,
    /// `"GET /v2/customers/{id}"`, `"POST /connect/token"`. Every request
    /// that reached the server is counted, including faulted ones.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.counters).clone()
    }

    /// `request_count("GET", "/customers/{id}")`; the API base is added
    /// unless the template starts with it or with `/connect`.
    pub fn request_count(&self, method: &str, template: &str) -> u64 {
        let template =
            if template.starts_with(&self.shared.api_base) || template.starts_with("/connect") {
                template.to_string()
            } else {
                format!("{}{}", self.shared.api_base, template)
            };
        let key = format!("{} {}", method.to_ascii_uppercase(), template);
        lock(&self.shared.counters).get(&key).copied().unwrap_or(0)
    }

    pub fn reset_request_counts(&self) {
        lock(&self.shared.counters).clear();
    }

    /// Loads seed JSON: `CompanySettings` and reference collections replace
    /// the current ones; business collections (`customers`, `articles`,
    /// `quotes`, `orders`, `customerinvoicedrafts`, `customerinvoices`,
    /// `vouchers`) are replaced by entities created through the same
    /// validation as a POST (an `Id` in the seed is kept).
    pub fn load_seed(&self, json: &str) -> Result<(), String> {
        let now = self.shared.now();
        apply_seed(&mut lock(&self.shared.store), json, now)
    }

    /// Stops the server (also done on drop).
    pub fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn apply_seed(store: &mut Store, json: &str, now: DateTime<Utc>) -> Result<(), String> {
    let seed: Value =
        serde_json::from_str(json).map_err(|e| format!("seed is not valid JSON: {e}"))?;
    let Some(top) = seed.as_object() else {
        return Err("seed must be a JSON object".into());
    };
    for key in top.keys() {
        if key != "CompanySettings" && store::schema_of(key).is_none() {
            return Err(format!("seed: unknown collection '{key}'"));
        }
    }
    // Work on a copy so that a failing seed leaves the store untouched.
    let mut next = Store {
        company: store.company.clone(),
        data: store.data.clone(),
        next_customer_number: store.next_customer_number,
        next_invoice_number: store.next_invoice_number,
        next_order_number: store.next_order_number,
        next_quote_number: store.next_quote_number,
        next_voucher_number: store.next_voucher_number,
    };
    next.load_reference(&seed);
    for (name, _) in &store::WRITABLE[2..] {
        let Some(items) = seed.get(*name).and_then(Value::as_array) else {
            continue;
        };
        next.data.insert(name, Vec::new());
        for (i, item) in items.iter().enumerate() {
            let keep = item.get("Id").and_then(Value::as_str).map(str::to_string);
            let built = match *name {
                "customers" => resources::build_customer(&mut next, item, None, keep, now),
                "articles" => resources::build_article(&mut next, item, None, keep, now),
                "quotes" => resources::build_document(&mut next, Doc::Quote, item, None, keep, now),
                "orders" => resources::build_document(&mut next, Doc::Order, item, None, keep, now),
                "customerinvoicedrafts" => {
                    resources::build_document(&mut next, Doc::Draft, item, None, keep, now)
                }
                "customerinvoices" => {
                    resources::build_document(&mut next, Doc::Invoice, item, None, keep, now)
                }
                _ => resources::build_voucher(&mut next, item, keep, now),
            }
            .map_err(|e| format!("seed {name}[{i}]: {} ({})", e.message, e.code))?;
            next.push(name, built);
        }
    }
    *store = next;
    Ok(())
}

// ---------------------------------------------------------------------------
// Routing

const SALES_R: &[&str] = &["ea:sales", "ea:sales_readonly"];
const SALES_W: &[&str] = &["ea:sales"];
const ACC_R: &[&str] = &["ea:accounting", "ea:accounting_readonly"];
const ACC_W: &[&str] = &["ea:accounting"];
// termsofpayments and currencies are shared with purchasing (2018 Swagger).
const SALES_PURCHASE_R: &[&str] = &[
    "ea:sales",
    "ea:sales_readonly",
    "ea:purchase",
    "ea:purchase_readonly",
];
// fiscalyears accepts sales or accounting scopes (2018 Swagger).
const FY_R: &[&str] = &[
    "ea:sales",
    "ea:sales_readonly",
    "ea:accounting",
    "ea:accounting_readonly",
];
const FY_W: &[&str] = &["ea:sales", "ea:accounting"];

#[derive(Debug, Clone, PartialEq)]
enum Route {
    List(&'static str),
    Get(&'static str, String),
    Create(&'static str),
    Update(&'static str, String),
    Delete(&'static str, String),
    Convert(&'static str, String),
    AccountsInYear(String),
    Account(String, String),
    AccountPut(String, String),
    VouchersInYear(String),
    Voucher(String, String),
    CompanySettings,
}

struct Resolved {
    template: String,
    route: Route,
    scopes: &'static [&'static str],
}

fn collection_name(seg: &str) -> Option<&'static str> {
    store::REFERENCE
        .iter()
        .chain(store::WRITABLE)
        .map(|(n, _)| *n)
        .find(|n| *n == seg)
}

/// Maps `segments` (already split, original case) to a route. `Err` is a
/// 404 (no such resource) or 405 (known path, wrong method).
fn resolve(method: &Method, segments: &[&str]) -> Result<Resolved, StatusCode> {
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let first = lower.first().map(String::as_str).unwrap_or("");
    let Some(name) =
        collection_name(first).or((first == "companysettings").then_some("companysettings"))
    else {
        return Err(StatusCode::NOT_FOUND);
    };
    let arg = |i: usize| segments.get(i).map(|s| s.to_string()).unwrap_or_default();
    let m = method.clone();
    let (read, write) = match name {
        "vatcodes" | "accounts" | "vouchers" => (ACC_R, ACC_W),
        "termsofpayments" | "currencies" => (SALES_PURCHASE_R, SALES_W),
        "fiscalyears" => (FY_R, FY_W),
        "companysettings" => (FY_R, FY_W),
        _ => (SALES_R, SALES_W),
    };
    let is_ref = store::REFERENCE.iter().any(|(n, _)| *n == name);
    let ok = |template: String, route: Route, write_op: bool| {
        Ok(Resolved {
            template: format!("/{name}{template}"),
            route,
            scopes: if write_op { write } else { read },
        })
    };
    match (lower.len(), name) {
        (1, "companysettings") if m == Method::GET => {
            ok(String::new(), Route::CompanySettings, false)
        }
        (_, "companysettings") => Err(if lower.len() == 1 {
            StatusCode::METHOD_NOT_ALLOWED
        } else {
            StatusCode::NOT_FOUND
        }),
        (1, _) if m == Method::GET => ok(String::new(), Route::List(name), false),
        (1, _) if m == Method::POST && !is_ref => ok(String::new(), Route::Create(name), true),
        (1, _) => Err(StatusCode::METHOD_NOT_ALLOWED),
        (2, "currencies") => Err(StatusCode::NOT_FOUND),
        (2, "countries") if m == Method::GET => {
            ok("/{countrycode}".into(), Route::Get(name, arg(1)), false)
        }
        (2, "accounts") if m == Method::GET => ok(
            "/{fiscalyearId}".into(),
            Route::AccountsInYear(arg(1)),
            false,
        ),
        (2, "vouchers") if m == Method::GET => ok(
            "/{fiscalyearId}".into(),
            Route::VouchersInYear(arg(1)),
            false,
        ),
        (2, "accounts" | "vouchers") => Err(StatusCode::METHOD_NOT_ALLOWED),
        (2, _) if m == Method::GET => ok("/{id}".into(), Route::Get(name, arg(1)), false),
        (2, "customers" | "articles" | "orders" | "quotes" | "customerinvoicedrafts")
            if m == Method::PUT =>
        {
            ok("/{id}".into(), Route::Update(name, arg(1)), true)
        }
        (2, "customers" | "orders" | "quotes" | "customerinvoicedrafts") if m == Method::DELETE => {
            ok("/{id}".into(), Route::Delete(name, arg(1)), true)
        }
        (2, _) => Err(StatusCode::METHOD_NOT_ALLOWED),
        (3, "accounts") if m == Method::GET => ok(
            "/{fiscalyearId}/{accountNumber}".into(),
            Route::Account(arg(1), arg(2)),
            false,
        ),
        (3, "accounts") if m == Method::PUT => ok(
            "/{fiscalyearId}/{accountNumber}".into(),
            Route::AccountPut(arg(1), arg(2)),
            true,
        ),
        (3, "vouchers") if m == Method::GET => ok(
            "/{fiscalyearId}/{voucherId}".into(),
            Route::Voucher(arg(1), arg(2)),
            false,
        ),
        (3, "customerinvoicedrafts" | "orders") if lower[2] == "convert" => {
            if m == Method::POST {
                ok("/{id}/convert".into(), Route::Convert(name, arg(1)), true)
            } else {
                Err(StatusCode::METHOD_NOT_ALLOWED)
            }
        }
        (3, "accounts" | "vouchers") => Err(StatusCode::METHOD_NOT_ALLOWED),
        _ => Err(StatusCode::NOT_FOUND),
    }
}

fn split_path(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// `"METHOD /template"` for counting, or the raw path when nothing matches.
fn template_of(shared: &Shared, method: &Method, path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('/');
    if trimmed == "/connect/token" || trimmed == "/connect/authorize" {
        return format!("{method} {trimmed}");
    }
    if let Some(rest) = api_rest(shared, path) {
        if let Ok(r) = resolve(method, &split_path(rest)) {
            return format!("{method} {}{}", shared.api_base, r.template);
        }
    }
    format!("{method} {trimmed}")
}

/// The part of `path` after the API base, matched case-insensitively.
fn api_rest<'a>(shared: &Shared, path: &'a str) -> Option<&'a str> {
    let base = &shared.api_base;
    if path.len() < base.len()
        || !path.is_char_boundary(base.len())
        || !path[..base.len()].eq_ignore_ascii_case(base)
    {
        return None;
    }
    let rest = &path[base.len()..];
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

async fn count_requests(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let key = template_of(&shared, request.method(), request.uri().path());
    *lock(&shared.counters).entry(key).or_default() += 1;
    next.run(request).await
}

async fn entry(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let lower = path.to_ascii_lowercase();
    match lower.trim_end_matches('/') {
        "/connect/token" => {
            if method != Method::POST {
                return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
            }
            let now = shared.clock();
            return lock(&shared.identity).token(&headers, &body, now);
        }
        "/connect/authorize" => {
            if method != Method::GET {
                return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET")]).into_response();
            }
            let now = shared.clock();
            return lock(&shared.identity).authorize(uri.query().unwrap_or(""), now);
        }
        _ => {}
    }
    let Some(rest) = api_rest(&shared, path) else {
        return no_such_resource(path).into_response();
    };
    match api(
        &shared,
        &method,
        rest,
        uri.query().unwrap_or(""),
        &headers,
        &body,
    ) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn no_such_resource(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        3000,
        format!(
            "ResourceNotFound - No HTTP resource was found that matches the request URI '{path}'."
        ),
    )
}

fn api(
    shared: &Shared,
    method: &Method,
    rest: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let resolved = match resolve(method, &split_path(rest)) {
        Ok(r) => r,
        Err(StatusCode::METHOD_NOT_ALLOWED) => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                2000,
                format!("The requested resource does not support http method '{method}'."),
            ))
        }
        Err(_) => return Err(no_such_resource(&format!("{}{rest}", shared.api_base))),
    };

    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let grant = token
        .and_then(|t| lock(&shared.identity).authenticate(&t, shared.clock()))
        .ok_or_else(ApiError::unauthorized)?;
    if !grant.has("ea:api") {
        return Err(ApiError::forbidden(&["ea:api"]));
    }
    let key = format!("{} {method} {}", grant.client_id, resolved.template);
    if let Admission::Rejected { retry_after_secs } = shared.limits.hit(&key, shared.rate_limit) {
        return Err(ApiError::quota_exceeded(
            shared.rate_limit,
            retry_after_secs,
        ));
    }
    if !resolved.scopes.iter().any(|s| grant.has(s)) {
        return Err(ApiError::forbidden(resolved.scopes));
    }

    let params = parse_query(query);
    let json_body = || parse_body(headers, body, true);
    let now = shared.now();
    let mut store = lock(&shared.store);
    let store = &mut *store;
    let (status, value) = match resolved.route {
        Route::CompanySettings => (StatusCode::OK, Value::Object(store.company.clone())),
        Route::List(name) => {
            let schema = store::schema_of(name).unwrap_or(&validate::CURRENCY);
            let mut rows = store.all(name).to_vec();
            if name == "customerinvoices" {
                if let Some(since) = param(&params, "modifiedsinceutc") {
                    let since = validate::parse_datetime(since).ok_or_else(|| {
                        ApiError::validation(format!(
                            "modifiedSinceUtc: '{since}' is not a valid date-time."
                        ))
                    })?;
                    rows.retain(|r| {
                        r["ModifiedUtc"]
                            .as_str()
                            .and_then(validate::parse_datetime)
                            .is_some_and(|m| m >= since)
                    });
                }
            }
            (StatusCode::OK, list(schema, rows, &params, now)?)
        }
        Route::Get(name, id) => {
            let found = if name == "countries" {
                store
                    .all(name)
                    .iter()
                    .find(|c| {
                        c["Code"]
                            .as_str()
                            .is_some_and(|c| c.eq_ignore_ascii_case(&id))
                    })
                    .cloned()
            } else {
                parse_guid(&id)?;
                store.by_id(name, &id).cloned()
            };
            (StatusCode::OK, found.ok_or_else(|| not_found(name, &id))?)
        }
        Route::Create(name) => {
            let body = json_body()?;
            let created = match name {
                "customers" => resources::build_customer(store, &body, None, None, now)?,
                "articles" => resources::build_article(store, &body, None, None, now)?,
                "quotes" => resources::build_document(store, Doc::Quote, &body, None, None, now)?,
                "orders" => resources::build_document(store, Doc::Order, &body, None, None, now)?,
                "customerinvoicedrafts" => {
                    resources::build_document(store, Doc::Draft, &body, None, None, now)?
                }
                "customerinvoices" => {
                    resources::build_document(store, Doc::Invoice, &body, None, None, now)?
                }
                "vouchers" => resources::build_voucher(store, &body, None, now)?,
                "fiscalyears" => resources::build_fiscal_year(store, &body, None)?,
                "accounts" => {
                    if param(&params, "usedefaultaccounttype")
                        .is_some_and(|v| !matches!(v, "true" | "false"))
                    {
                        return Err(ApiError::validation(
                            "useDefaultAccountType must be true or false.",
                        ));
                    }
                    resources::build_account(store, &body, None, now)?
                }
                _ => return Err(no_such_resource(name)),
            };
            store.push(name, created.clone());
            (StatusCode::CREATED, created)
        }
        Route::Update(name, id) => {
            parse_guid(&id)?;
            let body = json_body()?;
            let index = store
                .position(name, &id)
                .ok_or_else(|| not_found(name, &id))?;
            let existing = store.all(name)[index].clone();
            if name == "orders" && existing["Status"] == json!(4) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    4002,
                    "CanNotBeCreatedOrUpdated - an invoiced order cannot be changed.",
                ));
            }
            let updated = match name {
                "customers" => resources::build_customer(store, &body, Some(&existing), None, now)?,
                "articles" => resources::build_article(store, &body, Some(&existing), None, now)?,
                "quotes" => {
                    resources::build_document(store, Doc::Quote, &body, Some(&existing), None, now)?
                }
                "orders" => {
                    resources::build_document(store, Doc::Order, &body, Some(&existing), None, now)?
                }
                _ => {
                    resources::build_document(store, Doc::Draft, &body, Some(&existing), None, now)?
                }
            };
            store.replace(name, index, updated.clone());
            (StatusCode::OK, updated)
        }
        Route::Delete(name, id) => {
            parse_guid(&id)?;
            let index = store
                .position(name, &id)
                .ok_or_else(|| not_found(name, &id))?;
            if name == "customers" {
                let used = [
                    "quotes",
                    "orders",
                    "customerinvoicedrafts",
                    "customerinvoices",
                ]
                .iter()
                .any(|c| {
                    store.all(c).iter().any(|d| {
                        d["CustomerId"]
                            .as_str()
                            .and_then(|x| uuid::Uuid::parse_str(x).ok())
                            == uuid::Uuid::parse_str(&id).ok()
                    })
                });
                if used {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        4001,
                        "CanNotBeDeleted - the customer is used on sales documents.",
                    ));
                }
            }
            if name == "orders" && store.all(name)[index]["Status"] == json!(4) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    4001,
                    "CanNotBeDeleted - the order has been invoiced.",
                ));
            }
            store.remove(name, index);
            return Ok(StatusCode::OK.into_response());
        }
        Route::Convert(name, id) => {
            parse_guid(&id)?;
            let index = store
                .position(name, &id)
                .ok_or_else(|| not_found(name, &id))?;
            let source = store.all(name)[index].clone();
            if name == "customerinvoicedrafts" {
                if !body.iter().all(u8::is_ascii_whitespace) {
                    resources::check_expected_totals(&source, &parse_body(headers, body, false)?)?;
                }
                let keep_date = match param(&params, "keeporiginaldraftdate") {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(other) => {
                        return Err(ApiError::validation(format!(
                            "keepOriginalDraftDate must be true or false, not '{other}'."
                        )))
                    }
                };
                let invoice = resources::book_from(store, &source, Doc::Draft, keep_date, now)?;
                store.remove(name, index);
                store.push("customerinvoices", invoice.clone());
                (StatusCode::CREATED, invoice)
            } else {
                if source["Status"] == json!(4) {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        4002,
                        "CanNotBeCreatedOrUpdated - the order is already invoiced.",
                    ));
                }
                let invoice = resources::book_from(store, &source, Doc::Order, false, now)?;
                let mut order = source;
                order["Status"] = json!(4);
                order["ModifiedUtc"] = json!(format_utc(now));
                store.replace(name, index, order);
                store.push("customerinvoices", invoice.clone());
                // Order → invoice answers 200 (notes §2), unlike draft → invoice.
                (StatusCode::OK, invoice)
            }
        }
        Route::AccountsInYear(fy) => {
            parse_guid(&fy)?;
            if store.by_id("fiscalyears", &fy).is_none() {
                return Err(resources::fiscal_year_not_found(&fy, false));
            }
            let fy_uuid = uuid::Uuid::parse_str(&fy).ok();
            let rows: Vec<Value> = store
                .all("accounts")
                .iter()
                .filter(|a| {
                    a["FiscalYearId"]
                        .as_str()
                        .and_then(|x| uuid::Uuid::parse_str(x).ok())
                        == fy_uuid
                })
                .cloned()
                .collect();
            (
                StatusCode::OK,
                list(&validate::ACCOUNT, rows, &params, now)?,
            )
        }
        Route::Account(fy, number) => {
            parse_guid(&fy)?;
            if store.by_id("fiscalyears", &fy).is_none() {
                return Err(resources::fiscal_year_not_found(&fy, false));
            }
            let index = resources::find_account(store, &fy, &number)
                .ok_or_else(|| resources::account_not_found(&number, false))?;
            (StatusCode::OK, store.all("accounts")[index].clone())
        }
        Route::AccountPut(fy, number) => {
            parse_guid(&fy)?;
            let body = json_body()?;
            if store.by_id("fiscalyears", &fy).is_none() {
                return Err(resources::fiscal_year_not_found(&fy, false));
            }
            let index = resources::find_account(store, &fy, &number)
                .ok_or_else(|| resources::account_not_found(&number, false))?;
            let updated = resources::build_account(store, &body, Some((&fy, &number)), now)?;
            store.replace("accounts", index, updated.clone());
            (StatusCode::OK, updated)
        }
        Route::VouchersInYear(fy) => {
            parse_guid(&fy)?;
            if store.by_id("fiscalyears", &fy).is_none() {
                return Err(resources::fiscal_year_not_found(&fy, false));
            }
            let rows: Vec<Value> = store
                .all("vouchers")
                .iter()
                .filter(|v| resources::voucher_in_year(store, v, &fy))
                .cloned()
                .collect();
            (
                StatusCode::OK,
                list(&validate::VOUCHER, rows, &params, now)?,
            )
        }
        Route::Voucher(fy, id) => {
            parse_guid(&fy)?;
            parse_guid(&id)?;
            if store.by_id("fiscalyears", &fy).is_none() {
                return Err(resources::fiscal_year_not_found(&fy, false));
            }
            let found = store
                .by_id("vouchers", &id)
                .filter(|v| resources::voucher_in_year(store, v, &fy))
                .cloned();
            (
                StatusCode::OK,
                found.ok_or_else(|| not_found("vouchers", &id))?,
            )
        }
    };
    Ok((status, axum::Json(value)).into_response())
}

fn not_found(collection: &str, id: &str) -> ApiError {
    if collection == "fiscalyears" {
        return resources::fiscal_year_not_found(id, false);
    }
    ApiError::not_found(collection, id)
}

fn parse_guid(id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id)
        .map_err(|_| ApiError::validation(format!("The value '{id}' is not a valid GUID.")))
}

/// JSON bodies only; a body that is not JSON is a 400/2000 like any other
/// model-binding failure, and a wrong media type is 415.
fn parse_body(headers: &HeaderMap, body: &[u8], required: bool) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if body.iter().all(u8::is_ascii_whitespace) {
        return if required {
            Err(ApiError::validation(
                "DataModelValidationError - The request body is empty; a JSON object is required.",
            ))
        } else {
            Ok(Value::Null)
        };
    }
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            2000,
            format!("The request entity's media type '{content_type}' is not supported; send application/json."),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::validation(format!(
            "DataModelValidationError - The request body is not valid JSON: {e}."
        ))
    })
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

const MAX_PAGE_SIZE: usize = 500;
const DEFAULT_PAGE_SIZE: usize = 50;

/// The `{Meta, Data}` envelope with OData filtering, sorting, paging and
/// projection, in that order.
fn list(
    schema: &'static Schema,
    mut rows: Vec<Value>,
    params: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let bad = |what: &str, e: String| ApiError::validation(format!("Invalid {what}: {e}"));
    for (k, _) in params {
        if k.starts_with('$')
            && !matches!(
                k.as_str(),
                "$filter" | "$orderby" | "$select" | "$page" | "$pagesize"
            )
        {
            return Err(ApiError::validation(format!(
                "The query parameter '{k}' is not supported; use $filter, $orderby, $select, $page and $pagesize."
            )));
        }
    }
    if let Some(f) = param(params, "$filter") {
        let expr = odata::parse_filter(f, schema).map_err(|e| bad("$filter", e))?;
        rows.retain(|r| odata::eval(&expr, r));
    }
    if let Some(o) = param(params, "$orderby") {
        let keys = odata::parse_orderby(o, schema).map_err(|e| bad("$orderby", e))?;
        odata::sort(&mut rows, &keys);
    }
    let int_param = |name: &str, default: usize| -> Result<usize, ApiError> {
        match param(params, name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n >= 1 => Ok(n as usize),
                _ => Err(ApiError::validation(format!(
                    "Invalid {name}: '{v}' must be a whole number of at least 1."
                ))),
            },
        }
    };
    let page = int_param("$page", 1)?;
    let page_size = int_param("$pagesize", DEFAULT_PAGE_SIZE)?.min(MAX_PAGE_SIZE);
    let select: Option<Vec<&'static str>> = match param(params, "$select") {
        None => None,
        Some(sel) => Some(
            sel.split(',')
                .map(|name| {
                    let name = name.trim();
                    schema.field(name).map(|f| f.name).ok_or_else(|| {
                        bad(
                            "$select",
                            format!(
                                "could not find a property named '{name}' on type '{}'",
                                schema.name
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let total = rows.len();
    let pages = total.div_ceil(page_size);
    let data: Vec<Value> = rows
        .into_iter()
        .skip((page - 1).saturating_mul(page_size))
        .take(page_size)
        .map(|row| match &select {
            None => row,
            Some(fields) => {
                let mut m = Map::new();
                for f in fields {
                    m.insert(f.to_string(), row.get(*f).cloned().unwrap_or(Value::Null));
                }
                Value::Object(m)
            }
        })
        .collect();
    Ok(json!({
        "Meta": {
            "CurrentPage": page,
            "PageSize": page_size,
            "TotalNumberOfPages": pages,
            "TotalNumberOfResults": total,
            "ServerTimeUtc": format_utc(now),
        },
        "Data": data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_case_insensitive_and_templated() {
        let r = resolve(&Method::GET, &["Customers", "ABC"]).ok().unwrap();
        assert_eq!(r.template, "/customers/{id}");
        assert_eq!(r.route, Route::Get("customers", "ABC".into()));
        assert_eq!(
            resolve(&Method::DELETE, &["articles", "x"]).err(),
            Some(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            resolve(&Method::POST, &["units"]).err(),
            Some(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            resolve(&Method::GET, &["nope"]).err(),
            Some(StatusCode::NOT_FOUND)
        );
        let r = resolve(&Method::POST, &["CustomerInvoiceDrafts", "x", "Convert"])
            .ok()
            .unwrap();
        assert_eq!(r.template, "/customerinvoicedrafts/{id}/convert");
        assert_eq!(r.scopes, SALES_W);
        assert_eq!(
            resolve(&Method::GET, &["vatcodes"]).ok().unwrap().scopes,
            ACC_R
        );
    }

    #[test]
    fn paging_arithmetic() {
        let rows: Vec<Value> = (0..123)
            .map(|i| json!({"Code": format!("{i:03}")}))
            .collect();
        let params = vec![("$page".to_string(), "3".to_string())];
        let out = list(&validate::CURRENCY, rows.clone(), &params, Utc::now()).unwrap();
        assert_eq!(out["Meta"]["TotalNumberOfPages"], 3);
        assert_eq!(out["Meta"]["TotalNumberOfResults"], 123);
        assert_eq!(out["Data"].as_array().unwrap().len(), 23);
        assert_eq!(out["Data"][0]["Code"], "100");
        let params = vec![("$pagesize".to_string(), "1000".to_string())];
        let out = list(&validate::CURRENCY, rows.clone(), &params, Utc::now()).unwrap();
        assert_eq!(out["Meta"]["PageSize"], 500);
        let params = vec![("$page".to_string(), "0".to_string())];
        assert!(list(&validate::CURRENCY, rows.clone(), &params, Utc::now()).is_err());
        let params = vec![("$top".to_string(), "5".to_string())];
        assert!(list(&validate::CURRENCY, rows, &params, Utc::now()).is_err());
    }
}
