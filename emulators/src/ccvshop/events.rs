//! Webhook events and their delivery (API notes §6).
//!
//! Deliveries are POSTs of a JSON body holding at least `id`, signed with
//! `x-hash = HMAC-SHA512(key, address + "|" + body)` plus `x-date`. They run
//! on background tasks and only ever go to loopback addresses: the emulator
//! must never call out of the machine, whatever a test registers.

use chrono::Utc;
use serde_json::Value;

use super::app::App;
use super::signing::{format_x_date, webhook_hash};
use super::store::{Store, Webhook, WebhookDelivery};

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
        let delivery = signed(&hook, event, &body);
        let refused = refusal(app, &hook.address);
        let index = store.webhook_deliveries.len();
        let request = app
            .http
            .post(&hook.address)
            .header("content-type", "application/json")
            .header("x-date", delivery.x_date.as_str())
            .header("x-hash", delivery.x_hash.as_str())
            .body(body.clone());
        store.webhook_deliveries.push(WebhookDelivery {
            outcome: refused.map(Err),
            ..delivery
        });
        if store.webhook_deliveries[index].outcome.is_none() {
            send(app, store, index, request);
        }
    }
}

/// The delivery of `body` to `hook`, signed, not yet attempted.
fn signed(hook: &Webhook, event: Event, body: &str) -> WebhookDelivery {
    WebhookDelivery {
        webhook_id: hook.id,
        event: event.name().to_string(),
        address: hook.address.clone(),
        body: body.to_string(),
        x_date: format_x_date(Utc::now()),
        x_hash: webhook_hash(&hook.key, &hook.address, body.as_bytes()),
        outcome: None,
    }
}

/// Why a delivery is not even attempted, if it is not.
fn refusal(app: &App, address: &str) -> Option<String> {
    if !app.config.deliver_webhooks {
        Some("delivery disabled in the emulator config".into())
    } else if !is_loopback(address) {
        Some("not delivered: the emulator only calls loopback addresses".into())
    } else {
        None
    }
}

/// Posts in the background; the outcome is written back to delivery `index`.
fn send(app: &App, store: &mut Store, index: usize, request: reqwest::RequestBuilder) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        store.webhook_deliveries[index].outcome =
            Some(Err("no async runtime to deliver on".into()));
        return;
    };
    let shared = app.store.clone();
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
