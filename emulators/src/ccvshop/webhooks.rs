//! Webhook registry and best-effort delivery (API notes §6).
//!
//! Deliveries are POSTs of a JSON body holding at least `id`, signed with
//! `x-hash = HMAC-SHA512(key, address + "|" + body)` plus `x-date`. They run
//! on background tasks and only ever go to loopback addresses: the emulator
//! must never call out of the machine, whatever a test registers.

use chrono::Utc;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};

use super::collections::envelope;
use super::errors::ApiError;
use super::input::Fields;
use super::signing::{format_x_date, webhook_hash};
use super::store::{Store, Table, Webhook, WebhookDelivery};
use super::{ts, App, Ctx, Reply};

/// Events the emulator fires. The names are the ones seen in real integrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    OrdersCreated,
    OrdersUpdated,
    OrdersUpdatedIsPaid,
    OrdersUpdatedStatus,
    OrdersUpdatedTrackAndTrace,
    OrdersDeleted,
    ProductsCreated,
    ProductsUpdated,
    ProductsDeleted,
    CategoriesCreated,
    CategoriesUpdated,
    CategoriesDeleted,
}

impl Event {
    pub const ALL: &'static [Event] = &[
        Event::OrdersCreated,
        Event::OrdersUpdated,
        Event::OrdersUpdatedIsPaid,
        Event::OrdersUpdatedStatus,
        Event::OrdersUpdatedTrackAndTrace,
        Event::OrdersDeleted,
        Event::ProductsCreated,
        Event::ProductsUpdated,
        Event::ProductsDeleted,
        Event::CategoriesCreated,
        Event::CategoriesUpdated,
        Event::CategoriesDeleted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::OrdersCreated => "orders.created",
            Event::OrdersUpdated => "orders.updated",
            Event::OrdersUpdatedIsPaid => "orders.updated.ispaid",
            Event::OrdersUpdatedStatus => "orders.updated.status",
            Event::OrdersUpdatedTrackAndTrace => "orders.updated.trackandtrace",
            Event::OrdersDeleted => "orders.deleted",
            Event::ProductsCreated => "products.created",
            Event::ProductsUpdated => "products.updated",
            Event::ProductsDeleted => "products.deleted",
            Event::CategoriesCreated => "categories.created",
            Event::CategoriesUpdated => "categories.updated",
            Event::CategoriesDeleted => "categories.deleted",
        }
    }

    pub fn parse(name: &str) -> Option<Event> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }
}

fn is_loopback(address: &str) -> bool {
    match url::Url::parse(address) {
        Ok(u) => match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        Err(_) => false,
    }
}

/// Queue `event` for every active webhook that listens to it.
pub(crate) fn emit(app: &App, store: &mut Store, event: Event, payload: Value) {
    let body = payload.to_string();
    let hooks: Vec<Webhook> = store
        .webhooks
        .values()
        .filter(|w| w.is_active && w.event == event.name())
        .cloned()
        .collect();
    for hook in hooks {
        let x_date = format_x_date(Utc::now());
        let x_hash = webhook_hash(&hook.key, &hook.address, body.as_bytes());
        let index = store.webhook_deliveries.len();
        let mut delivery = WebhookDelivery {
            webhook_id: hook.id,
            event: event.name().to_string(),
            address: hook.address.clone(),
            body: body.clone(),
            x_date: x_date.clone(),
            x_hash: x_hash.clone(),
            outcome: None,
        };
        if !app.config.deliver_webhooks {
            delivery.outcome = Some(Err("delivery disabled in the emulator config".into()));
        } else if !is_loopback(&hook.address) {
            delivery.outcome = Some(Err(
                "not delivered: the emulator only calls loopback addresses".into(),
            ));
        }
        let pending = delivery.outcome.is_none();
        store.webhook_deliveries.push(delivery);
        if !pending {
            continue;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            if let Some(d) = store.webhook_deliveries.get_mut(index) {
                d.outcome = Some(Err("no async runtime to deliver on".into()));
            }
            continue;
        };
        let request = app
            .http
            .post(&hook.address)
            .header("content-type", "application/json")
            .header("x-date", x_date)
            .header("x-hash", x_hash)
            .body(body.clone());
        let shared = app.shared_store();
        runtime.spawn(async move {
            let outcome = match request.send().await {
                Ok(r) => Ok(r.status().as_u16()),
                Err(e) => Err(e.to_string()),
            };
            let mut store = shared.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(d) = store.webhook_deliveries.get_mut(index) {
                d.outcome = Some(outcome);
            }
        });
    }
}

fn render(app: &App, w: &Webhook) -> Value {
    json!({
        "href": app.url(&format!("webhooks/{}", w.id)),
        "id": w.id,
        "createdate": ts(w.createdate),
        "event": w.event,
        "address": w.address,
        "key": w.key,
        "is_active": w.is_active,
        "parent": { "href": app.url("webhooks") },
    })
}

fn check_address(address: &str) -> Result<(), ApiError> {
    match url::Url::parse(address) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ApiError::invalid(format!(
            "address '{address}' is not an absolute http(s) URL"
        ))),
    }
}

pub fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let paging = ctx.paging()?;
    let store = ctx.store();
    let items = store
        .webhooks
        .values()
        .map(|w| render(ctx.app, w))
        .collect();
    Ok(Reply::ok(envelope(
        &ctx.url("webhooks"),
        &ctx.query,
        paging,
        items,
    )))
}

pub fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let store = ctx.store();
    let w = store
        .webhooks
        .get(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("webhook", ctx.id(0)))?;
    Ok(Reply::ok(render(ctx.app, w)))
}

pub fn create(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let body = ctx.object()?;
    let f = Fields::new(&body);
    f.allow(
        &["event", "address", "is_active"],
        &[("key", "the key is generated by the shop")],
    )?;
    let event_name = f.require("event", f.nonempty("event")?)?;
    let event = Event::parse(&event_name).ok_or_else(|| {
        let known: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
        ApiError::invalid(format!(
            "Unknown event '{event_name}'; known: {}",
            known.join(", ")
        ))
    })?;
    let address = f.require("address", f.nonempty("address")?)?;
    check_address(&address)?;
    let is_active = f.boolean("is_active")?.unwrap_or(true);
    let key: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let mut store = ctx.store();
    let id = store.next_id(Table::Webhooks);
    let hook = Webhook {
        id,
        createdate: Utc::now(),
        event: event.name().into(),
        address,
        key,
        is_active,
    };
    let rendered = render(ctx.app, &hook);
    store.webhooks.insert(id, hook);
    Ok(Reply::created(rendered))
}

pub fn patch(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let body = ctx.object()?;
    let f = Fields::new(&body);
    f.allow(
        &["address", "is_active"],
        &[
            ("event", "the event of a webhook cannot be changed"),
            ("key", "the key is generated by the shop"),
        ],
    )?;
    let address = f.nonempty("address")?;
    if let Some(a) = &address {
        check_address(a)?;
    }
    let is_active = f.boolean("is_active")?;
    let mut store = ctx.store();
    let hook = store
        .webhooks
        .get_mut(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("webhook", ctx.id(0)))?;
    if let Some(a) = address {
        hook.address = a;
    }
    if let Some(b) = is_active {
        hook.is_active = b;
    }
    Ok(Reply::NoContent)
}

pub fn delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let mut store = ctx.store();
    store
        .webhooks
        .remove(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("webhook", ctx.id(0)))?;
    Ok(Reply::NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_called() {
        assert!(is_loopback("http://127.0.0.1:9/hook"));
        assert!(is_loopback("http://[::1]:9/hook"));
        assert!(is_loopback("http://localhost/hook?shop=1"));
        assert!(!is_loopback("https://example.com/hook"));
        assert!(!is_loopback("http://10.0.0.1/hook"));
        assert!(!is_loopback("not a url"));
    }

    #[test]
    fn event_names_round_trip() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.name()), Some(*e));
        }
        assert_eq!(Event::parse("orders.status"), None);
    }
}
