//! Articles (notes §3.2): a unique number, an account coding that sets the
//! VAT rate, a unit, prices with and without VAT, a stock balance (the
//! company's own once its stock module is on), labels and barcodes.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::{checked, d, entity_id, require_ref, s};
use crate::eaccounting::errors::ApiError;
use crate::eaccounting::model::schema;
use crate::eaccounting::store::Store;
use crate::eaccounting::values::{decimal_of, format_utc, money, number, round2};

/// The VAT rate of an account coding, as a fraction (0.21).
pub(super) fn coding_rate(coding: &Value) -> Decimal {
    decimal_of(&coding["VatRatePercent"]).unwrap_or_default()
}

pub(super) fn build(
    store: &mut Store,
    body: &Value,
    existing: Option<&Value>,
    keep_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let model = schema("ArticleApi");
    let mut m = checked(model, body)?;
    if s(&m, "Number").is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::validation(
            "DataModelValidationError - Number: must not be blank.",
        ));
    }
    let coding = require_ref(
        store,
        "articleaccountcodings",
        "CodingId",
        s(&m, "CodingId"),
    )?
    .unwrap_or_default();
    let unit = require_ref(store, "units", "UnitId", s(&m, "UnitId"))?.unwrap_or_default();
    let id = entity_id(existing, keep_id);
    check_unique(store, s(&m, "Number").unwrap_or_default(), &id)?;
    check_stock_module(store, &m, existing)?;
    let labels = labels(store, m.get("ArticleLabels"))?;
    m.insert("ArticleLabels".into(), labels);
    let barcodes = barcodes(m.get("Barcodes"))?;
    m.insert("Barcodes".into(), barcodes);
    let (net, gross) = prices(&m, coding_rate(&coding));
    m.insert("Id".into(), json!(id));
    m.insert("NetPrice".into(), money(net));
    // No discount agreements here: the discounted price is the price.
    m.insert("NetPriceWithDiscount".into(), money(net));
    m.insert("DiscountPercentage".into(), json!(0));
    m.insert("GrossPrice".into(), money(gross));
    m.insert("CodingName".into(), coding["Name"].clone());
    m.insert("UnitName".into(), unit["Name"].clone());
    m.insert("UnitAbbreviation".into(), unit["Abbreviation"].clone());
    let service = coding["Type"].as_str() == Some("Services");
    m.insert("IsServiceArticle".into(), json!(service));
    stock(&mut m, existing, now);
    m.entry("SendToWebshop").or_insert(json!(true));
    m.insert(
        "CreatedUtc".into(),
        existing.map_or(json!(format_utc(now)), |e| e["CreatedUtc"].clone()),
    );
    m.insert("ChangedUtc".into(), json!(format_utc(now)));
    Ok(model.complete(m))
}

/// Article numbers are unique regardless of case (SQL Server's default
/// collation): "sku-1" and "SKU-1" collide.
fn check_unique(store: &Store, number: &str, id: &str) -> Result<(), ApiError> {
    let taken = store.all("articles").iter().any(|a| {
        a["Number"]
            .as_str()
            .is_some_and(|x| x.trim().eq_ignore_ascii_case(number.trim()))
            && a["Id"].as_str() != Some(id)
    });
    match taken {
        true => Err(ApiError::conflict(format!(
            "Conflict - An article with Number '{number}' already exists."
        ))),
        false => Ok(()),
    }
}

/// The name ActivatedModules gives the stock module [I: not documented].
pub const STOCK_MODULE: &str = "Stock";

/// With the stock module on, the balance is kept by eAccounting's own stock
/// transactions: a write may only repeat it (a whole-record PUT does).
fn check_stock_module(
    store: &Store,
    m: &Map<String, Value>,
    existing: Option<&Value>,
) -> Result<(), ApiError> {
    if !store.has_module(STOCK_MODULE) {
        return Ok(());
    }
    let sent = d(m, "StockBalance");
    let kept = existing
        .and_then(|e| decimal_of(&e["StockBalance"]))
        .unwrap_or_default();
    match sent {
        Some(b) if b != kept => Err(ApiError::validation(
            "DataModelValidationError - StockBalance: is read-only while the stock module is active.",
        )),
        _ => Ok(()),
    }
}

/// Labels are named by id; the article shows each with its name.
fn labels(store: &Store, sent: Option<&Value>) -> Result<Value, ApiError> {
    let mut out = Vec::new();
    for (i, label) in sent
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let id = label["Id"].as_str().ok_or_else(|| {
            ApiError::validation(format!(
                "DataModelValidationError - ArticleLabels[{i}].Id: The Id field is required."
            ))
        })?;
        let found = require_ref(
            store,
            "articlelabels",
            &format!("ArticleLabels[{i}].Id"),
            Some(id),
        )?
        .unwrap_or_default();
        if !out.iter().any(|l: &Value| l["Id"] == found["Id"]) {
            out.push(found);
        }
    }
    Ok(Value::Array(out))
}

/// Barcodes: `{Barcode, BarcodeType}`, the code not blank and not twice.
fn barcodes(sent: Option<&Value>) -> Result<Value, ApiError> {
    let mut out: Vec<Value> = Vec::new();
    for (i, b) in sent
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("DataModelValidationError - Barcodes[{i}]");
        let code = b["Barcode"].as_str().map(str::trim).unwrap_or_default();
        if code.is_empty() || code.chars().count() > 50 {
            return Err(ApiError::validation(format!(
                "{at}.Barcode: must be 1 to 50 characters."
            )));
        }
        let kind = match &b["BarcodeType"] {
            Value::Null => 0,
            v => v.as_i64().filter(|t| *t >= 0).ok_or_else(|| {
                ApiError::validation(format!("{at}.BarcodeType: expected a whole number ≥ 0."))
            })?,
        };
        if out.iter().any(|o| o["Barcode"] == json!(code)) {
            return Err(ApiError::validation(format!(
                "{at}.Barcode: '{code}' is given twice."
            )));
        }
        out.push(json!({ "Barcode": code, "BarcodeType": kind }));
    }
    Ok(Value::Array(out))
}

/// Net and gross price; the one not sent follows from the other at `rate`.
fn prices(m: &Map<String, Value>, rate: Decimal) -> (Decimal, Decimal) {
    match (d(m, "NetPrice"), d(m, "GrossPrice")) {
        (Some(n), Some(g)) => (n, g),
        (Some(n), None) => (n, round2(n * (Decimal::ONE + rate))),
        (None, Some(g)) => (round2(g / (Decimal::ONE + rate)), g),
        (None, None) => (Decimal::ZERO, Decimal::ZERO),
    }
}

/// The balance as sent (0 if not), what is reserved and available, and
/// when the balance was last changed by hand.
fn stock(m: &mut Map<String, Value>, existing: Option<&Value>, now: DateTime<Utc>) {
    let balance = d(m, "StockBalance").unwrap_or_default();
    let previous = existing.and_then(|e| decimal_of(&e["StockBalance"]));
    let reserved = existing.map_or(json!(0), |e| e["StockBalanceReserved"].clone());
    let available = balance - decimal_of(&reserved).unwrap_or_default();
    m.insert("StockBalance".into(), number(balance));
    m.insert("StockBalanceReserved".into(), reserved);
    m.insert("StockBalanceAvailable".into(), number(available));
    let changed =
        previous.is_some_and(|p| p != balance) || (existing.is_none() && balance != Decimal::ZERO);
    let stamp = match changed {
        true => json!(format_utc(now)),
        false => existing.map_or(Value::Null, |e| e["StockBalanceManuallyChangedUtc"].clone()),
    };
    m.insert("StockBalanceManuallyChangedUtc".into(), stamp);
}
