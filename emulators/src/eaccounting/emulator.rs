//! A running eAccounting emulator: starting it, and the handle tests and
//! `flowc sandbox` hold to mint tokens, move the clock and inspect the data.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::config::EaccountingConfig;
use super::http::router;
use super::identity::{self, Identity, OAuthClient, TokenSet};
use super::seed;
use super::shared::{lock, Shared};
use super::store::Store;
use crate::faults::Faults;
use crate::ratelimit::MinuteWindows;
use crate::server::{on_own_thread, serve, Serving};

/// Handle to a running emulator; the server stops when it is dropped.
pub struct EaccountingEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    client: OAuthClient,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Starts the emulator on `127.0.0.1` (port from the config, 0 = any).
pub async fn start(config: EaccountingConfig) -> std::io::Result<EaccountingEmulator> {
    launch(config).await.map(|(emu, _task)| emu)
}

async fn launch(
    config: EaccountingConfig,
) -> std::io::Result<(EaccountingEmulator, tokio::task::JoinHandle<()>)> {
    let invalid = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg);
    let client = config
        .clients
        .first()
        .cloned()
        .ok_or_else(|| invalid("EaccountingConfig.clients must not be empty".into()))?;
    let mut store = Store::with_reference_seed();
    if let Some(json) = &config.seed {
        seed::apply(&mut store, json, Utc::now()).map_err(invalid)?;
    }
    let shared = Arc::new(Shared {
        api_base: format!("/{}", config.api_base.trim_matches('/')).to_ascii_lowercase(),
        rate_limit: config.rate_limit_per_minute,
        store: Mutex::new(store),
        identity: Mutex::new(Identity::new(
            config.clients.clone(),
            config.access_token_lifetime,
            config.refresh_token_lifetime,
            config.user.clone(),
        )),
        limits: MinuteWindows::new(),
        faults: Faults::new(),
        counters: Mutex::new(BTreeMap::new()),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let (tx, task) = serve(listener, router(shared.clone()));
    let emulator = EaccountingEmulator {
        shared,
        addr,
        client,
        shutdown: Some(tx),
    };
    Ok((emulator, task))
}

/// For non-async callers (`flowc sandbox`): runs the server on its own
/// runtime thread. Dropping the handle stops the server and joins the thread.
pub fn start_blocking(config: EaccountingConfig) -> std::io::Result<BlockingEaccountingEmulator> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (inner, thread) = on_own_thread("eaccounting-emulator", move || async move {
        let (emulator, task) = launch(config).await?;
        let serving: Serving = Box::pin(async move {
            let _ = stop_rx.await;
            // Open keep-alive connections may hold graceful shutdown; do not hang on them.
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        });
        Ok((emulator, serving))
    })?;
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
        seed::apply(&mut lock(&self.shared.store), json, now)
    }

    /// Changes one company setting, as the company's administrator would
    /// (`ActivatedModules`: `["Stock"]` switches the stock module on).
    pub fn set_company_setting(&self, name: &str, value: Value) {
        lock(&self.shared.store)
            .company
            .insert(name.to_string(), value);
    }

    /// Stops the server (also done on drop).
    pub fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
