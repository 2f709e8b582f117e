//! The Visma eAccounting API v2 over HTTP: OAuth2 bearer tokens that
//! refresh (and rotate) themselves, `Meta`/`Data` paging, `$filter`
//! push-down, PUT as a full replacement, schema validation before sending,
//! a client-side budget of 600 requests per minute per endpoint, and errors
//! classified from eAccounting's `{ErrorCode, DeveloperErrorMessage, ErrorId}`.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::Method;
use rust_decimal::Decimal;

use super::oauth::{self, OAuthClient, AUTH_COMMAND};
use super::odata::{self, field as prop, Lit};
use super::tokens::{fingerprint, StoredTokens, TokenStore};
use crate::connectors::error::{ConnectorError, ErrorClass};
use crate::connectors::http::{
    read_body, retry_after, transport_error, with_retries, RateBudget, RetryPolicy, StatsCell,
    MAX_BODY_BYTES,
};
use crate::connectors::redact::{service_body, service_text};
use crate::connectors::settings::{Secret, Settings};
use crate::connectors::{
    CallStats, Connector, ConnectorSpec, Filter, FilterOp, ListQuery, ListStats,
};
use crate::types::{Kind, RecordType};
use crate::value::json::Decoder;
use crate::value::{json, Record, Value};

pub const DEFAULT_API_URL: &str = "https://eaccountingapi.vismaonline.com/v2";
/// eAccounting's limit: 600 requests per minute per client per endpoint.
pub const RATE_LIMIT_PER_MINUTE: u32 = 600;
/// The largest `$pagesize` the service honours (larger values are clamped).
pub const MAX_PAGE_SIZE: u32 = 500;
/// Budget key (and statistic) for token requests.
pub const TOKEN_KEY: &str = "POST /connect/token";

/// The resources this connector knows by name.
pub const RESOURCES: &[&str] = &[
    "customers",
    "articles",
    "articlelabels",
    "articleaccountcodings",
    "units",
    "vatcodes",
    "termsofpayments",
    "countries",
    "currencies",
    "deliverymethods",
    "accounts",
    "fiscalyears",
    "orders",
    "quotes",
    "customerinvoicedrafts",
    "customerinvoices",
    "vouchers",
    "companysettings",
];

/// Resources that are one record, answered bare rather than in a
/// `{Meta, Data}` envelope.
const SINGLETONS: &[&str] = &["companysettings"];

/// Everything the connector needs; [`ConnectorConfig::new`] fills in defaults.
/// Its Debug shows no secret: [`OAuthClient`] and [`Secret`] redact themselves.
#[derive(Clone, Debug)]
pub struct ConnectorConfig {
    /// `https://eaccountingapi.vismaonline.com/v2` or an emulator's.
    pub api_url: String,
    pub oauth: OAuthClient,
    /// Headless set-up: used when nothing is stored yet (or when it differs
    /// from the token the stored chain was seeded from).
    pub refresh_token: Option<Secret>,
    pub store: TokenStore,
    pub retry: RetryPolicy,
    pub rate_limit_per_minute: u32,
    pub page_size: u32,
    /// Per request, connecting included.
    pub timeout: Duration,
}

impl ConnectorConfig {
    pub fn new(api_url: &str, oauth: OAuthClient, state_dir: &Path) -> Self {
        ConnectorConfig {
            api_url: api_url.trim_end_matches('/').to_string(),
            oauth,
            refresh_token: None,
            store: TokenStore::new(state_dir),
            retry: RetryPolicy::default(),
            rate_limit_per_minute: RATE_LIMIT_PER_MINUTE,
            page_size: MAX_PAGE_SIZE,
            timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Default)]
struct AuthState {
    tokens: Option<StoredTokens>,
    /// The pair in `tokens` was issued but could not be written yet.
    unsaved: bool,
}

pub struct EaccountingConnector {
    config: ConnectorConfig,
    http: reqwest::blocking::Client,
    auth: Mutex<AuthState>,
    budget: RateBudget,
    stats: StatsCell,
    schemas: HashMap<String, Arc<RecordType>>,
    /// The signed-in company's fingerprint, once read.
    company: Mutex<Option<String>>,
}

impl std::fmt::Debug for EaccountingConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EaccountingConnector")
            .field("config", &self.config)
            .field("schemas", &self.schemas.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One HTTP answer, body read in full.
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// The service's `Retry-After`, when it sent one.
    retry_after: Option<Duration>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EaccountingConnector {
    pub fn new(config: ConnectorConfig) -> Result<Self, ConnectorError> {
        // Tokens and the client secret travel with every request.
        for (name, url) in [
            ("api_url", &config.api_url),
            ("identity_url", &config.oauth.identity_url),
        ] {
            crate::connectors::registry::parse_service_url(url).map_err(|why| {
                ConnectorError::new(ErrorClass::Config, format!("eAccounting `{name}` {why}"))
            })?;
        }
        let http = oauth::http_client(config.timeout)?;
        Ok(EaccountingConnector {
            config,
            http,
            auth: Mutex::new(AuthState::default()),
            budget: RateBudget::new(),
            stats: StatsCell::default(),
            schemas: HashMap::new(),
            company: Mutex::new(None),
        })
    }

    /// From a connection's settings (see [`super::SPEC`]); `state_dir` holds the token file.
    pub fn from_settings(settings: &Settings, state_dir: &Path) -> Result<Self, ConnectorError> {
        let oauth = oauth::client_from_settings(settings)?;
        settings.service_url("api_url")?;
        let mut config = ConnectorConfig::new(
            settings.get("api_url").unwrap_or(DEFAULT_API_URL),
            oauth,
            state_dir,
        );
        config.refresh_token = settings
            .secret("refresh_token")
            .filter(|s| !s.expose().trim().is_empty());
        if let Some(n) = settings.number("page_size")? {
            config.page_size = u32::try_from(n)
                .unwrap_or(MAX_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE);
        }
        if let Some(n) = settings.number("rate_limit_per_minute")? {
            config.rate_limit_per_minute = u32::try_from(n).unwrap_or(u32::MAX).max(1);
        }
        if let Some(n) = settings.number("timeout_secs")? {
            config.timeout = Duration::from_secs(n.max(1));
        }
        Self::new(config)
    }

    /// Validate writes against these schemas (resource name → record type)
    /// before sending them, and type `$filter` literals by them.
    pub fn with_schemas(mut self, schemas: HashMap<String, Arc<RecordType>>) -> Self {
        self.schemas = schemas;
        self
    }

    pub fn token_store(&self) -> &TokenStore {
        &self.config.store
    }

    // ------------------------------------------------------------ tokens

    /// The tokens to start from: the store, or the headless refresh token.
    fn initial_tokens(&self) -> Result<StoredTokens, ConnectorError> {
        let stored = self.config.store.load()?;
        let seed = self.config.refresh_token.as_ref().map(|s| {
            (
                s.expose().trim().to_string(),
                fingerprint(s.expose().trim()),
            )
        });
        match (stored, seed) {
            // A refresh token given in the environment that this chain did
            // not start from is new: it replaces a chain that it seeded before.
            (Some(t), Some((token, fp)))
                if t.seeded_from.as_ref().is_some_and(|s| *s != fp) =>
            {
                Ok(seeded(token, fp))
            }
            (Some(t), _) => Ok(t),
            (None, Some((token, fp))) => Ok(seeded(token, fp)),
            (None, None) => Err(ConnectorError::new(
                ErrorClass::Auth,
                format!(
                    "flowc is not signed in to eAccounting (no tokens in {}); run `{AUTH_COMMAND}`, or set EACCOUNTING_REFRESH_TOKEN for a headless set-up",
                    self.config.store.path().display()
                ),
            )),
        }
    }

    /// A usable access token. `rejected` is a token the API just answered
    /// 401 to: it is refreshed unless another thread or process already did.
    fn access_token(&self, rejected: Option<&str>) -> Result<String, ConnectorError> {
        let mut auth = lock(&self.auth);
        if auth.unsaved {
            if let Some(t) = &auth.tokens {
                self.config.store.save(t).map_err(|e| unsaved_error(&e))?;
            }
            auth.unsaved = false;
        }
        if auth.tokens.is_none() {
            auth.tokens = Some(self.initial_tokens()?);
        }
        if let Some(t) = auth.tokens.as_ref().filter(|t| !t.stale(rejected)) {
            return Ok(t.access_token.clone());
        }
        // The token file is shared with other processes: refresh under its
        // lock, after reading it again (another process may have refreshed).
        let _file = self.config.store.lock()?;
        if let Some(t) = self.newer_in_file(&mut auth)? {
            if !t.stale(rejected) {
                return Ok(t.access_token);
            }
        }
        match self.refresh_locked(&mut auth) {
            // The refresh token was spent elsewhere (a process that does not
            // take the lock, an older flowc): the file may hold its successor.
            Err(e) if e.code.as_deref() == Some("invalid_grant") => {
                match self.newer_in_file(&mut auth)? {
                    Some(t) if !t.stale(rejected) => Ok(t.access_token),
                    Some(_) => self.refresh_locked(&mut auth),
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    /// The tokens in the file, taken over when they are not the ones in
    /// memory (another process refreshed). Call with the file lock held.
    fn newer_in_file(&self, auth: &mut AuthState) -> Result<Option<StoredTokens>, ConnectorError> {
        let stored = self.initial_tokens()?;
        let ours = auth.tokens.as_ref().map(|t| t.refresh_token.as_str());
        if auth.unsaved || ours == Some(stored.refresh_token.as_str()) {
            return Ok(None);
        }
        auth.tokens = Some(stored.clone());
        Ok(Some(stored))
    }

    /// Refreshes while holding the auth lock (and the token file's lock), so
    /// that no two threads or processes spend the same (single-use) refresh
    /// token.
    fn refresh_locked(&self, auth: &mut AuthState) -> Result<String, ConnectorError> {
        let Some(old) = auth.tokens.clone() else {
            return Err(ConnectorError::new(
                ErrorClass::Auth,
                "no tokens to refresh",
            ));
        };
        let response = with_retries(
            &self.budget,
            &self.stats,
            &self.config.retry,
            TOKEN_KEY,
            self.config.rate_limit_per_minute,
            false,
            || self.config.oauth.refresh(&self.http, &old.refresh_token),
        )?;
        let new = response.into_stored(Some(&old.refresh_token), old.seeded_from.clone())?;
        // The old refresh token is dead now: persist the new pair before
        // anything else, and keep it in memory whatever happens.
        let saved = self.config.store.save(&new);
        let access = new.access_token.clone();
        auth.tokens = Some(new);
        match saved {
            Ok(()) => {
                auth.unsaved = false;
                Ok(access)
            }
            Err(e) => {
                auth.unsaved = true;
                Err(unsaved_error(&e))
            }
        }
    }

    // ------------------------------------------------------------ HTTP

    fn url(&self, path: &str, query: &[(String, String)]) -> String {
        let mut url = format!("{}{path}", self.config.api_url);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&odata::query_string(query));
        }
        url
    }

    fn send_once(
        &self,
        method: &Method,
        url: &str,
        body: Option<&str>,
        token: &str,
    ) -> Result<Answer, ConnectorError> {
        let write = method != Method::GET;
        let what = format!("eAccounting {method} {}", strip_query(url));
        let mut req = self
            .http
            .request(method.clone(), url)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let response = req.send().map_err(|e| {
            let mut err = transport_error(&e, &what);
            if !write {
                // A read has no outcome to be unsure about.
                err.outcome_unknown = false;
            }
            err
        })?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        // The status line arrived; a body that breaks off leaves a write's
        // outcome unknown.
        let body = read_body(response, MAX_BODY_BYTES, &what, write)?;
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    /// One request under the budget and retry policy. A 401 refreshes the
    /// token once and repeats the request once.
    fn request(
        &self,
        method: Method,
        template: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&str>,
    ) -> Result<Answer, ConnectorError> {
        let key = format!("{method} {template}");
        let url = self.url(path, query);
        let idempotent = method == Method::GET;
        with_retries(
            &self.budget,
            &self.stats,
            &self.config.retry,
            &key,
            self.config.rate_limit_per_minute,
            idempotent,
            || {
                let token = self.access_token(None)?;
                let mut answer = self.send_once(&method, &url, body, &token)?;
                if answer.status == 401 {
                    let fresh = self.access_token(Some(&token))?;
                    // Counted like any request; the budget was reserved for the first.
                    self.stats.call(&key);
                    answer = self.send_once(&method, &url, body, &fresh)?;
                    if answer.status == 401 {
                        let mut e = api_error(&method, path, &answer);
                        e.message = format!(
                            "{} (even with a freshly refreshed token; run `{AUTH_COMMAND}` again)",
                            e.message
                        );
                        return Err(e);
                    }
                }
                if (200..300).contains(&answer.status) {
                    Ok(answer)
                } else {
                    Err(api_error(&method, path, &answer))
                }
            },
        )
    }

    fn decode(&self, answer: &Answer, what: &str) -> Result<Value, ConnectorError> {
        Decoder::new().decode(&answer.body).map_err(|e| {
            ConnectorError::new(
                ErrorClass::Protocol,
                format!("eAccounting's answer to {what} is not JSON: {e}"),
            )
            .with_status(answer.status)
            .with_body(service_body(&answer.body, 2000))
        })
    }

    // ------------------------------------------------------------ helpers

    fn check_resource(&self, resource: &str) -> Result<(), ConnectorError> {
        if RESOURCES.contains(&resource) {
            Ok(())
        } else {
            Err(ConnectorError::new(
                ErrorClass::Config,
                format!(
                    "eAccounting has no resource `{resource}` that flowc knows; use one of: {}",
                    RESOURCES.join(", ")
                ),
            ))
        }
    }

    fn field_kind(&self, resource: &str, field: &str) -> Option<&Kind> {
        self.schemas
            .get(resource)
            .and_then(|rt| rt.field(field))
            .map(|f| &f.ty.kind)
    }

    /// The OData literal for `value` compared with `resource.field`, typed by
    /// the schema when it is known. `None`: not expressible (filtered locally).
    fn literal(&self, resource: &str, field: &str, value: &Value) -> Option<Lit> {
        let kind = self.field_kind(resource, field);
        Some(match value {
            Value::Absent | Value::Null => Lit::Null,
            Value::Bool(b) => Lit::Bool(*b),
            Value::Num(d) => match kind {
                Some(Kind::Str { .. } | Kind::Enum(_)) => Lit::Str(d.to_string()),
                _ => Lit::Decimal(*d),
            },
            Value::Str(s) => match kind {
                Some(Kind::Uuid) => Lit::Guid(uuid::Uuid::parse_str(s).ok()?),
                Some(Kind::Int | Kind::Decimal) => Lit::Decimal(Decimal::from_str(s).ok()?),
                Some(Kind::Bool) => Lit::Bool(s.parse().ok()?),
                Some(Kind::Date) => Lit::Date(chrono::NaiveDate::from_str(s).ok()?),
                Some(Kind::DateTime) => {
                    Lit::DateTime(chrono::DateTime::parse_from_rfc3339(s).ok()?)
                }
                None if field.ends_with("Id") && uuid::Uuid::parse_str(s).is_ok() => {
                    Lit::Guid(uuid::Uuid::parse_str(s).ok()?)
                }
                _ => Lit::Str(s.to_string()),
            },
            Value::Date(d) => match kind {
                Some(Kind::Str { .. }) => Lit::Str(d.format("%Y-%m-%d").to_string()),
                _ => Lit::Date(*d),
            },
            Value::DateTime(dt) => match kind {
                Some(Kind::Str { .. }) => Lit::Str(crate::value::format_datetime(dt)),
                _ => Lit::DateTime(*dt),
            },
            Value::BigNum(_) | Value::List(_) | Value::Record(_) => return None,
        })
    }

    fn validate(
        &self,
        resource: &str,
        record: &Record,
        creating: bool,
    ) -> Result<(), ConnectorError> {
        let Some(schema) = self.schemas.get(resource) else {
            return Ok(());
        };
        crate::types::validate::validate(record, schema, creating).map_err(|e| {
            let message = format!("{resource}: {} (help: {})", e.message, e.help);
            let mut err = ConnectorError::new(ErrorClass::Validation, message);
            err.field = Some(e.field);
            err
        })
    }

    /// Path and budget template for one entity of `resource`. Accounts and
    /// vouchers live under their fiscal year: their id is `fiscalyearId/x`.
    fn entity_path(resource: &str, id: &str) -> (String, String) {
        let enc = odata::encode_component;
        match (resource, id.split_once('/')) {
            ("accounts", Some((fy, n))) => (
                "/accounts/{fiscalyearId}/{accountNumber}".into(),
                format!("/accounts/{}/{}", enc(fy), enc(n)),
            ),
            ("vouchers", Some((fy, v))) => (
                "/vouchers/{fiscalyearId}/{voucherId}".into(),
                format!("/vouchers/{}/{}", enc(fy), enc(v)),
            ),
            ("countries", _) => (
                "/countries/{countrycode}".into(),
                format!("/countries/{}", enc(id)),
            ),
            _ => (
                format!("/{resource}/{{id}}"),
                format!("/{resource}/{}", enc(id)),
            ),
        }
    }
}

fn seeded(refresh_token: String, fp: String) -> StoredTokens {
    StoredTokens {
        access_token: String::new(),
        refresh_token,
        expires_at: 0,
        scope: None,
        seeded_from: Some(fp),
        saved_at: 0,
        lifetime: 0,
    }
}

fn unsaved_error(e: &ConnectorError) -> ConnectorError {
    ConnectorError::new(
        ErrorClass::Auth,
        format!(
            "eAccounting issued new tokens (the old refresh token is no longer valid) but they could not be saved: {}. \
             flowc keeps them in memory and tries again on the next call; if this process ends first, run `{AUTH_COMMAND}`",
            e.message
        ),
    )
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// "Try again in 55 seconds." → 55 s.
pub fn parse_retry_after(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let rest = &lower[lower.find("try again in")? + "try again in".len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().map(Duration::from_secs)
}

/// The field eAccounting blamed: `"DataModelValidationError - Name: The Name
/// field is required."` → `Name`.
fn blamed_field(message: &str) -> Option<String> {
    let after = message.split_once(" - ")?.1;
    let (candidate, _) = after.split_once(':')?;
    let candidate = candidate.trim();
    let ok = !candidate.is_empty()
        && candidate
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
        && candidate
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
    ok.then(|| candidate.to_string())
}

/// Classifies an eAccounting error answer, keeping code, message, ErrorId and body.
fn api_error(method: &Method, path: &str, answer: &Answer) -> ConnectorError {
    let status = answer.status;
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
    let code = parsed.as_ref().and_then(|v| match v.get("ErrorCode")? {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) => Some(s.clone()),
        _ => None,
    });
    let developer = parsed
        .as_ref()
        .and_then(|v| v.get("DeveloperErrorMessage")?.as_str().map(str::to_string));
    let error_id = parsed
        .as_ref()
        .and_then(|v| v.get("ErrorId")?.as_str().map(str::to_string));
    let write = method != Method::GET;
    let class = match (status, code.as_deref()) {
        (429, _) | (_, Some("4010")) => ErrorClass::RateLimited,
        (s, _) if s >= 500 => ErrorClass::Server,
        (401, _) => ErrorClass::Auth,
        (403, _) => ErrorClass::Auth,
        (404, _) => ErrorClass::NotFound,
        (409, _) | (_, Some("4000" | "4001")) => ErrorClass::Conflict,
        (408, _) => ErrorClass::Timeout,
        _ => ErrorClass::Validation,
    };
    // What the service says may quote the values it refused: names,
    // addresses, personal numbers. Only what identifies no one is kept.
    let text = match &developer {
        Some(d) => service_text(d),
        None if answer.body.iter().all(u8::is_ascii_whitespace) => format!("HTTP {status}"),
        None => service_body(&answer.body, 300),
    };
    let mut message = format!("eAccounting {method} {path}: {text}");
    if status == 403 {
        message.push_str(&format!(
            " (the sign-in lacks a scope; run `{AUTH_COMMAND}` to grant {})",
            oauth::SCOPE
        ));
    }
    let mut err = ConnectorError::new(class, message)
        .with_status(status)
        .with_body(service_body(&answer.body, 4000));
    err.code = code;
    err.error_id = error_id;
    // A `Retry-After` header says best; a rate limit also says it in words.
    err.retry_after = answer.retry_after;
    if class == ErrorClass::RateLimited && err.retry_after.is_none() {
        err.retry_after = Some(
            developer
                .as_deref()
                .and_then(parse_retry_after)
                .unwrap_or(Duration::from_secs(60)),
        );
    }
    if matches!(class, ErrorClass::Validation | ErrorClass::Conflict) {
        err.field = developer.as_deref().and_then(blamed_field);
    }
    if write && class == ErrorClass::Server {
        // The write may have been applied before the server failed.
        err.outcome_unknown = true;
    }
    err
}

fn get_u64(v: &Value, field: &str) -> Option<u64> {
    match v.as_record()?.get(field)? {
        Value::Num(d) => u64::try_from(*d).ok(),
        _ => None,
    }
}

impl Connector for EaccountingConnector {
    fn spec(&self) -> &'static ConnectorSpec {
        &super::SPEC
    }

    fn list(
        &self,
        resource: &str,
        query: &ListQuery,
        each: &mut dyn FnMut(Value) -> Result<bool, ConnectorError>,
    ) -> Result<ListStats, ConnectorError> {
        self.check_resource(resource)?;
        let mut pushed = Vec::new();
        let mut local = Vec::new();
        for f in &query.filters {
            match self.literal(resource, &f.field, &f.value) {
                Some(lit) if odata::is_identifier(&f.field) => {
                    pushed.push(prop(&f.field).cmp(f.op, lit))
                }
                _ => local.push(f),
            }
        }
        let mut base = Vec::new();
        if let Some(filter) = odata::Filter::all(pushed) {
            base.push(("$filter".to_string(), filter.render()));
        }
        if let Some(order) = &query.order_by {
            let (name, desc) = match order.strip_prefix('-') {
                Some(n) => (n, true),
                None => (order.as_str(), false),
            };
            if !odata::is_identifier(name) {
                return Err(ConnectorError::new(
                    ErrorClass::Config,
                    format!("cannot sort eAccounting {resource} by `{name}`"),
                ));
            }
            base.push((
                "$orderby".to_string(),
                if desc {
                    format!("{name} desc")
                } else {
                    name.to_string()
                },
            ));
        }
        let page_size = query
            .page_size
            .unwrap_or(self.config.page_size)
            .clamp(1, MAX_PAGE_SIZE);
        let path = format!("/{resource}");
        let mut stats = ListStats::default();
        if SINGLETONS.contains(&resource) {
            let answer = self.request(Method::GET, &path, &path, &[], None)?;
            let record = self.decode(&answer, &format!("GET {path}"))?;
            stats.pages = 1;
            if local.iter().all(|f| f.matches(&record)) {
                stats.records = 1;
                each(record)?;
            }
            return Ok(stats);
        }
        let mut page: u64 = 1;
        loop {
            let mut params = base.clone();
            params.push(("$page".to_string(), page.to_string()));
            params.push(("$pagesize".to_string(), page_size.to_string()));
            let answer = self.request(Method::GET, &path, &path, &params, None)?;
            let envelope = self.decode(&answer, &format!("GET {path}"))?;
            stats.pages += 1;
            let record = envelope.as_record().ok_or_else(|| {
                ConnectorError::new(
                    ErrorClass::Protocol,
                    format!("eAccounting GET {path} did not answer a {{Meta, Data}} envelope"),
                )
            })?;
            let meta = record.get("Meta").cloned().unwrap_or_default();
            let total_pages = get_u64(&meta, "TotalNumberOfPages").unwrap_or(0);
            let data = match record.get("Data") {
                Some(Value::List(items)) => items.clone(),
                _ => {
                    return Err(ConnectorError::new(
                        ErrorClass::Protocol,
                        format!("eAccounting GET {path} answered without a Data list"),
                    ))
                }
            };
            for item in data.iter() {
                if local.iter().all(|f| f.matches(item)) {
                    stats.records += 1;
                    if !each(item.clone())? {
                        return Ok(stats);
                    }
                }
            }
            if data.is_empty() || page >= total_pages {
                return Ok(stats);
            }
            page += 1;
        }
    }

    fn get(&self, resource: &str, id: &str) -> Result<Option<Value>, ConnectorError> {
        self.check_resource(resource)?;
        if SINGLETONS.contains(&resource) {
            let mut one = None;
            self.list(resource, &ListQuery::default(), &mut |v| {
                one = Some(v);
                Ok(false)
            })?;
            return Ok(one);
        }
        if resource == "currencies" {
            return Ok(self
                .find(resource, "Code", &Value::str(id))?
                .into_iter()
                .next());
        }
        let (template, path) = Self::entity_path(resource, id);
        match self.request(Method::GET, &template, &path, &[], None) {
            Ok(answer) => self.decode(&answer, &format!("GET {path}")).map(Some),
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn find(
        &self,
        resource: &str,
        field: &str,
        value: &Value,
    ) -> Result<Vec<Value>, ConnectorError> {
        let query = ListQuery {
            filters: vec![Filter {
                field: field.to_string(),
                op: FilterOp::Eq,
                value: value.clone(),
            }],
            ..ListQuery::default()
        };
        let mut found = Vec::new();
        self.list(resource, &query, &mut |v| {
            found.push(v);
            Ok(true)
        })?;
        Ok(found)
    }

    fn create(&self, resource: &str, record: &Record) -> Result<Value, ConnectorError> {
        self.check_resource(resource)?;
        self.validate(resource, record, true)?;
        let body = json::to_string(&Value::Record(Arc::new(record.clone())));
        let path = format!("/{resource}");
        let answer = self.request(Method::POST, &path, &path, &[], Some(&body))?;
        self.decode(&answer, &format!("POST {path}"))
            .map_err(ConnectorError::unknown_outcome)
    }

    fn update(
        &self,
        resource: &str,
        id: &str,
        changes: &Record,
        current: Option<&Record>,
    ) -> Result<Value, ConnectorError> {
        self.check_resource(resource)?;
        // `changes` is checked as sent; `current` came from the service.
        self.validate(resource, changes, false)?;
        let fetched;
        let current = match current {
            Some(c) => c,
            None => {
                fetched = self.get(resource, id)?.ok_or_else(|| {
                    ConnectorError::new(
                        ErrorClass::NotFound,
                        format!("eAccounting {resource} `{id}` does not exist"),
                    )
                })?;
                fetched.as_record().ok_or_else(|| {
                    ConnectorError::new(
                        ErrorClass::Protocol,
                        format!("eAccounting {resource} `{id}` is not a JSON object"),
                    )
                })?
            }
        };
        // PUT replaces the whole record: send everything, changes on top.
        let mut merged = current.clone();
        for (k, v) in changes.iter() {
            if !matches!(v, Value::Absent) {
                merged.insert(k.clone(), v.clone());
            }
        }
        let body = json::to_string(&Value::Record(Arc::new(merged)));
        let (template, path) = Self::entity_path(resource, id);
        let answer = self.request(Method::PUT, &template, &path, &[], Some(&body))?;
        self.decode(&answer, &format!("PUT {path}"))
            .map_err(ConnectorError::unknown_outcome)
    }

    fn stats(&self) -> CallStats {
        self.stats.snapshot()
    }

    fn target_identity(&self) -> String {
        format!("eaccounting {}", self.config.api_url)
    }

    /// Every company is behind the same address; the signed-in one is told
    /// by its settings (name, registration and VAT numbers, country), read
    /// once per connection and kept only as a hash.
    fn company(&self) -> Result<Option<String>, ConnectorError> {
        // Held while asking, so that concurrent workers ask once.
        let mut company = lock(&self.company);
        if let Some(known) = company.clone() {
            return Ok(Some(known));
        }
        let path = "/companysettings";
        let answer = self.request(Method::GET, path, path, &[], None)?;
        let settings = self.decode(&answer, &format!("GET {path}"))?;
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for field in [
            "Name",
            "CorporateIdentityNumber",
            "VatCode",
            "VatNumber",
            "CountryCode",
        ] {
            let value = settings
                .as_record()
                .and_then(|r| r.get(field))
                .and_then(Value::to_text)
                .unwrap_or_default();
            h.update(format!("{field}={value}\n").as_bytes());
        }
        let fingerprint = hex::encode(&h.finalize()[..12]);
        *company = Some(fingerprint.clone());
        Ok(Some(fingerprint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_and_blamed_fields_are_read_from_messages() {
        assert_eq!(
            parse_retry_after(
                "API calls quota exceeded! maximum admitted 600 per Minute. Try again in 55 seconds."
            ),
            Some(Duration::from_secs(55))
        );
        assert_eq!(parse_retry_after("slow down"), None);
        assert_eq!(
            blamed_field("DataModelValidationError - Name: The Name field is required. | X: y"),
            Some("Name".into())
        );
        assert_eq!(
            blamed_field("ResourceNotFound - TermsOfPaymentId: no resource with id 'x' exists."),
            Some("TermsOfPaymentId".into())
        );
        assert_eq!(
            blamed_field("DataModelValidationError - Rows[0].ArticleId: missing"),
            Some("Rows[0].ArticleId".into())
        );
        assert_eq!(
            blamed_field("Conflict - a customer with number 1 exists."),
            None
        );
    }

    #[test]
    fn error_bodies_are_classified_with_code_and_error_id() {
        let answer = Answer {
            status: 409,
            body: br#"{"ErrorCode":4000,"DeveloperErrorMessage":"Conflict - CustomerNumber: 7 is taken.","ErrorId":"abc"}"#.to_vec(),
            retry_after: None,
        };
        let e = api_error(&Method::POST, "/customers", &answer);
        assert_eq!(e.class, ErrorClass::Conflict);
        assert_eq!(e.code.as_deref(), Some("4000"));
        assert_eq!(e.error_id.as_deref(), Some("abc"));
        assert_eq!(e.field.as_deref(), Some("CustomerNumber"));
        assert!(!e.outcome_unknown);
        let answer = Answer {
            status: 503,
            body: b"<html>down</html>".to_vec(),
            retry_after: Some(Duration::from_secs(3)),
        };
        let e = api_error(&Method::POST, "/customers", &answer);
        assert_eq!(e.class, ErrorClass::Server);
        assert!(e.outcome_unknown, "a 5xx on a write may have been applied");
        assert_eq!(
            e.retry_after,
            Some(Duration::from_secs(3)),
            "Retry-After is kept"
        );
        assert!(!api_error(&Method::GET, "/customers", &answer).outcome_unknown);
    }

    #[test]
    fn the_spec_defaults_are_the_config_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::from_pairs(
            &super::super::SPEC,
            "books",
            &[("client_id", "id"), ("client_secret", "secret")],
        )
        .unwrap();
        let opened = EaccountingConnector::from_settings(&settings, dir.path())
            .unwrap()
            .config;
        let oauth = oauth::client_from_settings(&settings).unwrap();
        assert_eq!(oauth.identity_url, oauth::DEFAULT_IDENTITY_URL);
        let plain = ConnectorConfig::new(DEFAULT_API_URL, oauth, dir.path());
        assert_eq!(
            (
                &opened.api_url,
                opened.page_size,
                opened.rate_limit_per_minute,
                opened.timeout
            ),
            (
                &plain.api_url,
                plain.page_size,
                plain.rate_limit_per_minute,
                plain.timeout
            )
        );
        assert!(super::super::SPEC.auth_help.contains(AUTH_COMMAND));
    }

    #[test]
    fn entity_paths_encode_ids_and_name_templates() {
        assert_eq!(
            EaccountingConnector::entity_path("customers", "a b"),
            ("/customers/{id}".into(), "/customers/a%20b".into())
        );
        assert_eq!(
            EaccountingConnector::entity_path("accounts", "fy/1930"),
            (
                "/accounts/{fiscalyearId}/{accountNumber}".into(),
                "/accounts/fy/1930".into()
            )
        );
    }
}
