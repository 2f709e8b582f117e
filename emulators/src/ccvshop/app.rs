//! What every request handler works with: the emulator's shared state
//! ([`App`]), one request ([`Ctx`]) and a successful answer ([`Reply`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::collections::{envelope, Paging, Query};
use super::config::CcvShopConfig;
use super::errors::ApiError;
use super::input::parse_object;
use super::model::{Method, Resource};
use super::signing::Keys;
use super::store::Store;
use crate::faults::Faults;
use crate::ratelimit::MinuteWindows;

/// State shared by every request of one emulator.
pub(crate) struct App {
    pub base_url: String,
    pub api_root: String,
    pub keys: Keys,
    pub config: CcvShopConfig,
    /// Shared with background webhook deliveries, which record their outcome.
    pub store: Arc<Mutex<Store>>,
    pub limits: MinuteWindows,
    pub faults: Faults,
    pub counters: Mutex<BTreeMap<String, u64>>,
    pub http: reqwest::Client,
}

impl App {
    pub fn store(&self) -> MutexGuard<'_, Store> {
        // A handler never panics while holding the lock, and the data stays
        // consistent between statements, so a poisoned lock is still usable.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shop's clock: this machine's, moved by the configured offset.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::seconds(self.config.clock_offset_secs)
    }

    pub fn counters(&self) -> MutexGuard<'_, BTreeMap<String, u64>> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Absolute URL of a resource path relative to the API root, with the
    /// trailing slash the docs use, e.g. `url("orders/5")`.
    pub fn url(&self, relative: &str) -> String {
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
        let config = &self.app.config;
        Paging::from_query(&self.query, config.default_page_size, config.max_page_size)
    }

    /// One page of `items` (already filtered and sorted) in the collection
    /// envelope, the collection being `relative` to the API root.
    pub fn page(&self, relative: &str, items: Vec<Value>) -> Result<Reply, ApiError> {
        let paging = self.paging()?;
        Ok(Reply::ok(envelope(
            &self.url(relative),
            &self.query,
            paging,
            items,
        )))
    }

    /// The write body, checked against `model`; a request with a query
    /// string is refused, as no write takes parameters.
    pub fn write(&self, model: &Resource, method: Method) -> Result<Map<String, Value>, ApiError> {
        self.query.allow(&[])?;
        let body = parse_object(self.headers, self.body)?;
        model.check_write(method, &body, "")
    }
}
