//! A running CCV Shop emulator: starting it, and the handle tests and
//! `flowc sandbox` hold to inspect and steer it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::app::App;
use super::config::{CcvShopConfig, SeedSource};
use super::generate;
use super::http::router;
use super::routes::API_PREFIX;
use super::seed::SeedData;
use super::signing::Keys;
use super::store::{Store, WebhookDelivery};
use crate::faults::Faults;
use crate::ratelimit::MinuteWindows;
use crate::server::{on_own_thread, serve};

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

pub(crate) fn initial_store(data: &SeedSource) -> Result<Store, String> {
    let seed = match data {
        SeedSource::Base => SeedData::base().map_err(|e| e.to_string())?,
        SeedSource::Sample => SeedData::sample().map_err(|e| e.to_string())?,
        SeedSource::Demo => super::demo::demo(chrono::Utc::now())?,
        SeedSource::Generated {
            orders,
            products,
            seed,
        } => generate::generate(*orders, *products, *seed)?,
        SeedSource::Custom(d) => (**d).clone(),
    };
    Store::from_seed(seed)
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
        keys: Keys::new(&config.public_key, &config.secret_key),
        config,
        store: Arc::new(Mutex::new(store)),
        limits: MinuteWindows::new(),
        faults: Faults::new(),
        counters: Mutex::new(BTreeMap::new()),
        http,
    });
    Ok((listener, app))
}

/// Binds and serves; the task ends once the handle is dropped.
async fn launch(
    config: CcvShopConfig,
) -> std::io::Result<(CcvShopEmulator, tokio::task::JoinHandle<()>)> {
    let (listener, app) = bind(config).await?;
    let addr = listener.local_addr()?;
    let (tx, task) = serve(listener, router(app.clone()));
    let emulator = CcvShopEmulator {
        addr,
        app,
        shutdown: Some(tx),
    };
    Ok((emulator, task))
}

/// Start an emulator on `127.0.0.1` (port from the config, 0 = any free port)
/// inside the current tokio runtime.
pub async fn start(config: CcvShopConfig) -> std::io::Result<CcvShopEmulator> {
    launch(config).await.map(|(emulator, _task)| emulator)
}

/// Start an emulator on its own runtime thread, for callers without a
/// runtime (e.g. `flowc sandbox`). Dropping the handle stops it.
pub fn start_blocking(config: CcvShopConfig) -> std::io::Result<CcvShopEmulator> {
    let started = on_own_thread("ccvshop-emulator", move || async move {
        let (emulator, task) = launch(config).await?;
        let serving: crate::server::Serving = Box::pin(async move {
            let _ = task.await;
        });
        Ok((emulator, serving))
    })?;
    // The thread ends by itself once the handle stops the server.
    Ok(started.0)
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
        self.app.keys.public()
    }

    pub fn secret_key(&self) -> &str {
        self.app.keys.secret()
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
