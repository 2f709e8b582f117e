//! Writes: validation beyond the model, referenced ids, uniqueness and the
//! fields the server derives (numbers, totals, VAT, copied addresses,
//! timestamps). Every function works on the locked [`Store`] and either
//! builds the whole entity or nothing; the caller stores it.

pub mod accounting;
mod articles;
mod booking;
mod customers;
mod documents;
mod labels;
mod pricing;

pub use booking::{book_from, check_expected_totals};
pub use documents::Doc;
pub use labels::label_in_use;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::errors::ApiError;
use super::model::{check, Problems, Schema};
use super::store::Store;
use super::values::decimal_of;

/// Builds a `collection` entity from a write body: a POST, a PUT replacing
/// `existing`, or a seed entry that keeps its `Id`.
pub fn build(
    store: &mut Store,
    collection: &str,
    body: &Value,
    existing: Option<&Value>,
    keep_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let mut document = |doc| documents::build(store, doc, body, existing, keep_id.clone(), now);
    match collection {
        "customers" => customers::build(store, body, existing, keep_id, now),
        "articles" => articles::build(store, body, existing, keep_id, now),
        "articlelabels" => labels::build(store, body, existing, keep_id),
        "quotes" => document(Doc::Quote),
        "orders" => document(Doc::Order),
        "customerinvoicedrafts" => document(Doc::Draft),
        "customerinvoices" => document(Doc::Invoice),
        "vouchers" => accounting::build_voucher(store, body, keep_id, now),
        "fiscalyears" => accounting::build_fiscal_year(store, body, keep_id),
        "accounts" => accounting::build_account(store, body, None, now),
        other => Err(ApiError::validation(format!("{other} cannot be written"))),
    }
}

fn s<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}
fn b(m: &Map<String, Value>, k: &str) -> Option<bool> {
    m.get(k).and_then(Value::as_bool)
}
fn d(m: &Map<String, Value>, k: &str) -> Option<Decimal> {
    m.get(k).and_then(decimal_of)
}
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The id an entity keeps: the one it has, the one a seed gives it, or new.
fn entity_id(existing: Option<&Value>, keep_id: Option<String>) -> String {
    existing
        .and_then(|e| e["Id"].as_str().map(str::to_string))
        .or(keep_id)
        .unwrap_or_else(new_id)
}

/// The writable properties of `body`, or every problem with them at once.
fn checked(schema: &Schema, body: &Value) -> Result<Map<String, Value>, ApiError> {
    let mut p = Problems::default();
    let m = check(schema, body, "", &mut p);
    if p.is_empty() {
        Ok(m)
    } else {
        Err(p.into_error())
    }
}

/// The entity `id` refers to in `collection`, when an id is given; an id
/// that names nothing is a 3000 against `field`.
fn require_ref(
    store: &Store,
    collection: &str,
    field: &str,
    id: Option<&str>,
) -> Result<Option<Value>, ApiError> {
    match id {
        None => Ok(None),
        Some(id) => store
            .by_id(collection, id)
            .cloned()
            .map(Some)
            .ok_or_else(|| ApiError::reference_not_found(field, id)),
    }
}

/// The emulator has no price lists, discount agreements, cost centres or
/// projects, so any id sent for them cannot exist.
fn reject_unbacked_refs(
    m: &Map<String, Value>,
    path: &str,
    fields: &[&str],
) -> Result<(), ApiError> {
    for f in fields {
        if let Some(id) = s(m, f) {
            return Err(ApiError::reference_not_found(&format!("{path}{f}"), id));
        }
    }
    Ok(())
}

/// Row fields that point at things the emulator does not keep.
const ROW_UNBACKED: &[&str] = &[
    "CostCenterItemId1",
    "CostCenterItemId2",
    "CostCenterItemId3",
    "ProjectId",
];

/// Currency and country codes must be ones `/currencies` and `/countries` list.
fn check_codes(store: &Store, m: &Map<String, Value>, p: &mut Problems) {
    let listed = |collection: &str, code: &str| {
        store
            .all(collection)
            .iter()
            .any(|c| c["Code"].as_str() == Some(code))
    };
    for field in ["CurrencyCode", "InvoiceCurrencyCode"] {
        if let Some(code) = s(m, field).filter(|c| !listed("currencies", c)) {
            p.add(
                "",
                field,
                format!("'{code}' is not a known currency (see /currencies)."),
            );
        }
    }
    for field in ["InvoiceCountryCode", "DeliveryCountryCode"] {
        if let Some(code) = s(m, field).filter(|c| !listed("countries", c)) {
            p.add(
                "",
                field,
                format!("'{code}' is not a known country code (see /countries)."),
            );
        }
    }
}

fn truncate_utf16(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        used += c.len_utf16();
        if used > max {
            break;
        }
        out.push(c);
    }
    out
}
