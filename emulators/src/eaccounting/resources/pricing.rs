//! Rows and totals of sales documents.
//!
//! Amounts are `Decimal` end to end. Where the documentation is silent the
//! choice made is marked [I]:
//! - [I] row `Amount` is quantity × price × (1 − discount) in the
//!   document's price basis; invoice rows also carry `AmountNoVat`.
//! - [I] VAT is computed per rate over the summed rows, rounded half away
//!   from zero to cents; prices include VAT when `IncludesVat` is true.
//! - [I] VAT rates are fractions (0.21), like `DiscountPercentage`.
//! - [I] a row without `Quantity` gets 1, as the web UI does.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::articles::coding_rate;
use super::documents::Doc;
use super::{b, d, new_id, reject_unbacked_refs, require_ref, s, ROW_UNBACKED};
use crate::eaccounting::errors::ApiError;
use crate::eaccounting::model::Problems;
use crate::eaccounting::store::Store;
use crate::eaccounting::values::{decimal_of, money, number, round2};

/// What pricing needs to know about the customer and the document header.
pub(super) struct Pricing {
    pub includes_vat: bool,
    pub domestic: bool,
    pub charge_vat: bool,
    pub replace_zero_price: bool,
}

#[derive(Default)]
pub(super) struct Totals {
    /// VAT rate → summed row amounts (in the document's price basis).
    by_rate: BTreeMap<Decimal, Decimal>,
}

impl Totals {
    /// (total incl. VAT, VAT) over all rate groups.
    pub fn sum(&self, includes_vat: bool) -> (Decimal, Decimal) {
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

/// A row that passed the checks, with what it refers to.
struct Checked {
    m: Map<String, Value>,
    is_text: bool,
    article: Option<Value>,
    unit: Option<Value>,
}

/// The document's rows, checked and priced, and their totals. Every row is
/// checked before any is priced, so all problems are reported together.
pub(super) fn price_rows(
    store: &Store,
    doc: Doc,
    rows: &[Value],
    pricing: &Pricing,
) -> Result<(Vec<Value>, Totals), ApiError> {
    let mut p = Problems::default();
    let mut checked = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        checked.push(check_row(
            store,
            doc,
            row,
            pricing,
            &format!("Rows[{i}]."),
            &mut p,
        )?);
    }
    if !p.is_empty() {
        return Err(p.into_error());
    }
    let mut totals = Totals::default();
    let priced = checked
        .into_iter()
        .enumerate()
        .map(|(i, row)| price_row(store, doc, row, i, pricing, &mut totals))
        .collect::<Result<_, _>>()?;
    Ok((priced, totals))
}

/// A text row has text and no article; any other row an active article.
/// An unknown article is an error at once, the rest are reported in `p`.
fn check_row(
    store: &Store,
    doc: Doc,
    row: &Value,
    pricing: &Pricing,
    path: &str,
    p: &mut Problems,
) -> Result<Checked, ApiError> {
    let m = row.as_object().cloned().unwrap_or_default();
    // Booked-invoice rows mark text rows by having no article.
    let is_text = b(&m, "IsTextRow").unwrap_or(doc == Doc::Invoice && s(&m, "ArticleId").is_none());
    let mut article = None;
    if is_text {
        if s(&m, "Text").is_none_or(|t| t.trim().is_empty()) {
            p.add(path, "Text", "The Text field is required on a text row.");
        }
        if s(&m, "ArticleId").is_some() {
            p.add(path, "ArticleId", "must be empty on a text row.");
        }
    } else {
        article = check_article(store, &m, path, p)?;
        let max_scale = if pricing.domestic { 2 } else { 4 };
        if let Some(price) = d(&m, "UnitPrice").filter(|x| x.normalize().scale() > max_scale) {
            p.add(
                path,
                "UnitPrice",
                format!(
                    "at most {max_scale} decimals are allowed for this customer (got {price})."
                ),
            );
        }
    }
    if d(&m, "Quantity").is_some_and(|q| q.normalize().scale() > doc.quantity_scale()) {
        p.add(
            path,
            "Quantity",
            format!("at most {} decimals are allowed.", doc.quantity_scale()),
        );
    }
    let unit = require_ref(store, "units", &format!("{path}UnitId"), s(&m, "UnitId"))?;
    reject_unbacked_refs(&m, path, ROW_UNBACKED)?;
    Ok(Checked {
        m,
        is_text,
        article,
        unit,
    })
}

fn check_article(
    store: &Store,
    m: &Map<String, Value>,
    path: &str,
    p: &mut Problems,
) -> Result<Option<Value>, ApiError> {
    let Some(id) = s(m, "ArticleId") else {
        p.add(
            path,
            "ArticleId",
            "The ArticleId field is required when IsTextRow is false.",
        );
        return Ok(None);
    };
    match store.by_id("articles", id) {
        None => Err(ApiError::reference_not_found(
            &format!("{path}ArticleId"),
            id,
        )),
        Some(a) if a["IsActive"] == json!(false) => {
            let number = a["Number"].as_str().unwrap_or(id);
            p.add(
                path,
                "ArticleId",
                format!("article '{number}' is inactive."),
            );
            Ok(None)
        }
        Some(a) => Ok(Some(a.clone())),
    }
}

/// A checked row with its prices, VAT and article details filled in; its
/// amount is added to `totals`.
fn price_row(
    store: &Store,
    doc: Doc,
    row: Checked,
    i: usize,
    pricing: &Pricing,
    totals: &mut Totals,
) -> Result<Value, ApiError> {
    let Checked {
        mut m,
        is_text,
        article,
        unit,
    } = row;
    m.insert("Id".into(), json!(new_id()));
    m.entry("LineNumber").or_insert(json!(i as i64 + 1));
    m.insert("IsTextRow".into(), json!(is_text));
    let Some(article) = article else {
        for k in ["UnitPrice", "Quantity", "DiscountPercentage"] {
            m.remove(k);
        }
        return Ok(doc.row_schema().complete(m));
    };
    let by_id =
        |collection: &str, id: &Value| store.by_id(collection, id.as_str().unwrap_or("")).cloned();
    let coding = by_id("articleaccountcodings", &article["CodingId"]).unwrap_or_default();
    let unit = unit
        .or_else(|| by_id("units", &article["UnitId"]))
        .unwrap_or_default();
    let basis = if pricing.includes_vat {
        "GrossPrice"
    } else {
        "NetPrice"
    };
    let article_price = decimal_of(&article[basis]).unwrap_or_default();
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
    let amount = row_amount(qty, price, disc, i)?;
    *totals.by_rate.entry(rate).or_default() += amount;
    let amount_no_vat = if pricing.includes_vat {
        amount - round2(amount * rate / (Decimal::ONE + rate))
    } else {
        amount
    };
    m.insert("UnitPrice".into(), number(price));
    m.insert("Quantity".into(), number(qty));
    m.insert("DiscountPercentage".into(), number(disc));
    m.insert("Amount".into(), money(amount));
    m.insert("AmountNoVat".into(), money(amount_no_vat));
    m.insert("PercentVat".into(), number(rate));
    m.insert("IsVatFree".into(), json!(rate.is_zero()));
    describe_article(&mut m, &article, &coding, &unit);
    for k in [
        "IsWorkCost",
        "EligibleForReverseChargeOnVat",
        "ReversedConstructionServicesVatFree",
    ] {
        if doc.row_schema().field(k).is_some() {
            m.entry(k).or_insert(json!(false));
        }
    }
    Ok(doc.row_schema().complete(m))
}

/// What the row shows of its article, the article's unit and its coding.
fn describe_article(m: &mut Map<String, Value>, article: &Value, coding: &Value, unit: &Value) {
    m.entry("Text").or_insert(article["Name"].clone());
    m.insert("ArticleNumber".into(), article["Number"].clone());
    m.insert(
        "IsServiceArticle".into(),
        article["IsServiceArticle"].clone(),
    );
    m.insert("VatRateId".into(), coding["Id"].clone());
    for (ours, theirs) in [
        ("UnitId", "Id"),
        ("UnitName", "Name"),
        ("UnitAbbreviation", "Abbreviation"),
        ("UnitAbbreviationEnglish", "AbbreviationEnglish"),
    ] {
        m.insert(ours.into(), unit[theirs].clone());
    }
}

/// Quantity × price × (1 − discount) to the cent; bounded so that summing
/// thousands of rows cannot overflow `Decimal`.
fn row_amount(qty: Decimal, price: Decimal, disc: Decimal, i: usize) -> Result<Decimal, ApiError> {
    qty.checked_mul(price)
        .and_then(|x| x.checked_mul(Decimal::ONE - disc))
        .map(round2)
        .filter(|a| a.abs() <= Decimal::from(1_000_000_000_000_000_i64))
        .ok_or_else(|| {
            ApiError::validation(format!(
                "DataModelValidationError - Rows[{i}]: Quantity × UnitPrice is out of range."
            ))
        })
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
}
