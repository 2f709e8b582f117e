//! The webhook registry (API notes §6). The shop generates each hook's
//! `key`; a hook's event cannot be changed after it is created.

use chrono::Utc;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};

use super::{create, delete, get, list, patch, Change, Render, Writable};
use crate::ccvshop::app::{App, Ctx, Reply};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::events::Event;
use crate::ccvshop::input::Body;
use crate::ccvshop::model::resource;
use crate::ccvshop::routes::RouteDef;
use crate::ccvshop::store::{Store, Table, Webhook};

pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef::new("webhooks", &[("GET", all), ("POST", new)]),
    RouteDef::new(
        "webhooks/{id}",
        &[
            ("GET", get::<Webhook>),
            ("PATCH", patch::<Webhook>),
            ("DELETE", delete::<Webhook>),
        ],
    ),
];

impl Render for Webhook {
    fn render(&self, app: &App, _: &Store) -> Value {
        let computed = json!({
            "href": app.url(&format!("webhooks/{}", self.id)),
            "parent": { "href": app.url("webhooks") },
        });
        resource("webhooks").render(self, [computed])
    }
}

impl Writable for Webhook {
    const MODEL: &'static str = "webhooks";
    const TABLE: Table = Table::Webhooks;

    fn settle(&mut self, body: &Body, _: &Store, change: Change) -> Result<(), ApiError> {
        if change == Change::Created {
            let known = Event::parse(&self.event).is_some();
            if !known {
                let names: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
                return Err(ApiError::invalid(format!(
                    "Unknown event '{}'; known: {}",
                    self.event,
                    names.join(", ")
                )));
            }
            self.key = new_key();
        }
        if body.has("address") {
            check_address(&self.address)?;
        }
        Ok(())
    }

    /// Changes to the registry itself fire nothing.
    fn event(&self, _: Change) -> Option<(Event, Value)> {
        None
    }
}

/// 32 letters and digits, like the keys CCV hands out.
fn new_key() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

fn check_address(address: &str) -> Result<(), ApiError> {
    match url::Url::parse(address) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ApiError::invalid(format!(
            "address '{address}' is not an absolute http(s) URL"
        ))),
    }
}

fn all(ctx: &Ctx) -> Result<Reply, ApiError> {
    list::<Webhook>(ctx, "webhooks")
}

fn new(ctx: &Ctx) -> Result<Reply, ApiError> {
    let blank = Webhook {
        id: 0,
        createdate: Utc::now(),
        event: String::new(),
        address: String::new(),
        key: String::new(),
        is_active: true,
    };
    create(ctx, blank)
}
