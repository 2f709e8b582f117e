//! Writes: validation beyond the schema, referenced ids, uniqueness and the
//! fields the server derives (numbers, totals, VAT, copied addresses,
//! timestamps). Every function works on the locked [`Store`] and either
//! applies the whole write or nothing.
//!
//! Amounts are `Decimal` end to end. Where the documentation is silent the
//! choice made is marked [I]:
//! - [I] a document's `TotalAmount` (order: `Amount`) *includes* VAT; row
//!   `Amount` is quantity × price × (1 − discount) in the document's price
//!   basis; invoice rows carry `AmountNoVat`.
//! - [I] VAT is computed per rate over the summed rows, rounded half away
//!   from zero to cents; prices include VAT when `IncludesVat` is true.
//! - [I] VAT rates are fractions (0.21), like `DiscountPercentage`.
//! - [I] foreign business customers (country ≠ company country, not a
//!   private person) are invoiced without VAT (intra-EU / export).
//! - [I] a row without `Quantity` gets 1, as the web UI does.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::errors::ApiError;
use super::store::Store;
use super::validate::{
    self, check, decimal_of, format_date, format_utc, money, number, parse_datetime, round2,
    Problems, Schema,
};

fn s<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}
fn b(m: &Map<String, Value>, k: &str) -> Option<bool> {
    m.get(k).and_then(Value::as_bool)
}
fn d(m: &Map<String, Value>, k: &str) -> Option<Decimal> {
    m.get(k).and_then(decimal_of)
}
fn obj(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}
fn new_id() -> Value {
    Value::String(uuid::Uuid::new_v4().to_string())
}

fn checked(schema: &Schema, body: &Value) -> Result<Map<String, Value>, ApiError> {
    let mut p = Problems::default();
    let m = check(schema, body, "", &mut p);
    if p.is_empty() {
        Ok(m)
    } else {
        Err(p.into_error())
    }
}

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

fn country_exists(store: &Store, code: &str) -> bool {
    store
        .all("countries")
        .iter()
        .any(|c| c["Code"].as_str() == Some(code))
}

fn currency_exists(store: &Store, code: &str) -> bool {
    store
        .all("currencies")
        .iter()
        .any(|c| c["Code"].as_str() == Some(code))
}

// ---------------------------------------------------------------------------
// Customers

pub fn build_customer(
    store: &mut Store,
    body: &Value,
    existing: Option<&Value>,
    keep_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let mut m = checked(&validate::CUSTOMER, body)?;
    let mut p = Problems::default();
    for field in ["InvoiceCountryCode", "DeliveryCountryCode"] {
        if let Some(code) = s(&m, field) {
            if !country_exists(store, code) {
                p.add(
                    "",
                    field,
                    format!("'{code}' is not a known country code (see /countries)."),
                );
            }
        }
    }
    if let Some(code) = s(&m, "CurrencyCode") {
        if !currency_exists(store, code) {
            p.add(
                "",
                "CurrencyCode",
                format!("'{code}' is not a known currency (see /currencies)."),
            );
        }
    }
    if let Some(vat) = s(&m, "VatNumber") {
        let chars: Vec<char> = vat.chars().collect();
        let ok = (10..=14).contains(&chars.len())
            && chars[..2].iter().all(char::is_ascii_uppercase)
            && chars[2..]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !ok {
            p.add(
                "",
                "VatNumber",
                "must be a 2-letter country code followed by 8-12 characters.",
            );
        }
    }
    if b(&m, "ReverseChargeOnConstructionServices") == Some(true) && s(&m, "VatNumber").is_none() {
        p.add(
            "",
            "ReverseChargeOnConstructionServices",
            "requires VatNumber to be set.",
        );
    }
    if s(&m, "CustomerNumber").is_some_and(|n| n.trim().is_empty()) {
        p.add("", "CustomerNumber", "must not be blank.");
    }
    if !p.is_empty() {
        return Err(p.into_error());
    }
    let terms = require_ref(
        store,
        "termsofpayments",
        "TermsOfPaymentId",
        s(&m, "TermsOfPaymentId"),
    )?;
    require_ref(
        store,
        "deliverymethods",
        "DeliveryMethodId",
        s(&m, "DeliveryMethodId"),
    )?;
    require_ref(
        store,
        "deliveryterms",
        "DeliveryTermId",
        s(&m, "DeliveryTermId"),
    )?;
    reject_unbacked_refs(&m, "", &["SalesPriceListId", "DiscountAgreementId"])?;

    let id = existing
        .and_then(|e| e["Id"].as_str().map(str::to_string))
        .or(keep_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let number = match s(&m, "CustomerNumber") {
        Some(n) => {
            let taken = store.all("customers").iter().any(|c| {
                c["CustomerNumber"]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(n))
                    && c["Id"].as_str() != Some(&id)
            });
            if taken {
                return Err(ApiError::conflict(format!(
                    "Conflict - A customer with CustomerNumber '{n}' already exists."
                )));
            }
            n.to_string()
        }
        None => match existing.and_then(|e| e["CustomerNumber"].as_str()) {
            Some(kept) => kept.to_string(),
            None => next_customer_number(store),
        },
    };
    m.insert("Id".into(), json!(id));
    m.insert("CustomerNumber".into(), json!(number));
    if !m.contains_key("CurrencyCode") {
        m.insert("CurrencyCode".into(), json!(store.company_currency()));
    }
    m.insert("TermsOfPayment".into(), terms.unwrap_or(Value::Null));
    m.insert("ChangedUtc".into(), json!(format_utc(now)));
    for keep in ["LastInvoiceDate", "PayToAccountId", "UnpaidInvoicesAmount"] {
        if let Some(v) = existing.and_then(|e| e.get(keep)) {
            m.insert(keep.into(), v.clone());
        }
    }
    m.entry("UnpaidInvoicesAmount").or_insert(json!(0));
    m.entry("EmailAddresses").or_insert(json!([]));
    Ok(validate::CUSTOMER.complete(m))
}

fn next_customer_number(store: &mut Store) -> String {
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

// ---------------------------------------------------------------------------
// Articles

fn coding_rate(coding: &Value) -> Decimal {
    decimal_of(&coding["VatRatePercent"]).unwrap_or_default()
}

pub fn build_article(
    store: &mut Store,
    body: &Value,
    existing: Option<&Value>,
    keep_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let mut m = checked(&validate::ARTICLE, body)?;
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
    let id = existing
        .and_then(|e| e["Id"].as_str().map(str::to_string))
        .or(keep_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let article_number = s(&m, "Number").unwrap_or_default().to_string();
    // Article numbers are unique regardless of case (SQL Server's default
    // collation); "sku-1" and "SKU-1" collide.
    let taken = store.all("articles").iter().any(|a| {
        a["Number"]
            .as_str()
            .is_some_and(|x| x.trim().eq_ignore_ascii_case(article_number.trim()))
            && a["Id"].as_str() != Some(&id)
    });
    if taken {
        return Err(ApiError::conflict(format!(
            "Conflict - An article with Number '{article_number}' already exists."
        )));
    }
    let rate = coding_rate(&coding);
    let (net, gross) = match (d(&m, "NetPrice"), d(&m, "GrossPrice")) {
        (Some(n), Some(g)) => (n, g),
        (Some(n), None) => (n, round2(n * (Decimal::ONE + rate))),
        (None, Some(g)) => (round2(g / (Decimal::ONE + rate)), g),
        (None, None) => (Decimal::ZERO, Decimal::ZERO),
    };
    m.insert("Id".into(), json!(id));
    m.insert("NetPrice".into(), money(net));
    m.insert("GrossPrice".into(), money(gross));
    m.insert("CodingName".into(), coding["Name"].clone());
    m.insert("UnitName".into(), unit["Name"].clone());
    m.insert("UnitAbbreviation".into(), unit["Abbreviation"].clone());
    m.insert(
        "IsServiceArticle".into(),
        json!(coding["Type"].as_str() == Some("Services")),
    );
    let stock = d(&m, "StockBalance").unwrap_or_default();
    let previous_stock = existing.and_then(|e| decimal_of(&e["StockBalance"]));
    m.insert("StockBalance".into(), number(stock));
    m.insert(
        "StockBalanceReserved".into(),
        existing.map_or(json!(0), |e| e["StockBalanceReserved"].clone()),
    );
    let reserved = decimal_of(&m["StockBalanceReserved"]).unwrap_or_default();
    m.insert("StockBalanceAvailable".into(), number(stock - reserved));
    let stock_changed = previous_stock.is_some_and(|p| p != stock)
        || (existing.is_none() && stock != Decimal::ZERO);
    let stock_stamp = if stock_changed {
        json!(format_utc(now))
    } else {
        existing.map_or(Value::Null, |e| e["StockBalanceManuallyChangedUtc"].clone())
    };
    m.insert("StockBalanceManuallyChangedUtc".into(), stock_stamp);
    m.entry("SendToWebshop").or_insert(json!(true));
    m.insert(
        "CreatedUtc".into(),
        existing.map_or(json!(format_utc(now)), |e| e["CreatedUtc"].clone()),
    );
    m.insert("ChangedUtc".into(), json!(format_utc(now)));
    Ok(validate::ARTICLE.complete(m))
}

// ---------------------------------------------------------------------------
// Sales documents

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Draft,
    Order,
    Quote,
    Invoice,
}

impl Doc {
    fn schema(self) -> &'static Schema {
        match self {
            Doc::Draft => &validate::DRAFT,
            Doc::Order => &validate::ORDER,
            Doc::Quote => &validate::QUOTE,
            Doc::Invoice => &validate::INVOICE,
        }
    }
    fn row_schema(self) -> &'static Schema {
        match self {
            Doc::Draft => &validate::DRAFT_ROW,
            Doc::Order => &validate::ORDER_ROW,
            Doc::Quote => &validate::QUOTE_ROW,
            Doc::Invoice => &validate::INVOICE_ROW,
        }
    }
    fn quantity_scale(self) -> u32 {
        match self {
            Doc::Order | Doc::Quote => 4,
            Doc::Draft | Doc::Invoice => 2,
        }
    }
}

/// What pricing needs to know about the customer and the document header.
struct Pricing {
    includes_vat: bool,
    domestic: bool,
    charge_vat: bool,
    replace_zero_price: bool,
}

#[derive(Default)]
struct Totals {
    /// VAT rate → summed row amounts (in the document's price basis).
    by_rate: std::collections::BTreeMap<Decimal, Decimal>,
}

impl Totals {
    /// (total incl. VAT, VAT) over all rate groups.
    fn sum(&self, includes_vat: bool) -> (Decimal, Decimal) {
        let mut total = Decimal::ZERO;
        let mut vat = Decimal::ZERO;
        for (rate, base) in &self.by_rate {
            let base = round2(*base);
            if includes_vat {
                let v = round2(base * rate / (Decimal::ONE + rate));
                total += base;
                vat += v;
            } else {
                let v = round2(base * rate);
                total += base + v;
                vat += v;
            }
        }
        (total, vat)
    }
}

fn price_rows(
    store: &Store,
    doc: Doc,
    rows: &[Value],
    pricing: &Pricing,
) -> Result<(Vec<Value>, Totals), ApiError> {
    let mut out = Vec::new();
    let mut totals = Totals::default();
    let mut p = Problems::default();
    let mut fetched = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let m = obj(row);
        let path = format!("Rows[{i}].");
        // Booked-invoice rows mark text rows by having no article.
        let is_text =
            b(&m, "IsTextRow").unwrap_or(doc == Doc::Invoice && s(&m, "ArticleId").is_none());
        let mut article = None;
        if is_text {
            if s(&m, "Text").is_none_or(|t| t.trim().is_empty()) {
                p.add(&path, "Text", "The Text field is required on a text row.");
            }
            if s(&m, "ArticleId").is_some() {
                p.add(&path, "ArticleId", "must be empty on a text row.");
            }
        } else {
            match s(&m, "ArticleId") {
                None => p.add(
                    &path,
                    "ArticleId",
                    "The ArticleId field is required when IsTextRow is false.",
                ),
                Some(id) => match store.by_id("articles", id) {
                    None => {
                        return Err(ApiError::reference_not_found(
                            &format!("{path}ArticleId"),
                            id,
                        ))
                    }
                    Some(a) if a["IsActive"] == json!(false) => p.add(
                        &path,
                        "ArticleId",
                        format!(
                            "article '{}' is inactive.",
                            a["Number"].as_str().unwrap_or(id)
                        ),
                    ),
                    Some(a) => article = Some(a.clone()),
                },
            }
            if let Some(price) = d(&m, "UnitPrice") {
                let max_scale = if pricing.domestic { 2 } else { 4 };
                if price.normalize().scale() > max_scale {
                    p.add(&path, "UnitPrice", format!("at most {max_scale} decimals are allowed for this customer (got {price})."));
                }
            }
        }
        if let Some(q) = d(&m, "Quantity") {
            if q.normalize().scale() > doc.quantity_scale() {
                p.add(
                    &path,
                    "Quantity",
                    format!("at most {} decimals are allowed.", doc.quantity_scale()),
                );
            }
        }
        let unit = require_ref(store, "units", &format!("{path}UnitId"), s(&m, "UnitId"))?;
        reject_unbacked_refs(
            &m,
            &path,
            &[
                "CostCenterItemId1",
                "CostCenterItemId2",
                "CostCenterItemId3",
                "ProjectId",
            ],
        )?;
        fetched.push((m, is_text, article, unit));
    }
    if !p.is_empty() {
        return Err(p.into_error());
    }

    for (i, (mut m, is_text, article, unit)) in fetched.into_iter().enumerate() {
        m.insert("Id".into(), new_id());
        m.entry("LineNumber").or_insert(json!(i as i64 + 1));
        m.insert("IsTextRow".into(), json!(is_text));
        let Some(article) = article else {
            for k in ["UnitPrice", "Quantity", "DiscountPercentage"] {
                m.remove(k);
            }
            out.push(doc.row_schema().complete(m));
            continue;
        };
        let coding = store
            .by_id(
                "articleaccountcodings",
                article["CodingId"].as_str().unwrap_or(""),
            )
            .cloned()
            .unwrap_or_default();
        let unit = unit
            .or_else(|| {
                store
                    .by_id("units", article["UnitId"].as_str().unwrap_or(""))
                    .cloned()
            })
            .unwrap_or_default();
        let article_price = decimal_of(
            &article[if pricing.includes_vat {
                "GrossPrice"
            } else {
                "NetPrice"
            }],
        )
        .unwrap_or_default();
        let price = match d(&m, "UnitPrice") {
            None => article_price,
            Some(p) if p.is_zero() && pricing.replace_zero_price => article_price,
            Some(p) => p,
        };
        let qty = d(&m, "Quantity").unwrap_or(Decimal::ONE);
        let disc = d(&m, "DiscountPercentage").unwrap_or(Decimal::ZERO);
        let rate = if pricing.charge_vat {
            coding_rate(&coding)
        } else {
            Decimal::ZERO
        };
        // Bounded so that summing thousands of rows cannot overflow Decimal.
        let amount = qty
            .checked_mul(price)
            .and_then(|x| x.checked_mul(Decimal::ONE - disc))
            .map(round2)
            .filter(|a| a.abs() <= Decimal::from(1_000_000_000_000_000_i64))
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "DataModelValidationError - Rows[{i}]: Quantity × UnitPrice is out of range."
                ))
            })?;
        *totals.by_rate.entry(rate).or_default() += amount;
        let amount_no_vat = if pricing.includes_vat {
            amount - round2(amount * rate / (Decimal::ONE + rate))
        } else {
            amount
        };
        m.insert("UnitPrice".into(), number(price));
        m.insert("Quantity".into(), number(qty));
        m.insert("DiscountPercentage".into(), number(disc));
        m.entry("Text").or_insert(article["Name"].clone());
        m.insert("ArticleNumber".into(), article["Number"].clone());
        m.insert("UnitId".into(), unit["Id"].clone());
        m.insert("UnitName".into(), unit["Name"].clone());
        m.insert("UnitAbbreviation".into(), unit["Abbreviation"].clone());
        m.insert(
            "UnitAbbreviationEnglish".into(),
            unit["AbbreviationEnglish"].clone(),
        );
        m.insert(
            "IsServiceArticle".into(),
            article["IsServiceArticle"].clone(),
        );
        m.insert("VatRateId".into(), coding["Id"].clone());
        m.insert("Amount".into(), money(amount));
        m.insert("AmountNoVat".into(), money(amount_no_vat));
        m.insert("PercentVat".into(), number(rate));
        m.insert("IsVatFree".into(), json!(rate.is_zero()));
        for k in [
            "IsWorkCost",
            "EligibleForReverseChargeOnVat",
            "ReversedConstructionServicesVatFree",
        ] {
            if doc.row_schema().field(k).is_some() {
                m.entry(k).or_insert(json!(false));
            }
        }
        out.push(doc.row_schema().complete(m));
    }
    Ok((out, totals))
}

const INVOICE_ADDRESS: &[(&str, &str)] = &[
    ("InvoiceCustomerName", "Name"),
    ("InvoiceAddress1", "InvoiceAddress1"),
    ("InvoiceAddress2", "InvoiceAddress2"),
    ("InvoicePostalCode", "InvoicePostalCode"),
    ("InvoiceCity", "InvoiceCity"),
    ("InvoiceCountryCode", "InvoiceCountryCode"),
];
const DELIVERY_ADDRESS: &[(&str, &str)] = &[
    ("DeliveryCustomerName", "DeliveryCustomerName"),
    ("DeliveryAddress1", "DeliveryAddress1"),
    ("DeliveryAddress2", "DeliveryAddress2"),
    ("DeliveryPostalCode", "DeliveryPostalCode"),
    ("DeliveryCity", "DeliveryCity"),
    ("DeliveryCountryCode", "DeliveryCountryCode"),
];

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

/// Creates or replaces a quote, order, draft or booked invoice.
pub fn build_document(
    store: &mut Store,
    doc: Doc,
    body: &Value,
    existing: Option<&Value>,
    keep_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let m = checked(doc.schema(), body)?;
    let mut p = Problems::default();
    if doc == Doc::Invoice
        && m.get("Rows")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    {
        p.add("", "Rows", "an invoice needs at least one row.");
    }
    if let Some(code) = s(&m, "CurrencyCode") {
        if !currency_exists(store, code) {
            p.add(
                "",
                "CurrencyCode",
                format!("'{code}' is not a known currency (see /currencies)."),
            );
        }
    }
    for field in ["InvoiceCountryCode", "DeliveryCountryCode"] {
        if let Some(code) = s(&m, field) {
            if !country_exists(store, code) {
                p.add(
                    "",
                    field,
                    format!("'{code}' is not a known country code (see /countries)."),
                );
            }
        }
    }
    if !p.is_empty() {
        return Err(p.into_error());
    }
    let customer =
        require_ref(store, "customers", "CustomerId", s(&m, "CustomerId"))?.unwrap_or_default();
    let terms_id = match doc {
        Doc::Quote => s(&m, "TermsOfPaymentId").map(str::to_string),
        _ => None,
    }
    .or_else(|| customer["TermsOfPaymentId"].as_str().map(str::to_string));
    let terms = require_ref(
        store,
        "termsofpayments",
        "TermsOfPaymentId",
        terms_id.as_deref(),
    )?;
    let private = customer["IsPrivatePerson"] == json!(true);
    let rot = m
        .get("RotReducedInvoicingType")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if rot != 0 {
        if !private {
            return Err(ApiError::validation("DataModelValidationError - RotReducedInvoicingType: ROT/RUT is only allowed for private persons."));
        }
        if m.get("Persons")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            return Err(ApiError::validation(
                "DataModelValidationError - Persons: required for ROT/RUT documents.",
            ));
        }
    }
    if b(&m, "EuThirdParty") == Some(true) {
        let code = customer["InvoiceCountryCode"].as_str().unwrap_or("");
        let eu_abroad = code != store.company_country()
            && store
                .all("countries")
                .iter()
                .any(|c| c["Code"].as_str() == Some(code) && c["IsEuMember"] == json!(true));
        if !eu_abroad || private {
            return Err(ApiError::validation(
                "DataModelValidationError - EuThirdParty: only allowed for business customers in another EU country.",
            ));
        }
    }
    let show_excl = store
        .company
        .get("ShowPricesExclVatPC")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let includes_vat = private && !show_excl;

    let mut out = m.clone();
    // The booked invoice's address fields are read-only: always the customer's.
    for (doc_field, cust_field) in INVOICE_ADDRESS.iter().chain(DELIVERY_ADDRESS) {
        if !out.contains_key(*doc_field) {
            if let Some(v) = customer.get(*cust_field).and_then(Value::as_str) {
                let max = match doc.schema().field(doc_field).map(|f| f.kind) {
                    Some(validate::Kind::Str(max)) => max,
                    _ => usize::MAX,
                };
                out.insert(doc_field.to_string(), json!(truncate_utf16(v, max)));
            }
        }
    }
    let country = s(&out, "InvoiceCountryCode")
        .map(str::to_string)
        .unwrap_or_else(|| store.company_country());
    let domestic = country == store.company_country();
    let eu_third_party = b(&m, "EuThirdParty").unwrap_or(false);
    let pricing = Pricing {
        includes_vat,
        domestic,
        charge_vat: (domestic || private) && !eu_third_party,
        replace_zero_price: b(&m, "ReplaceUnitPriceWhenZero").unwrap_or(false),
    };
    let rows = m
        .get("Rows")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let (rows, totals) = price_rows(store, doc, &rows, &pricing)?;
    let (total, vat) = totals.sum(includes_vat);

    let id = existing
        .and_then(|e| e["Id"].as_str().map(str::to_string))
        .or(keep_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let today = format_date(
        now.date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc(),
    );
    let currency = s(&m, "CurrencyCode")
        .or(customer["CurrencyCode"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| store.company_currency());
    let days = terms
        .as_ref()
        .and_then(|t| t["NumberOfDays"].as_i64())
        .unwrap_or(30);
    // .NET's DateTime ends at 9999-12-31; a due date past it is a 2000.
    let due_from = |date: &str| {
        parse_datetime(date)
            .and_then(|dt| dt.checked_add_signed(ChronoDuration::days(days)))
            .filter(|dt| dt.year() <= 9999)
            .map(format_date)
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "DataModelValidationError - DueDate: {date} plus {days} days is not a valid date."
                ))
            })
    };

    out.insert("Id".into(), json!(id));
    out.insert("Rows".into(), Value::Array(rows));
    out.insert("CustomerNumber".into(), customer["CustomerNumber"].clone());
    out.insert("CustomerName".into(), customer["Name"].clone());
    out.insert("CustomerIsPrivatePerson".into(), json!(private));
    out.insert("IncludesVat".into(), json!(includes_vat));
    out.insert(
        "CreatedUtc".into(),
        existing.map_or(json!(format_utc(now)), |e| e["CreatedUtc"].clone()),
    );
    out.insert("ModifiedUtc".into(), json!(format_utc(now)));
    match doc {
        Doc::Draft => {
            let date = s(&m, "InvoiceDate").map(str::to_string).unwrap_or(today);
            if !out.contains_key("DueDate") {
                out.insert("DueDate".into(), json!(due_from(&date)?));
            }
            out.insert("InvoiceDate".into(), json!(date));
            out.insert("InvoiceCurrencyCode".into(), json!(currency));
            out.insert("TotalAmount".into(), money(total));
            out.insert("TotalVatAmount".into(), money(vat));
            out.insert("TotalRoundings".into(), json!(0));
            out.insert("TotalAmountBaseCurrency".into(), money(total));
            out.insert("TotalVatAmountBaseCurrency".into(), money(vat));
            out.entry("IsCreditInvoice").or_insert(json!(false));
            out.entry("ReverseChargeOnConstructionServices")
                .or_insert(json!(false));
            out.insert("SalesDocumentAttachments".into(), json!([]));
        }
        Doc::Order => {
            let number = existing.map_or_else(
                || {
                    let n = store.next_order_number;
                    store.next_order_number += 1;
                    json!(n)
                },
                |e| e["Number"].clone(),
            );
            out.insert("Number".into(), number);
            out.insert("Amount".into(), money(total));
            out.insert("VatAmount".into(), money(vat));
            out.insert("RoundingsAmount".into(), json!(0));
            out.insert("DeliveredAmount".into(), json!(0));
            out.insert("DeliveredVatAmount".into(), json!(0));
            out.insert("DeliveredRoundingsAmount".into(), json!(0));
            let status = m.get("Status").and_then(Value::as_i64).unwrap_or(1);
            let shipped = if status >= 3 {
                existing
                    .and_then(|e| e.get("ShippedDateTime").filter(|v| !v.is_null()).cloned())
                    .unwrap_or(json!(format_utc(now)))
            } else {
                Value::Null
            };
            out.insert("ShippedDateTime".into(), shipped);
            out.insert("IsNotDelivered".into(), json!(status < 3));
        }
        Doc::Quote => {
            let number = existing.map_or_else(
                || {
                    let n = store.next_quote_number;
                    store.next_quote_number += 1;
                    json!(n)
                },
                |e| e["Number"].clone(),
            );
            let date = s(&m, "QuoteDate").map(str::to_string).unwrap_or(today);
            if !out.contains_key("DueDate") {
                out.insert("DueDate".into(), json!(due_from(&date)?));
            }
            out.insert("QuoteDate".into(), json!(date));
            out.insert("Number".into(), number);
            out.entry("Status").or_insert(json!(1));
            out.insert("CurrencyCode".into(), json!(currency));
            out.entry("CurrencyRate").or_insert(json!(1));
            out.insert("TermsOfPaymentId".into(), json!(terms_id));
            out.insert(
                "TermsOfPayment".into(),
                terms.clone().unwrap_or(Value::Null),
            );
            out.insert("TotalAmount".into(), money(total));
            out.insert("VatAmount".into(), money(vat));
            out.insert("RoundingsAmount".into(), json!(0));
            out.insert("IsDomestic".into(), json!(domestic));
            out.entry("EuThirdParty").or_insert(json!(false));
            out.entry("RotReducedInvoicingType").or_insert(json!(0));
        }
        Doc::Invoice => {
            let n = store.next_invoice_number;
            store.next_invoice_number += 1;
            let date = s(&m, "InvoiceDate").map(str::to_string).unwrap_or(today);
            if !out.contains_key("DueDate") {
                out.insert("DueDate".into(), json!(due_from(&date)?));
            }
            out.insert("InvoiceDate".into(), json!(date));
            out.insert("InvoiceNumber".into(), json!(n));
            out.insert("CurrencyCode".into(), json!(currency));
            out.entry("CurrencyRate").or_insert(json!(1));
            out.insert("TermsOfPaymentId".into(), json!(terms_id));
            out.insert("CustomerEmail".into(), customer["EmailAddress"].clone());
            out.insert(
                "ElectronicAddress".into(),
                customer["ElectronicAddress"].clone(),
            );
            out.insert("TotalAmount".into(), money(total));
            out.insert("TotalVatAmount".into(), money(vat));
            out.insert("TotalRoundings".into(), json!(0));
            out.insert("TotalAmountInvoiceCurrency".into(), money(total));
            out.insert("TotalVatAmountInvoiceCurrency".into(), money(vat));
            out.insert("RemainingAmount".into(), money(total));
            out.insert("RemainingAmountInvoiceCurrency".into(), money(total));
            out.insert("PaymentStatus".into(), json!(1));
            out.insert("PaymentReferenceNumber".into(), json!(payment_reference(n)));
            out.insert("VoucherId".into(), new_id());
            out.insert("VoucherNumber".into(), json!(format!("V{n}")));
            out.insert("SendType".into(), json!(0));
            out.insert("IsNotDelivered".into(), json!(false));
            out.insert("HasAutoInvoiceError".into(), json!(false));
            out.insert(
                "RotReducedInvoicingAutomaticDistribution".into(),
                json!(false),
            );
            out.insert("ReversedConstructionVatInvoicing".into(), json!(false));
            out.insert(
                "ReverseChargeOnConstructionServices".into(),
                customer["ReverseChargeOnConstructionServices"].clone(),
            );
            out.insert("SalesDocumentAttachments".into(), json!([]));
            out.entry("IsCreditInvoice").or_insert(json!(false));
        }
    }
    Ok(doc.schema().complete(out))
}

/// A 16-digit Dutch-style payment reference: weighted mod-11 check digit
/// followed by the invoice number, so it is stable and unique per invoice.
fn payment_reference(invoice_number: i64) -> String {
    let body = format!("{:015}", invoice_number.max(0));
    let weights = [2, 4, 8, 5, 10, 9, 7, 3, 6, 1];
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).unwrap_or(0) * weights[i % weights.len()])
        .sum();
    let check = match 11 - (sum % 11) {
        11 => 0,
        10 => 1,
        c => c,
    };
    format!("{check}{body}")
}

/// Turns a stored draft or order into a booked invoice. The source's
/// already-validated rows are re-priced with the invoice row shape.
/// Booking dates the invoice today (emulator clock) unless
/// `keep_original_date` (the draft convert's `keepOriginalDraftDate`).
pub fn book_from(
    store: &mut Store,
    source: &Value,
    from: Doc,
    keep_original_date: bool,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let mut body = Map::new();
    for k in [
        "CustomerId",
        "EuThirdParty",
        "IsCreditInvoice",
        "RotReducedInvoicingType",
        "RotReducedInvoicingPropertyName",
        "RotReducedInvoicingOrgNumber",
        "RotReducedInvoicingAmount",
        "RotPropertyType",
        "Persons",
        "DeliveryDate",
        "InvoiceDate",
        "DueDate",
        "ElectronicReference",
    ] {
        if let Some(v) = source.get(k).filter(|v| !v.is_null()) {
            body.insert(k.into(), v.clone());
        }
    }
    // References are ≤100 on drafts but ≤50 on booked invoices [I: the
    // server is assumed to truncate rather than refuse the conversion].
    for k in ["YourReference", "OurReference"] {
        if let Some(v) = source.get(k).and_then(Value::as_str) {
            body.insert(k.into(), json!(truncate_utf16(v, 50)));
        }
    }
    let rows: Vec<Value> = source["Rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let mut row = Map::new();
                    for k in [
                        "ArticleId",
                        "LineNumber",
                        "IsTextRow",
                        "Text",
                        "UnitPrice",
                        "DiscountPercentage",
                        "Quantity",
                        "IsWorkCost",
                        "UnitId",
                        "WorkCostType",
                        "WorkHours",
                        "MaterialCosts",
                    ] {
                        if let Some(v) = r.get(k).filter(|v| !v.is_null()) {
                            row.insert(k.into(), v.clone());
                        }
                    }
                    Value::Object(row)
                })
                .collect()
        })
        .unwrap_or_default();
    body.insert("Rows".into(), Value::Array(rows));
    body.entry("EuThirdParty").or_insert(json!(false));
    body.entry("RotReducedInvoicingType").or_insert(json!(0));
    if from == Doc::Order || !keep_original_date {
        body.remove("InvoiceDate");
        body.remove("DueDate");
    }
    let mut invoice = build_document(store, Doc::Invoice, &Value::Object(body), None, None, now)?;
    let link = if from == Doc::Draft {
        "CreatedFromDraftId"
    } else {
        "CreatedFromOrderId"
    };
    invoice[link] = source["Id"].clone();
    // The invoice keeps the source document's address, not the customer's current one.
    for (field, _) in INVOICE_ADDRESS.iter().chain(DELIVERY_ADDRESS) {
        if let Some(v) = source.get(*field).filter(|v| !v.is_null()) {
            invoice[*field] = v.clone();
        }
    }
    Ok(invoice)
}

/// The optional CustomerInvoiceDraftValidationApi body of a draft convert:
/// the caller's expected totals must match the server's, or nothing is booked.
pub fn check_expected_totals(draft: &Value, expected: &Value) -> Result<(), ApiError> {
    let Some(e) = expected.as_object() else {
        return Err(ApiError::validation(
            "DataModelValidationError - the convert body must be a JSON object.",
        ));
    };
    let mut p = Problems::default();
    let pairs = [
        ("TotalAmountInvoiceCurrency", "TotalAmount"),
        ("TotalVatAmountInvoiceCurrency", "TotalVatAmount"),
        ("TotalRoundingsInvoiceCurrency", "TotalRoundings"),
    ];
    for (theirs, ours) in pairs {
        if let Some(v) = e.get(theirs).filter(|v| !v.is_null()) {
            let want = decimal_of(v);
            let have = decimal_of(&draft[ours]);
            if want.is_none() || want != have {
                p.add(
                    "",
                    theirs,
                    format!("expected {v} but the draft has {}.", draft[ours]),
                );
            }
        }
    }
    if let Some(rows) = e.get("Rows").and_then(Value::as_array) {
        for (i, r) in rows.iter().enumerate() {
            let line = &r["LineNumber"];
            let Some(row) = draft["Rows"]
                .as_array()
                .and_then(|rs| rs.iter().find(|x| &x["LineNumber"] == line))
            else {
                p.add(
                    &format!("Rows[{i}]."),
                    "LineNumber",
                    format!("no draft row has line number {line}."),
                );
                continue;
            };
            if let Some(v) = r
                .get("TotalAmountNoVatInvoiceCurrency")
                .filter(|v| !v.is_null())
            {
                let base = if draft["IncludesVat"] == json!(true) {
                    None
                } else {
                    decimal_of(&row["UnitPrice"])
                };
                let have = base.map(|price| {
                    let qty = decimal_of(&row["Quantity"]).unwrap_or_default();
                    let disc = decimal_of(&row["DiscountPercentage"]).unwrap_or_default();
                    round2(qty * price * (Decimal::ONE - disc))
                });
                if have.is_some() && have != decimal_of(v) {
                    p.add(
                        &format!("Rows[{i}]."),
                        "TotalAmountNoVatInvoiceCurrency",
                        format!(
                            "expected {v} but the draft row has {}.",
                            have.map(|h| h.to_string()).unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }
    if p.is_empty() {
        Ok(())
    } else {
        Err(p.into_error())
    }
}

// ---------------------------------------------------------------------------
// Accounting

fn fiscal_year_containing(store: &Store, date: DateTime<Utc>) -> Option<&Value> {
    store.all("fiscalyears").iter().find(|fy| {
        let start = fy["StartDate"].as_str().and_then(parse_datetime);
        let end = fy["EndDate"].as_str().and_then(parse_datetime);
        matches!((start, end), (Some(s), Some(e)) if s <= date && date <= e)
    })
}

pub fn build_fiscal_year(
    store: &mut Store,
    body: &Value,
    keep_id: Option<String>,
) -> Result<Value, ApiError> {
    let mut m = checked(&validate::FISCAL_YEAR, body)?;
    let start = s(&m, "StartDate")
        .and_then(parse_datetime)
        .unwrap_or_default();
    let end = s(&m, "EndDate")
        .and_then(parse_datetime)
        .unwrap_or_default();
    if end <= start {
        return Err(ApiError::validation(
            "DataModelValidationError - EndDate: must be after StartDate.",
        ));
    }
    if end - start > ChronoDuration::days(18 * 31) {
        return Err(ApiError::validation(
            "DataModelValidationError - EndDate: a fiscal year is at most 18 months.",
        ));
    }
    let overlaps = store.all("fiscalyears").iter().any(|fy| {
        let s2 = fy["StartDate"].as_str().and_then(parse_datetime);
        let e2 = fy["EndDate"].as_str().and_then(parse_datetime);
        matches!((s2, e2), (Some(s2), Some(e2)) if start <= e2 && s2 <= end)
    });
    if overlaps {
        return Err(ApiError::validation(
            "DataModelValidationError - StartDate: the period overlaps an existing fiscal year.",
        ));
    }
    let method = store
        .all("fiscalyears")
        .last()
        .map_or(json!(0), |fy| fy["BookkeepingMethod"].clone());
    m.insert(
        "Id".into(),
        json!(keep_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())),
    );
    m.insert("IsLockedForAccounting".into(), json!(false));
    m.insert("BookkeepingMethod".into(), method);
    Ok(validate::FISCAL_YEAR.complete(m))
}

pub fn fiscal_year_not_found(id: &str, in_body: bool) -> ApiError {
    let status = if in_body {
        axum::http::StatusCode::BAD_REQUEST
    } else {
        axum::http::StatusCode::NOT_FOUND
    };
    ApiError::new(
        status,
        3001,
        format!("FiscalYearDoesNotExist - no fiscal year with id '{id}'."),
    )
}

pub fn account_not_found(number: &str, in_body: bool) -> ApiError {
    let status = if in_body {
        axum::http::StatusCode::BAD_REQUEST
    } else {
        axum::http::StatusCode::NOT_FOUND
    };
    ApiError::new(
        status,
        3002,
        format!("AccountNotFound - account '{number}' does not exist in this fiscal year."),
    )
}

/// `existing`: (fiscal year id, number) of the account a PUT replaces.
pub fn build_account(
    store: &Store,
    body: &Value,
    existing: Option<(&str, &str)>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let mut m = checked(&validate::ACCOUNT, body)?;
    let number = s(&m, "Number").unwrap_or_default().to_string();
    let fy = s(&m, "FiscalYearId").unwrap_or_default().to_string();
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) || number.len() > 8 {
        return Err(ApiError::validation(format!("DataModelValidationError - Number: '{number}' is not a valid account number (1-8 digits).")));
    }
    if let Some((path_fy, path_number)) = existing {
        let same_fy = uuid::Uuid::parse_str(path_fy).ok() == uuid::Uuid::parse_str(&fy).ok();
        if number != path_number || !same_fy {
            return Err(ApiError::validation("DataModelValidationError - Number/FiscalYearId: must match the account addressed by the URL."));
        }
    }
    if store.by_id("fiscalyears", &fy).is_none() {
        return Err(fiscal_year_not_found(&fy, true));
    }
    let vat = require_ref(store, "vatcodes", "VatCodeId", s(&m, "VatCodeId"))?;
    if existing.is_none() && find_account(store, &fy, &number).is_some() {
        return Err(ApiError::conflict(format!(
            "Conflict - Account {number} already exists in this fiscal year."
        )));
    }
    m.insert(
        "FiscalYearId".into(),
        json!(uuid::Uuid::parse_str(&fy)
            .map(|u| u.to_string())
            .unwrap_or(fy)),
    );
    m.insert(
        "VatCodeDescription".into(),
        vat.map_or(Value::Null, |v| v["Description"].clone()),
    );
    m.insert("ModifiedUtc".into(), json!(format_utc(now)));
    for k in [
        "IsProjectAllowed",
        "IsCostCenterAllowed",
        "IsBlockedForManualBooking",
    ] {
        m.entry(k)
            .or_insert(json!(k != "IsBlockedForManualBooking"));
    }
    Ok(validate::ACCOUNT.complete(m))
}

pub fn find_account(store: &Store, fiscal_year_id: &str, number: &str) -> Option<usize> {
    let fy = uuid::Uuid::parse_str(fiscal_year_id).ok()?;
    store.all("accounts").iter().position(|a| {
        a["Number"].as_str() == Some(number)
            && a["FiscalYearId"]
                .as_str()
                .and_then(|x| uuid::Uuid::parse_str(x).ok())
                == Some(fy)
    })
}

pub fn build_voucher(
    store: &mut Store,
    body: &Value,
    keep_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let mut m = checked(&validate::VOUCHER, body)?;
    let date = s(&m, "VoucherDate")
        .and_then(parse_datetime)
        .unwrap_or_default();
    let fy = fiscal_year_containing(store, date)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                3001,
                format!(
                    "FiscalYearDoesNotExist - no fiscal year contains {}.",
                    format_date(date)
                ),
            )
        })?;
    if fy["IsLockedForAccounting"] == json!(true) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            4026,
            "The voucher date is in a locked bookkeeping period.",
        ));
    }
    let fy_id = fy["Id"].as_str().unwrap_or_default().to_string();
    let rows = m
        .get("Rows")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut p = Problems::default();
    if rows.len() < 2 {
        p.add("", "Rows", "a voucher needs at least two rows.");
    }
    let (mut debit, mut credit) = (Decimal::ZERO, Decimal::ZERO);
    let mut out_rows = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let mut r = obj(row);
        let path = format!("Rows[{i}].");
        let dr = d(&r, "DebitAmount").unwrap_or_default();
        let cr = d(&r, "CreditAmount").unwrap_or_default();
        if dr.is_zero() == cr.is_zero() {
            p.add(
                &path,
                "DebitAmount",
                "exactly one of DebitAmount and CreditAmount must be non-zero.",
            );
        }
        debit += dr;
        credit += cr;
        let number = r
            .get("AccountNumber")
            .and_then(Value::as_i64)
            .unwrap_or_default()
            .to_string();
        let Some(index) = find_account(store, &fy_id, &number) else {
            return Err(account_not_found(&number, true));
        };
        let account = store.all("accounts")[index].clone();
        if account["IsActive"] == json!(false) {
            p.add(
                &path,
                "AccountNumber",
                format!("account {number} is inactive."),
            );
        }
        let vat = require_ref(
            store,
            "vatcodes",
            &format!("{path}VatCodeId"),
            s(&r, "VatCodeId"),
        )?;
        reject_unbacked_refs(
            &r,
            &path,
            &[
                "CostCenterItemId1",
                "CostCenterItemId2",
                "CostCenterItemId3",
                "ProjectId",
            ],
        )?;
        r.insert("AccountDescription".into(), account["Name"].clone());
        r.insert("DebitAmount".into(), money(dr));
        r.insert("CreditAmount".into(), money(cr));
        r.insert(
            "VatCodeAndPercent".into(),
            vat.map_or(Value::Null, |v| {
                json!(format!(
                    "{} {}%",
                    v["Code"].as_str().unwrap_or(""),
                    decimal_of(&v["VatRate"]).unwrap_or_default() * Decimal::ONE_HUNDRED
                ))
            }),
        );
        out_rows.push(validate::VOUCHER_ROW.complete(r));
    }
    if debit != credit {
        p.add(
            "",
            "Rows",
            format!("the voucher is not balanced: debit {debit}, credit {credit}."),
        );
    }
    if !p.is_empty() {
        return Err(p.into_error());
    }
    let n = store.next_voucher_number;
    store.next_voucher_number += 1;
    m.insert(
        "Id".into(),
        json!(keep_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())),
    );
    m.insert("Rows".into(), Value::Array(out_rows));
    m.insert("NumberSeries".into(), json!("A"));
    m.insert("NumberAndNumberSeries".into(), json!(format!("A{n}")));
    m.entry("VoucherType").or_insert(json!(2));
    m.insert("ModifiedUtc".into(), json!(format_utc(now)));
    Ok(validate::VOUCHER.complete(m))
}

pub fn voucher_in_year(store: &Store, voucher: &Value, fiscal_year_id: &str) -> bool {
    let date = voucher["VoucherDate"].as_str().and_then(parse_datetime);
    let fy = store.by_id("fiscalyears", fiscal_year_id);
    match (date, fy) {
        (Some(date), Some(fy)) => {
            let start = fy["StartDate"].as_str().and_then(parse_datetime);
            let end = fy["EndDate"].as_str().and_then(parse_datetime);
            matches!((start, end), (Some(s), Some(e)) if s <= date && date <= e)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn vat_is_exact_per_rate_group() {
        let mut t = Totals::default();
        t.by_rate.insert(dec!(0.21), dec!(59.97));
        assert_eq!(t.sum(false), (dec!(72.56), dec!(12.59)));
        let mut t = Totals::default();
        t.by_rate.insert(dec!(0.21), dec!(121.00));
        t.by_rate.insert(dec!(0.09), dec!(10.90));
        assert_eq!(t.sum(true), (dec!(131.90), dec!(21.90)));
    }

    #[test]
    fn payment_reference_is_16_digits_and_stable() {
        let r = payment_reference(2025001);
        assert_eq!(r.len(), 16);
        assert_eq!(r, payment_reference(2025001));
        assert_ne!(r, payment_reference(2025002));
    }
}
