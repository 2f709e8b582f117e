//! Sales documents: quotes, orders, invoice drafts and booked invoices
//! (notes §3.4–3.7). One builder serves all four; they differ in their
//! models, in how precise a quantity may be, and in the fields the server
//! derives for each ([`draft`], [`order`], [`quote`], [`invoice`]).
//!
//! [I] a document's `TotalAmount` (order: `Amount`) includes VAT.
//! [I] VAT follows the customer's situation, as eAccounting derives it from
//! the article coding and the customer: domestic customers, EU consumers
//! and EU businesses without a VAT number pay the coding's rate; an EU
//! business with a VAT number (reverse charge) and any customer outside the
//! EU (export) pay none.
//! [I] a document in another currency than the company's is converted at a
//! fixed rate per currency ([`currency_rate`]); the real service uses the
//! day's rate.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::booking::payment_reference;
use super::pricing::{price_rows, Pricing};
use super::{b, check_codes, checked, entity_id, new_id, require_ref, s, truncate_utf16};
use crate::eaccounting::errors::ApiError;
use crate::eaccounting::model::{schema, Problems, Schema};
use crate::eaccounting::store::Store;
use crate::eaccounting::values::{self, format_date, format_utc, money, parse_datetime, round2};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Draft,
    Order,
    Quote,
    Invoice,
}

impl Doc {
    pub fn schema(self) -> &'static Schema {
        schema(match self {
            Doc::Draft => "CustomerInvoiceDraftApi",
            Doc::Order => "OrderApi",
            Doc::Quote => "QuoteApi",
            Doc::Invoice => "CustomerInvoiceApi",
        })
    }
    pub fn row_schema(self) -> &'static Schema {
        schema(match self {
            Doc::Draft => "CustomerInvoiceDraftRowApi",
            Doc::Order => "OrderRowApi",
            Doc::Quote => "QuoteRowApi",
            Doc::Invoice => "CustomerInvoiceRowApi",
        })
    }
    pub fn quantity_scale(self) -> u32 {
        match self {
            Doc::Order | Doc::Quote => 4,
            Doc::Draft | Doc::Invoice => 2,
        }
    }
}

/// Document address fields and the customer fields they default from.
pub(super) const INVOICE_ADDRESS: &[(&str, &str)] = &[
    ("InvoiceCustomerName", "Name"),
    ("InvoiceAddress1", "InvoiceAddress1"),
    ("InvoiceAddress2", "InvoiceAddress2"),
    ("InvoicePostalCode", "InvoicePostalCode"),
    ("InvoiceCity", "InvoiceCity"),
    ("InvoiceCountryCode", "InvoiceCountryCode"),
];
pub(super) const DELIVERY_ADDRESS: &[(&str, &str)] = &[
    ("DeliveryCustomerName", "DeliveryCustomerName"),
    ("DeliveryAddress1", "DeliveryAddress1"),
    ("DeliveryAddress2", "DeliveryAddress2"),
    ("DeliveryPostalCode", "DeliveryPostalCode"),
    ("DeliveryCity", "DeliveryCity"),
    ("DeliveryCountryCode", "DeliveryCountryCode"),
];

/// What every document derives from its body, customer and terms.
struct Header<'a> {
    m: Map<String, Value>,
    customer: Value,
    terms_id: Option<String>,
    terms: Option<Value>,
    domestic: bool,
    currency: String,
    /// Company currency per unit of the document's currency.
    rate: Decimal,
    total: Decimal,
    vat: Decimal,
    now: DateTime<Utc>,
    existing: Option<&'a Value>,
}

/// Creates or replaces a quote, order, draft or booked invoice.
pub(super) fn build(
    store: &mut Store,
    doc: Doc,
    body: &Value,
    existing: Option<&Value>,
    keep_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let m = checked(doc.schema(), body)?;
    check_header(store, doc, &m)?;
    let customer =
        require_ref(store, "customers", "CustomerId", s(&m, "CustomerId"))?.unwrap_or_default();
    // Only a quote names its own terms; the others take the customer's.
    let terms_id = s(&m, "TermsOfPaymentId")
        .filter(|_| doc == Doc::Quote)
        .or(customer["TermsOfPaymentId"].as_str())
        .map(str::to_string);
    let terms = require_ref(
        store,
        "termsofpayments",
        "TermsOfPaymentId",
        terms_id.as_deref(),
    )?;
    let private = customer["IsPrivatePerson"] == json!(true);
    check_rot(&m, private)?;
    check_eu_third_party(store, &m, &customer, private)?;
    let show_excl = store
        .company
        .get("ShowPricesExclVatPC")
        .and_then(Value::as_bool);
    let includes_vat = private && show_excl != Some(true);

    let mut out = m.clone();
    copy_addresses(doc, &customer, &mut out);
    check_delivery(store, &mut out)?;
    let country = s(&out, "InvoiceCountryCode").map(str::to_string);
    let domestic = country
        .as_deref()
        .is_none_or(|c| c == store.company_country());
    let in_eu = country.as_deref().is_some_and(|c| is_eu(store, c));
    let vat_number = customer["VatNumber"]
        .as_str()
        .is_some_and(|v| !v.is_empty());
    let pricing = Pricing {
        includes_vat,
        domestic,
        charge_vat: (domestic || (in_eu && (private || !vat_number)))
            && b(&m, "EuThirdParty") != Some(true),
        replace_zero_price: b(&m, "ReplaceUnitPriceWhenZero").unwrap_or(false),
    };
    let rows = m
        .get("Rows")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let (rows, totals) = price_rows(store, doc, &rows, &pricing)?;
    let (total, vat) = totals.sum(includes_vat);

    out.insert("Id".into(), json!(entity_id(existing, keep_id)));
    out.insert("Rows".into(), Value::Array(rows));
    from_customer(&mut out, &customer, includes_vat);
    out.insert(
        "CreatedUtc".into(),
        existing.map_or(json!(format_utc(now)), |e| e["CreatedUtc"].clone()),
    );
    out.insert("ModifiedUtc".into(), json!(format_utc(now)));
    let currency = s(&m, "CurrencyCode")
        .or(s(&m, "InvoiceCurrencyCode"))
        .or(customer["CurrencyCode"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| store.company_currency());
    let rate = currency_rate(&currency, &store.company_currency());
    let h = Header {
        m,
        customer,
        terms_id,
        terms,
        domestic,
        rate,
        currency,
        total,
        vat,
        now,
        existing,
    };
    match doc {
        Doc::Draft => draft(&h, &mut out)?,
        Doc::Order => order(store, &h, &mut out),
        Doc::Quote => quote(store, &h, &mut out)?,
        Doc::Invoice => invoice(store, &h, &mut out)?,
    }
    Ok(doc.schema().complete(out))
}

/// What a document shows of its customer, and whether its prices include VAT.
fn from_customer(out: &mut Map<String, Value>, customer: &Value, includes_vat: bool) {
    let private = customer["IsPrivatePerson"] == json!(true);
    out.insert("CustomerNumber".into(), customer["CustomerNumber"].clone());
    out.insert("CustomerName".into(), customer["Name"].clone());
    out.insert("CustomerIsPrivatePerson".into(), json!(private));
    out.insert("IncludesVat".into(), json!(includes_vat));
}

/// A booked invoice needs rows; codes must be known.
fn check_header(store: &Store, doc: Doc, m: &Map<String, Value>) -> Result<(), ApiError> {
    let mut p = Problems::default();
    let no_rows = m
        .get("Rows")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty);
    if doc == Doc::Invoice && no_rows {
        p.add("", "Rows", "an invoice needs at least one row.");
    }
    check_codes(store, m, &mut p);
    match p.is_empty() {
        true => Ok(()),
        false => Err(p.into_error()),
    }
}

/// ROT/RUT reductions are for private persons, who must be named.
fn check_rot(m: &Map<String, Value>, private: bool) -> Result<(), ApiError> {
    if m.get("RotReducedInvoicingType")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        == 0
    {
        return Ok(());
    }
    if !private {
        return Err(ApiError::validation("DataModelValidationError - RotReducedInvoicingType: ROT/RUT is only allowed for private persons."));
    }
    let persons = m.get("Persons").and_then(Value::as_array);
    match persons.is_none_or(Vec::is_empty) {
        true => Err(ApiError::validation(
            "DataModelValidationError - Persons: required for ROT/RUT documents.",
        )),
        false => Ok(()),
    }
}

/// EU triangulation is for business customers in another EU country.
fn check_eu_third_party(
    store: &Store,
    m: &Map<String, Value>,
    customer: &Value,
    private: bool,
) -> Result<(), ApiError> {
    if b(m, "EuThirdParty") != Some(true) {
        return Ok(());
    }
    let code = customer["InvoiceCountryCode"].as_str().unwrap_or("");
    let eu_abroad = code != store.company_country() && is_eu(store, code);
    match eu_abroad && !private {
        true => Ok(()),
        false => Err(ApiError::validation(
            "DataModelValidationError - EuThirdParty: only allowed for business customers in another EU country.",
        )),
    }
}

fn is_eu(store: &Store, code: &str) -> bool {
    store
        .all("countries")
        .iter()
        .any(|c| c["Code"].as_str() == Some(code) && c["IsEuMember"] == json!(true))
}

/// A delivery method or term named by its code must be one the company has;
/// its name is filled in from it.
fn check_delivery(store: &Store, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    for (collection, code_field, name_field) in [
        (
            "deliverymethods",
            "DeliveryMethodCode",
            "DeliveryMethodName",
        ),
        ("deliveryterms", "DeliveryTermCode", "DeliveryTermName"),
    ] {
        let Some(code) = s(out, code_field).map(str::to_string) else {
            continue;
        };
        let known = store
            .all(collection)
            .iter()
            .find(|d| {
                d["Code"]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case(&code))
            })
            .cloned();
        match known {
            Some(d) => {
                out.entry(name_field).or_insert(d["Name"].clone());
            }
            None => return Err(ApiError::reference_not_found(code_field, &code)),
        }
    }
    Ok(())
}

/// Units of the company's currency per unit of `currency` [I]: fixed here,
/// the day's rate in the real service.
pub fn currency_rate(currency: &str, company_currency: &str) -> Decimal {
    if currency == company_currency {
        return Decimal::ONE;
    }
    match currency {
        "USD" => Decimal::new(92, 2),
        "GBP" => Decimal::new(117, 2),
        "SEK" => Decimal::new(88, 3),
        "DKK" => Decimal::new(134, 3),
        "NOK" => Decimal::new(86, 3),
        _ => Decimal::ONE,
    }
}

/// Address fields not sent come from the customer, cut to what the
/// document can hold (a booked invoice's are read-only: always the customer's).
fn copy_addresses(doc: Doc, customer: &Value, out: &mut Map<String, Value>) {
    for (doc_field, cust_field) in INVOICE_ADDRESS.iter().chain(DELIVERY_ADDRESS) {
        if out.contains_key(*doc_field) {
            continue;
        }
        if let Some(v) = customer.get(*cust_field).and_then(Value::as_str) {
            let max = doc.schema().max_len(doc_field).unwrap_or(usize::MAX);
            out.insert(doc_field.to_string(), json!(truncate_utf16(v, max)));
        }
    }
}

impl Header<'_> {
    fn today(&self) -> String {
        format_date(
            self.now
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc(),
        )
    }

    /// `date` plus the terms' days (30 without terms). .NET's DateTime ends
    /// at 9999-12-31; a due date past it is a 2000.
    fn due(&self, date: &str) -> Result<String, ApiError> {
        let days = self
            .terms
            .as_ref()
            .and_then(|t| t["NumberOfDays"].as_i64())
            .unwrap_or(30);
        parse_datetime(date)
            .and_then(|dt| dt.checked_add_signed(ChronoDuration::days(days)))
            .filter(|dt| dt.year() <= 9999)
            .map(format_date)
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "DataModelValidationError - DueDate: {date} plus {days} days is not a valid date."
                ))
            })
    }

    /// The document date (sent, or today) under `field`, and a due date
    /// from it unless one was sent.
    fn dated(&self, out: &mut Map<String, Value>, field: &str) -> Result<(), ApiError> {
        let date = s(&self.m, field).map_or_else(|| self.today(), str::to_string);
        if !out.contains_key("DueDate") {
            out.insert("DueDate".into(), json!(self.due(&date)?));
        }
        out.insert(field.into(), json!(date));
        Ok(())
    }

    /// The number a new document gets from `next`; a replaced one keeps its own.
    fn number(&self, next: &mut i64) -> Value {
        match self.existing {
            Some(e) => e["Number"].clone(),
            None => {
                *next += 1;
                json!(*next - 1)
            }
        }
    }
}

fn draft(h: &Header, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    h.dated(out, "InvoiceDate")?;
    out.insert("InvoiceCurrencyCode".into(), json!(h.currency));
    out.insert("TotalAmount".into(), money(h.total));
    out.insert("TotalVatAmount".into(), money(h.vat));
    out.insert("TotalRoundings".into(), json!(0));
    out.insert(
        "TotalAmountBaseCurrency".into(),
        money(round2(h.total * h.rate)),
    );
    out.insert(
        "TotalVatAmountBaseCurrency".into(),
        money(round2(h.vat * h.rate)),
    );
    out.entry("IsCreditInvoice").or_insert(json!(false));
    out.entry("ReverseChargeOnConstructionServices")
        .or_insert(json!(false));
    out.insert("SalesDocumentAttachments".into(), json!([]));
    Ok(())
}

/// Status 3 (shipped) and 4 (invoiced) orders have been shipped, once.
fn order(store: &mut Store, h: &Header, out: &mut Map<String, Value>) {
    out.insert("Number".into(), h.number(&mut store.next_order_number));
    out.insert("Amount".into(), money(h.total));
    out.insert("VatAmount".into(), money(h.vat));
    for zero in [
        "RoundingsAmount",
        "DeliveredAmount",
        "DeliveredVatAmount",
        "DeliveredRoundingsAmount",
    ] {
        out.insert(zero.into(), json!(0));
    }
    let status = h.m.get("Status").and_then(Value::as_i64).unwrap_or(1);
    let shipped = match status >= 3 {
        true => h
            .existing
            .and_then(|e| e.get("ShippedDateTime").filter(|v| !v.is_null()).cloned())
            .unwrap_or(json!(format_utc(h.now))),
        false => Value::Null,
    };
    out.insert("ShippedDateTime".into(), shipped);
    out.insert("IsNotDelivered".into(), json!(status < 3));
}

fn quote(store: &mut Store, h: &Header, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    let number = h.number(&mut store.next_quote_number);
    h.dated(out, "QuoteDate")?;
    out.insert("Number".into(), number);
    out.entry("Status").or_insert(json!(1));
    out.insert("CurrencyCode".into(), json!(h.currency));
    out.entry("CurrencyRate").or_insert(values::number(h.rate));
    out.insert("TermsOfPaymentId".into(), json!(h.terms_id));
    out.insert(
        "TermsOfPayment".into(),
        h.terms.clone().unwrap_or(Value::Null),
    );
    out.insert("TotalAmount".into(), money(h.total));
    out.insert("VatAmount".into(), money(h.vat));
    out.insert("RoundingsAmount".into(), json!(0));
    out.insert("IsDomestic".into(), json!(h.domestic));
    out.entry("EuThirdParty").or_insert(json!(false));
    out.entry("RotReducedInvoicingType").or_insert(json!(0));
    Ok(())
}

fn invoice(store: &mut Store, h: &Header, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    let n = store.next_invoice_number;
    store.next_invoice_number += 1;
    h.dated(out, "InvoiceDate")?;
    // [I] TotalAmount is in the company's currency, *InvoiceCurrency in the invoice's.
    let total = money(h.total);
    let base = money(round2(h.total * h.rate));
    let c = &h.customer;
    for (field, value) in [
        ("InvoiceNumber", json!(n)),
        ("CurrencyCode", json!(h.currency)),
        ("TermsOfPaymentId", json!(h.terms_id)),
        ("CustomerEmail", c["EmailAddress"].clone()),
        ("ElectronicAddress", c["ElectronicAddress"].clone()),
        ("TotalAmount", base.clone()),
        ("TotalVatAmount", money(round2(h.vat * h.rate))),
        ("TotalRoundings", json!(0)),
        ("TotalAmountInvoiceCurrency", total.clone()),
        ("TotalVatAmountInvoiceCurrency", money(h.vat)),
        ("RemainingAmount", base),
        ("RemainingAmountInvoiceCurrency", total),
        ("PaymentStatus", json!(1)),
        ("PaymentReferenceNumber", json!(payment_reference(n))),
        ("VoucherId", json!(new_id())),
        ("VoucherNumber", json!(format!("V{n}"))),
        ("IsNotDelivered", json!(false)),
        ("HasAutoInvoiceError", json!(false)),
        ("RotReducedInvoicingAutomaticDistribution", json!(false)),
        ("ReversedConstructionVatInvoicing", json!(false)),
        (
            "ReverseChargeOnConstructionServices",
            c["ReverseChargeOnConstructionServices"].clone(),
        ),
        ("SalesDocumentAttachments", json!([])),
    ] {
        out.insert(field.into(), value);
    }
    out.entry("SendType").or_insert(json!(0));
    out.entry("CurrencyRate").or_insert(values::number(h.rate));
    out.entry("IsCreditInvoice").or_insert(json!(false));
    Ok(())
}
