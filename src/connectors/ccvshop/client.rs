//! The CCV Shop connector over HTTP (`/api/rest/v1`).
//!
//! Calls per operation (what the engine's call counts show):
//!
//! | operation | HTTP calls |
//! |---|---|
//! | `list("orders")` | `ceil(n / page_size)` order pages (at least 1) + for every order `ceil(rows / row_page_size)` row pages (at least 1) |
//! | `list(other)` | `ceil(n / page_size)` pages (at least 1) |
//! | `list("products")` from a `modifydate` (or `createdate`) lower bound | newest first, up to the page holding the first older product: `ceil((changed + 1) / page_size)` |
//! | `get` | 1 (+ the row pages for an order) |
//! | `find` | as `list` with the filter pushed down where the API has it; `find(_, "id", _)` is a `get` |
//! | `create` | 1 POST; +1 GET only when the shop answers with an empty body and a `Location` |
//! | `update` | 1 PATCH; +1 GET (+ row pages for an order) unless the merged record can be returned (below) |
//!
//! `update` and the 204 answer: when the caller passes `current` (the record
//! as last read) and the changes touch no field the shop derives others from
//! (order rows, costs, tax flags, the customer), the connector returns
//! `current` with the changes merged in (`active` written back as
//! `is_active`, write-only `mail`/`note` left out) and saves the GET. Fields
//! the shop maintains itself (`modifydate`, `track_and_trace_deeplink`) are
//! then as last read. Without `current`, or with derived fields changed, it
//! reads the record back.
//!
//! Rate limits are kept client-side per resource and method (GET 150/min,
//! writes 100/min, `productqueries` 30/min, as CCV documents them) in sliding
//! windows, so a normal run is never answered 429. A 429 that still comes
//! (`429.10`/`429.11`, which carry no `Retry-After`) is waited out to the next
//! minute boundary and retried, for reads and writes alike: nothing was
//! applied. 5xx, timeouts and dropped connections are retried for reads; for
//! writes they are returned with `outcome_unknown`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use reqwest::Method;

use super::pushdown::{self, ResourceSpec};
use super::signing::{self, build_query, path_with_query, Credentials, QueryValue};
use crate::connectors::error::{ConnectorError, ErrorClass};
use crate::connectors::http::{
    read_body, retry_after, transport_error, CallStats, RateBudget, RetryPolicy, StatsCell,
    MAX_BODY_BYTES,
};
use crate::connectors::redact::{service_body, service_text};
use crate::connectors::settings::Settings;
use crate::connectors::{Connector, ConnectorSpec, Filter, FilterOp, ListQuery, ListStats};
use crate::value::json::{self, Decoder};
use crate::value::{Record, Value};

/// The API prefix under the shop's base URL.
pub const API_PREFIX: &str = "/api/rest/v1";

/// The largest page CCV Shop serves.
pub const MAX_PAGE_SIZE: u32 = 250;

/// Time since the Unix epoch. The rate budget and the 429 wait ("until the
/// next minute") are computed on this clock; tests replace it (together with
/// [`RetryPolicy::sleep`]) with the emulator's shifted clock so that waiting a
/// minute costs nothing. Request signatures (`x-date`) always use real time.
pub type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    })
}

/// Client-side budgets per resource per method, per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    pub get_per_minute: u32,
    /// Each of POST/PATCH/PUT/DELETE.
    pub write_per_minute: u32,
    pub productqueries_per_minute: u32,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            get_per_minute: 150,
            write_per_minute: 100,
            productqueries_per_minute: 30,
        }
    }
}

/// Everything [`CcvShopConnector::new`] needs.
#[derive(Clone)]
pub struct CcvShopClientConfig {
    /// The shop's base URL, e.g. `https://shop.ccvshop.nl` (the API is under `/api/rest/v1`).
    pub base_url: String,
    pub credentials: Credentials,
    pub retry: RetryPolicy,
    pub limits: ClientLimits,
    /// Check the `x-hash` of every successful response.
    pub verify_responses: bool,
    /// Records per page when the query does not say (1..=250).
    pub page_size: u32,
    /// Order rows per page of `/orders/{id}/orderrows` (1..=250).
    pub row_page_size: u32,
    /// Whole request, including reading the body.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub clock: Clock,
}

impl CcvShopClientConfig {
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        CcvShopClientConfig {
            base_url: base_url.into(),
            credentials,
            retry: RetryPolicy::default(),
            limits: ClientLimits::default(),
            verify_responses: false,
            page_size: MAX_PAGE_SIZE,
            row_page_size: MAX_PAGE_SIZE,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            clock: system_clock(),
        }
    }
}

impl std::fmt::Debug for CcvShopClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CcvShopClientConfig")
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials)
            .field("retry", &self.retry)
            .field("limits", &self.limits)
            .field("verify_responses", &self.verify_responses)
            .field("page_size", &self.page_size)
            .field("row_page_size", &self.row_page_size)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The window of the client-side budget: a second longer than a minute so
/// that a request sent just before a minute boundary and counted by the shop
/// just after it cannot overfill the shop's fixed window.
const WINDOW: Duration = Duration::from_secs(61);

/// The base URL split into what every request shares.
#[derive(Debug, Clone)]
struct Base {
    /// `scheme://host[:port]`.
    origin: String,
    /// The base path (usually empty) plus [`API_PREFIX`].
    api: String,
}

fn parse_base(raw: &str) -> Result<Base, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(API_PREFIX).unwrap_or(trimmed);
    let url = url::Url::parse(trimmed).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{raw}` is not an http(s) URL with a host"));
    }
    // The signing secret's HMACs and the shop's data travel with every request.
    crate::connectors::registry::parse_service_url(trimmed)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{raw}` must not have a query or fragment"));
    }
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    Ok(Base {
        origin,
        api: format!("{path}{API_PREFIX}"),
    })
}

/// One answered request.
struct Answer {
    status: u16,
    body: Vec<u8>,
    location: Option<String>,
}

/// How a request is counted and budgeted.
struct Call<'a> {
    method: Method,
    /// Path and query exactly as sent and signed.
    path_and_query: String,
    /// The statistic, e.g. `GET /orders/{id}/orderrows` (the emulator's template).
    stat: &'a str,
    /// The collection the shop's limit counts against (`orderrows`).
    resource: &'a str,
    body: Option<Vec<u8>>,
}

/// The CCV Shop connector. Thread-safe; one per connection. It uses
/// `reqwest::blocking`, so it must be created and called outside any tokio
/// runtime (the engine is synchronous).
pub struct CcvShopConnector {
    http: reqwest::blocking::Client,
    base: Result<Base, String>,
    config: CcvShopClientConfig,
    budget: RateBudget,
    stats: StatsCell,
}

impl std::fmt::Debug for CcvShopConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CcvShopConnector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn config_error(message: impl Into<String>) -> ConnectorError {
    ConnectorError::new(ErrorClass::Config, message)
}

fn protocol_error(message: impl Into<String>) -> ConnectorError {
    ConnectorError::new(ErrorClass::Protocol, message)
}

/// The first bytes of a body, printable and without personal data, for
/// error messages.
fn excerpt(body: &[u8], max: usize) -> String {
    let text = service_body(body, usize::MAX);
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

impl CcvShopConnector {
    /// From a connection's settings (see [`super::SPEC`]).
    pub fn from_settings(settings: &Settings) -> Result<Self, ConnectorError> {
        let url = settings.require("url")?;
        settings.service_url("url")?;
        if let Err(e) = parse_base(url) {
            return Err(config_error(format!(
                "connection `{}`: `url` {e}",
                settings.connection
            )));
        }
        let public = settings.require("public_key")?;
        let secret = settings.require("secret_key")?;
        let mut config =
            CcvShopClientConfig::new(url, Credentials::new(public.trim(), secret.trim()));
        config.verify_responses = settings.flag("verify_responses")?.unwrap_or(false);
        Ok(Self::new(config))
    }

    pub fn new(config: CcvShopClientConfig) -> Self {
        let base = parse_base(&config.base_url);
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("flowc/", env!("CARGO_PKG_VERSION")));
        let loopback = base.as_ref().is_ok_and(|b| {
            url::Url::parse(&b.origin)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]")
        });
        if loopback {
            builder = builder.no_proxy();
        }
        // Building only fails when the TLS backend cannot start; a default
        // client then reports the same problem on the first request.
        let http = builder
            .build()
            .unwrap_or_else(|_| reqwest::blocking::Client::new());
        CcvShopConnector {
            http,
            base,
            config,
            budget: RateBudget::with_window(WINDOW),
            stats: StatsCell::default(),
        }
    }

    fn base(&self) -> Result<&Base, ConnectorError> {
        self.base
            .as_ref()
            .map_err(|e| config_error(format!("ccvshop: `url` {e}")))
    }

    fn limit_for(&self, method: &Method, resource: &str) -> u32 {
        let l = &self.config.limits;
        match (method.as_str(), resource) {
            ("GET", "productqueries") => l.productqueries_per_minute,
            ("GET", _) => l.get_per_minute,
            _ => l.write_per_minute,
        }
    }

    /// Until just past the next minute boundary of the connector's clock.
    fn until_next_minute(&self) -> Duration {
        let now = (self.config.clock)();
        let into = Duration::from_nanos((now.as_nanos() % 60_000_000_000) as u64);
        Duration::from_secs(60).saturating_sub(into) + Duration::from_millis(250)
    }

    /// One request with budget, statistics and retries.
    fn call(&self, call: &Call) -> Result<Answer, ConnectorError> {
        let idempotent = call.method == Method::GET;
        let budget_key = format!("{} {}", call.method.as_str(), call.resource);
        let limit = self.limit_for(&call.method, call.resource);
        let policy = &self.config.retry;
        let mut attempt = 0;
        loop {
            loop {
                let wait = self
                    .budget
                    .reserve_at(&budget_key, limit, (self.config.clock)());
                if wait.is_zero() {
                    break;
                }
                self.stats.waited(wait);
                (policy.sleep)(wait);
            }
            self.stats.call(call.stat);
            let started = std::time::Instant::now();
            let sent = self.send(call);
            self.stats.took(call.stat, started.elapsed());
            match sent {
                Ok(answer) => return Ok(answer),
                Err(mut e) => {
                    if e.class == ErrorClass::RateLimited {
                        self.stats.rate_limited(call.stat);
                        // The shop documents no Retry-After; when one comes, it says best.
                        if e.retry_after.is_none() {
                            e.retry_after = Some(self.until_next_minute());
                        }
                    }
                    match policy.next_wait(attempt, &e, idempotent) {
                        Some(wait) => {
                            self.stats.retry();
                            (policy.sleep)(wait);
                            attempt += 1;
                        }
                        None => return Err(e),
                    }
                }
            }
        }
    }

    /// One attempt: sign exactly what goes on the wire, send, check.
    fn send(&self, call: &Call) -> Result<Answer, ConnectorError> {
        let base = self.base()?;
        let url = url::Url::parse(&format!("{}{}", base.origin, call.path_and_query))
            .map_err(|e| config_error(format!("ccvshop: cannot build a URL: {e}")))?;
        // What the request line will carry; the URL parser leaves our
        // encoding alone, but sign its output so the two cannot differ.
        let wire = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let body = call.body.as_deref().unwrap_or_default();
        let what = format!("{} {}", call.method.as_str(), url.path());
        let signed =
            self.config
                .credentials
                .sign_request(call.method.as_str(), wire, body, Utc::now());
        let mut request = self
            .http
            .request(call.method.clone(), url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        if let Some(b) = &call.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.clone());
        }
        let write = call.method != Method::GET;
        let transport = |e: &reqwest::Error| {
            let mut err = transport_error(e, &format!("CCV Shop {what}"));
            // Once the request may have left, a write may have been applied.
            if write && !e.is_connect() {
                err.outcome_unknown = true;
            }
            err
        };
        let response = request.send().map_err(|e| transport(&e))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (x_date, x_hash) = (header(signing::HEADER_DATE), header(signing::HEADER_HASH));
        let location = header(reqwest::header::LOCATION.as_str());
        let wait = retry_after(response.headers());
        let bytes = read_body(response, MAX_BODY_BYTES, &format!("CCV Shop {what}"), write)?;
        if !(200..300).contains(&status) {
            let mut err = api_error(status, &bytes, &what);
            err.retry_after = wait;
            if write && status >= 500 {
                err.outcome_unknown = true;
            }
            return Err(err);
        }
        // Only successes are checked: an error answer to wrong credentials
        // cannot verify either, and its status says more than a mismatch.
        if self.config.verify_responses {
            verify(
                &self.config.credentials,
                call.method.as_str(),
                wire,
                &bytes,
                x_date.as_deref().unwrap_or(""),
                x_hash.as_deref().unwrap_or(""),
                &what,
            )
            .map_err(|e| if write { e.unknown_outcome() } else { e })?;
        }
        Ok(Answer {
            status,
            body: bytes,
            location,
        })
    }

    fn get_json(
        &self,
        path_and_query: String,
        stat: &str,
        resource: &str,
    ) -> Result<Value, ConnectorError> {
        let answer = self.call(&Call {
            method: Method::GET,
            path_and_query,
            stat,
            resource,
            body: None,
        })?;
        decode(&answer.body, "GET")
    }

    /// Follows a collection from `first` through its `next` links, handing
    /// each item to `each` (which returns false to stop). Returns pages read
    /// and whether it stopped early.
    fn pages(
        &self,
        first: String,
        stat: &str,
        resource: &str,
        each: &mut dyn FnMut(Value) -> Result<bool, ConnectorError>,
    ) -> Result<(u64, bool), ConnectorError> {
        let api = self.base()?.api.clone();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(pq) = next.take() {
            let page = self.get_json(pq.clone(), stat, resource)?;
            pages += 1;
            let record = page.as_record().ok_or_else(|| {
                protocol_error(format!(
                    "CCV Shop GET {stat}: the answer is not a JSON object"
                ))
            })?;
            match record.get("items") {
                Some(Value::List(items)) => {
                    for item in items.iter() {
                        if !each(item.clone())? {
                            return Ok((pages, true));
                        }
                    }
                }
                Some(Value::Null) | None if record.get("id").is_some() => {
                    // A collection answered with a bare resource (seen in the official SDK).
                    if !each(page.clone())? {
                        return Ok((pages, true));
                    }
                }
                _ => {
                    return Err(protocol_error(format!(
                        "CCV Shop GET {stat}: the collection has no `items` list"
                    )))
                }
            }
            next = match record.get("next") {
                Some(Value::Str(link)) if !link.is_empty() => {
                    let target = next_path(link, &api)?;
                    if target == pq {
                        return Err(protocol_error(format!(
                            "CCV Shop GET {stat}: `next` points at the same page"
                        )));
                    }
                    Some(target)
                }
                Some(Value::Null | Value::Absent) | None => None,
                Some(Value::Str(_)) => None,
                Some(other) => {
                    return Err(protocol_error(format!(
                        "CCV Shop GET {stat}: `next` is a {}, not a link",
                        other.type_name()
                    )))
                }
            };
        }
        Ok((pages, false))
    }

    /// All rows of order `id`, paged.
    fn order_rows(&self, id: &str) -> Result<Vec<Value>, ConnectorError> {
        let api = self.base()?.api.clone();
        let size = self.config.row_page_size.clamp(1, MAX_PAGE_SIZE);
        let first = path_with_query(
            &format!("{api}/orders/{id}/orderrows"),
            &build_query(&[("start", QueryValue::Int(0)), ("size", size.into())]),
        );
        let mut rows = Vec::new();
        self.pages(
            first,
            "GET /orders/{id}/orderrows",
            "orderrows",
            &mut |row| {
                rows.push(row);
                Ok(true)
            },
        )?;
        Ok(rows)
    }

    /// Replaces an order's `orderrows` link with its rows.
    fn embed_rows(&self, order: Value) -> Result<Value, ConnectorError> {
        let id = record_id(&order)
            .ok_or_else(|| protocol_error("CCV Shop: an order without an `id`"))?;
        let rows = self.order_rows(&id)?;
        let mut record = match order {
            Value::Record(r) => Arc::unwrap_or_clone(r),
            _ => return Err(protocol_error("CCV Shop: an order is not a JSON object")),
        };
        record.insert("orderrows", Value::list(rows));
        Ok(Value::record(record))
    }

    fn spec(&self, resource: &str) -> Result<&'static ResourceSpec, ConnectorError> {
        pushdown::resource(resource).ok_or_else(|| {
            config_error(format!(
                "ccvshop has no resource `{resource}`; known: {}",
                pushdown::resource_names()
            ))
        })
    }

    /// GET one record; `None` on 404.
    fn read_one(&self, spec: &ResourceSpec, id: &str) -> Result<Option<Value>, ConnectorError> {
        let api = self.base()?.api.clone();
        let stat = format!("GET /{}/{{id}}", spec.name);
        match self.get_json(format!("{api}/{}/{id}", spec.name), &stat, spec.name) {
            Ok(v) if spec.name == "orders" => self.embed_rows(v).map(Some),
            Ok(v) => Ok(Some(v)),
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A write body: the record as JSON, with products' `is_active` written as `active`.
    fn write_body(spec: &ResourceSpec, record: &Record) -> Vec<u8> {
        let mut out = record.clone();
        if spec.name == "products" {
            if let Some(v) = out.remove("is_active") {
                if out.get("active").is_none() {
                    out.insert("active", v);
                }
            }
        }
        json::to_string(&Value::record(out)).into_bytes()
    }
}

/// Fields whose change makes the shop recompute others (totals, rows, addresses).
const ORDER_DERIVING: &[&str] = &[
    "orderrows",
    "total_shipping",
    "paymethod_costs",
    "extra_costs",
    "taxes_included",
    "order_row_taxes_included",
    "shipping_taxes_included",
    "shipping_tax_percentage",
    "customer",
    "currency",
];

/// Write-only fields, not part of what GET returns.
const ORDER_WRITE_ONLY: &[&str] = &["mail", "note"];

/// `current` with `changes` applied as a GET would show them, or `None`
/// when only a GET can tell.
fn merged(spec: &ResourceSpec, current: &Record, changes: &Record) -> Option<Value> {
    let mut out = current.clone();
    for (k, v) in changes.iter() {
        if matches!(v, Value::Absent) {
            continue;
        }
        match (spec.name, &**k) {
            ("orders", f) if ORDER_DERIVING.contains(&f) => return None,
            ("orders", f) if ORDER_WRITE_ONLY.contains(&f) => {}
            ("products", "active" | "is_active") => out.insert("is_active", v.clone()),
            ("products", "taxtariff" | "vatrate") => return None,
            _ => out.insert(k.clone(), v.clone()),
        }
    }
    Some(Value::record(out))
}

/// The path and query of a `next` link, which must stay under the API.
fn next_path(link: &str, api: &str) -> Result<String, ConnectorError> {
    let url = url::Url::parse(link)
        .map_err(|e| protocol_error(format!("CCV Shop: `next` link {link:?} is not a URL: {e}")))?;
    let pq = &url[url::Position::BeforePath..url::Position::AfterQuery];
    if !pq.starts_with(api) {
        return Err(protocol_error(format!(
            "CCV Shop: `next` link {link:?} leaves the API ({api})"
        )));
    }
    // The shop's host in links may be a canonical name; keep talking to the
    // configured one and sign exactly this path and query.
    Ok(pq.to_string())
}

/// The record's `id` as text, when it is a positive integer.
fn record_id(v: &Value) -> Option<String> {
    match v.as_record()?.get("id")? {
        Value::Num(d) if d.fract().is_zero() && d.is_sign_positive() => Some(d.trunc().to_string()),
        Value::Str(s) if valid_id(s) => Some(s.to_string()),
        _ => None,
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 18
        && id.bytes().all(|b| b.is_ascii_digit())
        && id.bytes().any(|b| b != b'0')
}

/// Decodes a JSON body exactly (decimals keep their digits).
fn decode(body: &[u8], what: &str) -> Result<Value, ConnectorError> {
    Decoder::new().decode(body).map_err(|e| {
        protocol_error(format!(
            "CCV Shop {what}: the answer is not valid JSON ({e}): {}",
            excerpt(body, 120)
        ))
        .with_body(excerpt(body, 2000))
    })
}

/// Checks a response's `x-hash` (API notes §1.2).
fn verify(
    credentials: &Credentials,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    x_date: &str,
    x_hash: &str,
    what: &str,
) -> Result<(), ConnectorError> {
    credentials
        .verify_response(method, path_and_query, body, x_date, x_hash)
        .map_err(|e| {
            protocol_error(format!(
                "CCV Shop {what}: the response signature is invalid ({e}); the answer was changed on the way or did not come from the shop"
            ))
        })
}

/// A CCV error answer `{status, code, developermessage}` as a [`ConnectorError`].
fn api_error(status: u16, body: &[u8], what: &str) -> ConnectorError {
    let class = match status {
        400 | 422 => ErrorClass::Validation,
        401 | 403 => ErrorClass::Auth,
        404 => ErrorClass::NotFound,
        409 => ErrorClass::Conflict,
        429 => ErrorClass::RateLimited,
        500..=599 => ErrorClass::Server,
        _ => ErrorClass::Protocol,
    };
    let parsed = Decoder::new().decode(body).ok();
    let text = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.as_record())
            .and_then(|r| r.get(name))
            .and_then(Value::to_text)
            .filter(|s| !s.is_empty())
    };
    let code = text("code");
    // What the shop says may quote the values it refused: only what
    // identifies no one is kept.
    let detail = text("developermessage")
        .or_else(|| text("message"))
        .map(|t| service_text(&t))
        .unwrap_or_else(|| {
            if body.is_empty() {
                "no details".to_string()
            } else {
                excerpt(body, 120)
            }
        });
    let message = match class {
        ErrorClass::Auth => format!(
            "CCV Shop {what}: the shop rejected the credentials ({detail}); check `public_key` and `secret_key` (API settings in the shop backend) and that this machine's clock is within 5 minutes"
        ),
        ErrorClass::RateLimited => format!("CCV Shop {what}: over the shop's rate limit ({detail})"),
        _ => format!("CCV Shop {what}: {detail}"),
    };
    let mut err = ConnectorError::new(class, message).with_status(status);
    if let Some(c) = code {
        err = err.with_code(c);
    }
    if !body.is_empty() {
        err = err.with_body(service_body(body, 4000));
    }
    err
}

impl Connector for CcvShopConnector {
    fn spec(&self) -> &'static ConnectorSpec {
        &super::SPEC
    }

    fn list(
        &self,
        resource: &str,
        query: &ListQuery,
        each: &mut dyn FnMut(Value) -> Result<bool, ConnectorError>,
    ) -> Result<ListStats, ConnectorError> {
        let spec = self.spec(resource)?;
        if !spec.can_list {
            return Err(config_error(format!(
                "ccvshop: `{resource}` cannot be listed on its own (order rows come embedded in orders)"
            )));
        }
        let plan = pushdown::plan(spec, query);
        let size = query
            .page_size
            .unwrap_or(self.config.page_size)
            .clamp(1, MAX_PAGE_SIZE);
        let mut params = plan.params.clone();
        if let Some(expand) = pushdown::expand(spec, query) {
            params.push(("expand", QueryValue::Str(expand)));
        }
        params.push(("start", QueryValue::Int(0)));
        params.push(("size", size.into()));
        let first = path_with_query(
            &format!("{}/{}", self.base()?.api, spec.name),
            &build_query(&params),
        );
        let stat = format!("GET /{}", spec.name);
        let is_orders = spec.name == "orders";
        // Row filters need the rows; other client-side filters run first so
        // that orders they drop cost no row calls.
        let (row_filters, plain_filters): (Vec<&Filter>, Vec<&Filter>) = plan
            .client_filters
            .iter()
            .partition(|f| is_orders && f.field.split('.').next() == Some("orderrows"));
        let mut records = 0u64;
        let mut sorted: Option<Vec<Value>> = plan.client_sort.as_ref().map(|_| Vec::new());
        let (pages, _) = self.pages(first, &stat, spec.name, &mut |item| {
            if plan
                .stop_below
                .as_ref()
                .is_some_and(|f| !pushdown::matches(&item, f))
            {
                // Newest first: everything from here on is older than the bound.
                return Ok(false);
            }
            if !plain_filters.iter().all(|f| pushdown::matches(&item, f)) {
                return Ok(true);
            }
            let item = if is_orders {
                self.embed_rows(item)?
            } else {
                item
            };
            if !row_filters.iter().all(|f| pushdown::matches(&item, f)) {
                return Ok(true);
            }
            if let Some(buffer) = sorted.as_mut() {
                buffer.push(item);
                return Ok(true);
            }
            records += 1;
            each(item)
        })?;
        if let (Some(mut buffer), Some((field, desc))) = (sorted, plan.client_sort) {
            pushdown::sort(&mut buffer, &field, desc);
            for item in buffer {
                records += 1;
                if !each(item)? {
                    break;
                }
            }
        }
        Ok(ListStats { pages, records })
    }

    fn get(&self, resource: &str, id: &str) -> Result<Option<Value>, ConnectorError> {
        let spec = self.spec(resource)?;
        if !valid_id(id.trim()) {
            // CCV ids are positive integers: nothing else can exist.
            return Ok(None);
        }
        self.read_one(spec, id.trim())
    }

    fn find(
        &self,
        resource: &str,
        field: &str,
        value: &Value,
    ) -> Result<Vec<Value>, ConnectorError> {
        if field == "id" {
            let Some(id) = value.to_text() else {
                return Ok(Vec::new());
            };
            return Ok(self.get(resource, &id)?.into_iter().collect());
        }
        let query = ListQuery {
            filters: vec![Filter {
                field: field.to_string(),
                op: FilterOp::Eq,
                value: value.clone(),
            }],
            order_by: None,
            page_size: None,
            reads: None,
        };
        let mut out = Vec::new();
        self.list(resource, &query, &mut |v| {
            out.push(v);
            Ok(true)
        })?;
        Ok(out)
    }

    fn create(&self, resource: &str, record: &Record) -> Result<Value, ConnectorError> {
        let spec = self.spec(resource)?;
        if !spec.can_create {
            return Err(ConnectorError::new(
                ErrorClass::Validation,
                format!("ccvshop: records of `{resource}` cannot be created by flowc"),
            ));
        }
        let base = self.base()?.clone();
        let stat = format!("POST /{}", spec.name);
        let answer = self.call(&Call {
            method: Method::POST,
            path_and_query: format!("{}/{}", base.api, spec.name),
            stat: &stat,
            resource: spec.name,
            body: Some(Self::write_body(spec, record)),
        })?;
        if !answer.body.iter().all(u8::is_ascii_whitespace) {
            return decode(&answer.body, &stat).map_err(ConnectorError::unknown_outcome);
        }
        // Created, but the shop did not say what: read it back when it says where.
        let target = answer
            .location
            .as_deref()
            .and_then(|l| url::Url::parse(&base.origin).ok()?.join(l).ok())
            .map(|u| u[url::Position::BeforePath..url::Position::AfterQuery].to_string())
            .filter(|pq| pq.starts_with(&format!("{}/{}/", base.api, spec.name)));
        let Some(pq) = target else {
            return Err(protocol_error(format!(
                "CCV Shop {stat}: the shop answered {} with an empty body and no Location, so the new record's id is unknown",
                answer.status
            ))
            .with_status(answer.status)
            .unknown_outcome());
        };
        let stat_get = format!("GET /{}/{{id}}", spec.name);
        // The record exists now, but which one it is only the read-back
        // tells: a failed read-back leaves the create's outcome unknown, so
        // the engine searches before anything creates it again.
        self.get_json(pq, &stat_get, spec.name)
            .map_err(ConnectorError::unknown_outcome)
    }

    fn update(
        &self,
        resource: &str,
        id: &str,
        changes: &Record,
        current: Option<&Record>,
    ) -> Result<Value, ConnectorError> {
        let spec = self.spec(resource)?;
        if !spec.can_update {
            return Err(ConnectorError::new(
                ErrorClass::Validation,
                format!("ccvshop: records of `{resource}` cannot be updated by flowc"),
            ));
        }
        let id = id.trim();
        if !valid_id(id) {
            return Err(ConnectorError::new(
                ErrorClass::NotFound,
                format!("ccvshop: `{id}` is not a {resource} id"),
            ));
        }
        let api = self.base()?.api.clone();
        let stat = format!("PATCH /{}/{{id}}", spec.name);
        let answer = self.call(&Call {
            method: Method::PATCH,
            path_and_query: format!("{api}/{}/{id}", spec.name),
            stat: &stat,
            resource: spec.name,
            body: Some(Self::write_body(spec, changes)),
        })?;
        if !answer.body.iter().all(u8::is_ascii_whitespace) {
            let v = decode(&answer.body, &stat)?;
            return if spec.name == "orders" {
                self.embed_rows(v)
            } else {
                Ok(v)
            };
        }
        if let Some(v) = current.and_then(|c| merged(spec, c, changes)) {
            return Ok(v);
        }
        self.read_one(spec, id)?.ok_or_else(|| {
            ConnectorError::new(
                ErrorClass::NotFound,
                format!("CCV Shop: {resource} {id} was updated but cannot be read back"),
            )
        })
    }

    fn delete(&self, resource: &str, id: &str) -> Result<bool, ConnectorError> {
        let spec = self.spec(resource)?;
        if spec.name != "webhooks" {
            return Err(ConnectorError::new(
                ErrorClass::Validation,
                format!("ccvshop: records of `{resource}` cannot be deleted by flowc"),
            ));
        }
        let id = id.trim();
        if !valid_id(id) {
            return Ok(false);
        }
        let api = self.base()?.api.clone();
        let stat = format!("DELETE /{}/{{id}}", spec.name);
        let deleted = self.call(&Call {
            method: Method::DELETE,
            path_and_query: format!("{api}/{}/{id}", spec.name),
            stat: &stat,
            resource: spec.name,
            body: None,
        });
        match deleted {
            Ok(_) => Ok(true),
            Err(e) if e.class == ErrorClass::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn stats(&self) -> CallStats {
        self.stats.snapshot()
    }

    /// A shop is its address: no company to tell apart behind it.
    fn target_identity(&self) -> String {
        match &self.base {
            Ok(b) => format!("ccvshop {}{}", b.origin, b.api),
            Err(_) => format!("ccvshop {}", self.config.base_url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_split_and_checked() {
        let b = parse_base("https://shop.example.nl/").expect("base");
        assert_eq!(
            (b.origin.as_str(), b.api.as_str()),
            ("https://shop.example.nl", "/api/rest/v1")
        );
        let b = parse_base("http://127.0.0.1:8080/api/rest/v1/").expect("base");
        assert_eq!(b.api, "/api/rest/v1");
        let b = parse_base("https://host/shop").expect("base");
        assert_eq!(b.api, "/shop/api/rest/v1");
        assert!(parse_base("ftp://x").is_err());
        assert!(parse_base("http://shop.example.nl")
            .unwrap_err()
            .contains("https://"));
        assert!(parse_base("not a url").is_err());
    }

    #[test]
    fn a_tampered_response_fails_verification() {
        let creds = Credentials::new("pub", "secret");
        let pq = "/api/rest/v1/orders?start=0&size=250";
        let body = br#"{"items":[{"id":1,"total_price":12.10}],"next":null}"#;
        let date = "2024-01-01T12:00:00Z";
        let hash = signing::compute_hash(&creds, "GET", pq, body, date);
        assert!(verify(&creds, "GET", pq, body, date, &hash, "GET /orders").is_ok());
        let tampered = br#"{"items":[{"id":1,"total_price":1.10}],"next":null}"#;
        let err = verify(&creds, "GET", pq, tampered, date, &hash, "GET /orders").unwrap_err();
        assert_eq!(err.class, ErrorClass::Protocol);
        assert!(err.message.contains("signature"), "{}", err.message);
        let err = verify(&creds, "GET", pq, body, "", &hash, "GET /orders").unwrap_err();
        assert_eq!(err.class, ErrorClass::Protocol);
        assert!(!err.message.contains("secret"));
    }

    #[test]
    fn error_bodies_are_classified_and_kept() {
        let body = br#"{"status":400,"code":"400.30","developermessage":"Property 'price' must be a number"}"#;
        let e = api_error(400, body, "POST /api/rest/v1/products");
        assert_eq!(e.class, ErrorClass::Validation);
        assert_eq!(e.code.as_deref(), Some("400.30"));
        assert!(e.message.contains("must be a number"));
        assert_eq!(e.body.as_deref(), Some(std::str::from_utf8(body).unwrap()));
        for (status, class) in [
            (401, ErrorClass::Auth),
            (403, ErrorClass::Auth),
            (404, ErrorClass::NotFound),
            (409, ErrorClass::Conflict),
            (429, ErrorClass::RateLimited),
            (503, ErrorClass::Server),
        ] {
            assert_eq!(
                api_error(status, b"<html>oops</html>", "GET /x").class,
                class
            );
        }
        let e = api_error(502, b"<html>bad gateway</html>", "GET /x");
        assert!(e.message.contains("bad gateway"), "{}", e.message);
        assert_eq!(e.code, None);
    }

    #[test]
    fn malformed_json_is_a_protocol_error_with_an_excerpt() {
        let e = decode(b"{\"items\": [1, 2", "GET /orders").unwrap_err();
        assert_eq!(e.class, ErrorClass::Protocol);
        assert!(e.message.contains("{\"items\": [1, 2"), "{}", e.message);
        let long = vec![b'x'; 10_000];
        let e = decode(&long, "GET /orders").unwrap_err();
        assert!(e.message.len() < 400);
    }

    #[test]
    fn decimals_survive_decoding() {
        let v = decode(br#"{"price":12.10,"count":0.5}"#, "GET").expect("json");
        assert_eq!(json::to_string(&v), r#"{"price":12.10,"count":0.5}"#);
    }

    #[test]
    fn budget_waits_when_full_and_frees_after_the_window() {
        let b = RateBudget::with_window(WINDOW);
        let t0 = Duration::from_secs(1_000);
        assert!(b.reserve_at("GET orders", 2, t0).is_zero());
        assert!(b.reserve_at("GET orders", 2, t0).is_zero());
        let wait = b.reserve_at("GET orders", 2, t0);
        assert!(wait > Duration::from_secs(60), "{wait:?}");
        assert!(b.reserve_at("GET orders", 2, t0 + wait).is_zero());
    }

    #[test]
    fn merging_skips_the_get_only_when_it_is_safe() {
        let orders = pushdown::resource("orders").expect("spec");
        let products = pushdown::resource("products").expect("spec");
        let current = json::parse(r#"{"id":1,"status":1,"paid":false}"#).expect("json");
        let current = current.as_record().expect("record");
        let changes = json::parse(r#"{"status":5,"mail":true}"#).expect("json");
        let m = merged(orders, current, changes.as_record().expect("record")).expect("merged");
        assert_eq!(json::to_string(&m), r#"{"id":1,"status":5,"paid":false}"#);
        let changes = json::parse(r#"{"total_shipping":5}"#).expect("json");
        assert!(merged(orders, current, changes.as_record().expect("record")).is_none());
        let p = json::parse(r#"{"id":1,"is_active":true}"#).expect("json");
        let changes = json::parse(r#"{"active":false}"#).expect("json");
        let m = merged(
            products,
            p.as_record().expect("r"),
            changes.as_record().expect("r"),
        )
        .expect("merged");
        assert_eq!(json::to_string(&m), r#"{"id":1,"is_active":false}"#);
    }

    #[test]
    fn next_links_must_stay_under_the_api() {
        assert_eq!(
            next_path(
                "https://shop.nl/api/rest/v1/orders/?start=250&size=250",
                "/api/rest/v1"
            )
            .expect("ok"),
            "/api/rest/v1/orders/?start=250&size=250"
        );
        assert!(next_path("https://evil/elsewhere?x=1", "/api/rest/v1").is_err());
        assert!(next_path("not a link", "/api/rest/v1").is_err());
    }
}
