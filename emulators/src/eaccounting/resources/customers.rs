//! Customers (notes §3.1): one name field, a private-person flag, an
//! invoice address, terms of payment, and a number unique in the company.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::{b, check_codes, checked, entity_id, reject_unbacked_refs, require_ref, s};
use crate::eaccounting::errors::ApiError;
use crate::eaccounting::model::{schema, Problems};
use crate::eaccounting::store::Store;
use crate::eaccounting::values::format_utc;

pub(super) fn build(
    store: &mut Store,
    body: &Value,
    existing: Option<&Value>,
    keep_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let model = schema("CustomerApi");
    let mut m = checked(model, body)?;
    check_fields(store, &m)?;
    let terms = require_ref(
        store,
        "termsofpayments",
        "TermsOfPaymentId",
        s(&m, "TermsOfPaymentId"),
    )?;
    for (collection, field) in [
        ("deliverymethods", "DeliveryMethodId"),
        ("deliveryterms", "DeliveryTermId"),
    ] {
        require_ref(store, collection, field, s(&m, field))?;
    }
    reject_unbacked_refs(
        &m,
        "",
        &["SalesPriceListId", "DiscountAgreementId", "PayToAccountId"],
    )?;
    let id = entity_id(existing, keep_id);
    let number = number(store, &m, existing, &id)?;
    m.insert("Id".into(), json!(id));
    m.insert("CustomerNumber".into(), json!(number));
    if !m.contains_key("CurrencyCode") {
        m.insert("CurrencyCode".into(), json!(store.company_currency()));
    }
    m.insert("TermsOfPayment".into(), terms.unwrap_or(Value::Null));
    m.insert("ChangedUtc".into(), json!(format_utc(now)));
    // What the server keeps itself survives a PUT.
    for keep in ["LastInvoiceDate", "PayToAccountId", "UnpaidInvoicesAmount"] {
        if let Some(v) = existing.and_then(|e| e.get(keep)) {
            m.insert(keep.into(), v.clone());
        }
    }
    m.entry("UnpaidInvoicesAmount").or_insert(json!(0));
    m.entry("EmailAddresses").or_insert(json!([]));
    Ok(model.complete(m))
}

/// The rules the model cannot say: known codes, a VAT number's shape,
/// reverse charge only with a VAT number, no blank customer number.
fn check_fields(store: &Store, m: &Map<String, Value>) -> Result<(), ApiError> {
    let mut p = Problems::default();
    check_codes(store, m, &mut p);
    if s(m, "VatNumber").is_some_and(|vat| !vat_number_shape(vat)) {
        p.add(
            "",
            "VatNumber",
            "must be a 2-letter country code followed by 8-12 characters.",
        );
    }
    if b(m, "ReverseChargeOnConstructionServices") == Some(true) && s(m, "VatNumber").is_none() {
        p.add(
            "",
            "ReverseChargeOnConstructionServices",
            "requires VatNumber to be set.",
        );
    }
    if s(m, "CustomerNumber").is_some_and(|n| n.trim().is_empty()) {
        p.add("", "CustomerNumber", "must not be blank.");
    }
    match p.is_empty() {
        true => Ok(()),
        false => Err(p.into_error()),
    }
}

/// Two capital letters, then 8–12 capitals or digits (notes §3.1).
fn vat_number_shape(vat: &str) -> bool {
    let chars: Vec<char> = vat.chars().collect();
    (10..=14).contains(&chars.len())
        && chars[..2].iter().all(char::is_ascii_uppercase)
        && chars[2..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The number sent (unique regardless of case), the number the customer
/// had, or the company's next free one.
fn number(
    store: &mut Store,
    m: &Map<String, Value>,
    existing: Option<&Value>,
    id: &str,
) -> Result<String, ApiError> {
    if let Some(n) = s(m, "CustomerNumber") {
        let taken = store.all("customers").iter().any(|c| {
            c["CustomerNumber"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(n))
                && c["Id"].as_str() != Some(id)
        });
        if taken {
            return Err(ApiError::conflict(format!(
                "Conflict - A customer with CustomerNumber '{n}' already exists."
            )));
        }
        return Ok(n.to_string());
    }
    Ok(match existing.and_then(|e| e["CustomerNumber"].as_str()) {
        Some(kept) => kept.to_string(),
        None => next_number(store),
    })
}

fn next_number(store: &mut Store) -> String {
    loop {
        let candidate = store.next_customer_number.to_string();
        store.next_customer_number += 1;
        let used = store
            .all("customers")
            .iter()
            .any(|c| c["CustomerNumber"].as_str() == Some(&candidate));
        if !used {
            return candidate;
        }
    }
}
