//! CCV Shop webhooks: the receiver (`POST /webhooks/ccvshop`) and
//! `flowc webhooks install | list | remove`.
//!
//! A delivery is only a trigger. It is verified (`x-hash` =
//! HMAC-SHA512(key, address|body), the key being the one the shop returned
//! when the webhook was installed, compared in constant time), the record
//! it names is read again over the signed API, and the flows listening to
//! the event sync just that record. Repeated and out-of-order deliveries
//! are harmless: the sync always reads the record as it is now, and the
//! engine's ledger writes nothing that is already written.
//!
//! Answers: 401 for a signature that matches no installed webhook, 400 for
//! a body without a record id, 404 for an id the shop does not know, 202
//! once the sync is queued, 200 when no flow listens to the event.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value as Json_};

use super::Server;
use crate::connectors::ccvshop::signing::verify_webhook;
use crate::connectors::{Connector, ConnectorError, ListQuery};
use crate::state::RegisteredWebhook;
use crate::value::Value;

/// Where serve receives CCV Shop deliveries, below `public_url`.
pub const PATH: &str = "/webhooks/ccvshop";
const CONNECTOR: &str = "ccvshop";

type Answer = (StatusCode, Json<Json_>);

fn answer(status: StatusCode, body: Json_) -> Answer {
    (status, Json(body))
}

pub async fn receive(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Answer {
    let hash = headers
        .get("x-hash")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let hooks = match server.store.webhooks(CONNECTOR) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("webhook refused: cannot read the installed webhooks: {e}");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "state store unavailable"}),
            );
        }
    };
    let Some(hook) = hooks
        .iter()
        .find(|h| verify_webhook(&h.key, &h.address, &body, hash))
    else {
        server.metrics.webhook("bad_signature");
        tracing::warn!(
            installed = hooks.len(),
            "webhook refused: its x-hash matches no installed webhook (a forged or stale delivery, or webhooks installed by another state folder; `flowc webhooks list` shows them)"
        );
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "signature does not match"}),
        );
    };
    let event = hook.event.clone();
    let Some(id) = record_id(&body) else {
        server.metrics.webhook("bad_request");
        tracing::warn!(event = %event, "webhook refused: the body names no record id");
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "the body has no `id`"}),
        );
    };
    let listening: Vec<String> = server
        .flows
        .values()
        .filter(|s| s.config.webhooks.iter().any(|(e, _)| *e == event))
        .map(|s| s.name.clone())
        .collect();
    let Some(first) = listening.first() else {
        server.metrics.webhook("ignored");
        tracing::info!(event = %event, id = %id, "webhook ignored: no flow listens to this event");
        return answer(StatusCode::OK, json!({"status": "ignored", "event": event}));
    };
    match exists(&server, first, &id).await {
        Ok(false) => {
            server.metrics.webhook("unknown_id");
            tracing::warn!(event = %event, id = %id, "webhook names a record the shop does not have; nothing to sync");
            return answer(
                StatusCode::NOT_FOUND,
                json!({"error": format!("no record {id} in the shop")}),
            );
        }
        Ok(true) => {}
        // The shop is not reachable now: the sync reads it again later.
        Err(e) => {
            tracing::warn!(event = %event, id = %id, "cannot check the record now ({e}); syncing it anyway")
        }
    }
    server.metrics.webhook("accepted");
    tracing::info!(event = %event, id = %id, flows = ?listening, "webhook accepted");
    for flow in &listening {
        server.queue(flow, id.clone());
    }
    answer(
        StatusCode::ACCEPTED,
        json!({"status": "queued", "id": id, "flows": listening}),
    )
}

/// The record id of a delivery body: `id`, a number or a numeric string.
fn record_id(body: &[u8]) -> Option<String> {
    let v: Json_ = serde_json::from_slice(body).ok()?;
    match v.get("id")? {
        Json_::Number(n) if n.is_u64() => Some(n.to_string()),
        Json_::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        _ => None,
    }
}

async fn exists(server: &Arc<Server>, flow: &str, id: &str) -> Result<bool, ConnectorError> {
    let server = Arc::clone(server);
    let (flow, id) = (flow.to_string(), id.to_string());
    tokio::task::spawn_blocking(move || {
        let slot = &server.flows[&flow];
        match server.source_of(slot) {
            Some(source) => Ok(source.get(&slot.source_resource, &id)?.is_some()),
            None => Ok(false),
        }
    })
    .await
    .unwrap_or(Ok(true))
}

/// The events the configuration listens to, and the shop connection to
/// register them with.
fn wanted(server: &Server) -> Result<(BTreeSet<String>, Arc<dyn Connector>), String> {
    let mut events = BTreeSet::new();
    let mut shop = None;
    for slot in server
        .flows
        .values()
        .filter(|s| !s.config.webhooks.is_empty())
    {
        events.extend(slot.config.webhooks.iter().map(|(e, _)| e.clone()));
        shop = shop.or_else(|| server.source_of(slot).cloned());
    }
    match shop {
        Some(shop) => Ok((events, shop)),
        None => Err("no flow in flowc.toml lists `webhooks`; add e.g. webhooks = [\"orders.created\"] to a [flow.NAME] table".into()),
    }
}

/// The webhooks installed from this state folder.
fn stored(server: &Server) -> Result<Vec<RegisteredWebhook>, String> {
    server.store.webhooks(CONNECTOR).map_err(|e| e.to_string())
}

/// The address deliveries go to.
pub fn address(public_url: &url::Url) -> String {
    format!("{}{PATH}", public_url.as_str().trim_end_matches('/'))
}

fn field(v: &Value, name: &str) -> Option<String> {
    v.as_record()?.get(name)?.to_text()
}

/// What `flowc webhooks install` did, one line per event.
pub fn install(server: &Server) -> Result<Vec<String>, String> {
    let public_url =
        server.config.public_url.as_ref().ok_or(
            "flowc.toml has no [serve] public_url: the address the shop delivers webhooks to",
        )?;
    let address = address(public_url);
    let (events, shop) = wanted(server)?;
    let in_shop = list_in_shop(&*shop)?;
    let stored = stored(server)?;
    let mut out = Vec::new();
    for event in events {
        let same = |h: &&Value| {
            field(h, "event").as_deref() == Some(&event)
                && field(h, "address").as_deref() == Some(&address)
        };
        let live = in_shop.iter().find(same);
        if let Some(live) = live {
            let id = field(live, "id").unwrap_or_default();
            if stored.iter().any(|s| s.id == id) {
                out.push(format!("{event}: already installed (webhook {id})"));
                continue;
            }
            if let Some(key) = field(live, "key").filter(|k| !k.is_empty()) {
                save(server, &id, &event, &address, &key)?;
                out.push(format!(
                    "{event}: found in the shop (webhook {id}), key stored"
                ));
                continue;
            }
        }
        let mut record = crate::value::Record::default();
        record.insert("event", Value::str(&event));
        record.insert("address", Value::str(&address));
        record.insert("is_active", Value::Bool(true));
        let created = shop
            .create("webhooks", &record)
            .map_err(|e| format!("cannot install {event}: {e}"))?;
        let id = field(&created, "id").ok_or("the shop returned a webhook without an id")?;
        let key = field(&created, "key").ok_or(
            "the shop returned no key for the new webhook; its deliveries cannot be verified",
        )?;
        save(server, &id, &event, &address, &key)?;
        out.push(format!("{event}: installed (webhook {id}) → {address}"));
    }
    Ok(out)
}

fn save(server: &Server, id: &str, event: &str, address: &str, key: &str) -> Result<(), String> {
    server
        .store
        .save_webhook(&RegisteredWebhook {
            connector: CONNECTOR.into(),
            id: id.into(),
            event: event.into(),
            address: address.into(),
            key: key.into(),
            created_at: chrono::Utc::now(),
        })
        .map_err(|e| e.to_string())
}

fn list_in_shop(shop: &dyn Connector) -> Result<Vec<Value>, String> {
    let mut all = Vec::new();
    shop.list("webhooks", &ListQuery::default(), &mut |v| {
        all.push(v);
        Ok(true)
    })
    .map_err(|e| format!("cannot list the shop's webhooks: {e}"))?;
    Ok(all)
}

/// `flowc webhooks list`: what the state folder holds, and whether the shop
/// still has each (the key is never shown).
pub fn list(server: &Server) -> Result<Vec<String>, String> {
    let stored = stored(server)?;
    let in_shop = match wanted(server) {
        Ok((_, shop)) => Some(list_in_shop(&*shop)?),
        Err(_) => None,
    };
    Ok(stored
        .iter()
        .map(|h| {
            let live = in_shop.as_ref().map(|all| {
                all.iter()
                    .find(|v| field(v, "id").as_deref() == Some(&h.id))
                    .map(|v| field(v, "is_active").as_deref() == Some("true"))
            });
            let state = match live {
                None => "",
                Some(Some(true)) => "active",
                Some(Some(false)) => "inactive in the shop",
                Some(None) => "missing in the shop: run `flowc webhooks install`",
            };
            format!("{:<6} {:<30} {}  {state}", h.id, h.event, h.address)
        })
        .collect())
}

/// `flowc webhooks remove`: deletes every stored webhook from the shop and
/// forgets it.
pub fn remove(server: &Server) -> Result<Vec<String>, String> {
    let (_, shop) = wanted(server)?;
    let stored = stored(server)?;
    let mut out = Vec::new();
    for h in stored {
        let gone = shop
            .delete("webhooks", &h.id)
            .map_err(|e| format!("cannot remove webhook {} ({}): {e}", h.id, h.event))?;
        server
            .store
            .forget_webhook(CONNECTOR, &h.id)
            .map_err(|e| e.to_string())?;
        out.push(format!(
            "{}: {} (webhook {})",
            h.event,
            if gone {
                "removed"
            } else {
                "was already gone from the shop"
            },
            h.id
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_numbers_or_numeric_strings() {
        assert_eq!(record_id(br#"{"id": 12}"#).as_deref(), Some("12"));
        assert_eq!(
            record_id(br#"{"id": "12", "status": 3}"#).as_deref(),
            Some("12")
        );
        assert_eq!(record_id(br#"{"id": "12; DROP"}"#), None);
        assert_eq!(record_id(br#"{"id": -1}"#), None);
        assert_eq!(record_id(b"not json"), None);
        assert_eq!(record_id(br#"{"order": 1}"#), None);
    }

    #[test]
    fn the_address_is_below_the_public_url() {
        let u = url::Url::parse("https://sync.example.com/shop1/").unwrap();
        assert_eq!(
            address(&u),
            "https://sync.example.com/shop1/webhooks/ccvshop"
        );
        let u = url::Url::parse("https://sync.example.com").unwrap();
        assert_eq!(address(&u), "https://sync.example.com/webhooks/ccvshop");
    }
}
