//! In-memory company data: one ordered list of JSON entities per resource,
//! plus the company settings and number sequences.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::model::{schema, Schema};

/// Built-in reference data: a Dutch company (EUR, NL VAT 21/9/0) with
/// Swedish/EU countries and currencies available.
pub const REFERENCE_SEED: &str = include_str!("seed/reference.json");

/// Collections that the API only reads, with their model; they come from
/// the seed.
pub const REFERENCE: &[(&str, &str)] = &[
    ("termsofpayments", "TermsOfPaymentApi"),
    ("units", "UnitApi"),
    ("vatcodes", "VatCodeApi"),
    ("articleaccountcodings", "ArticleAccountCodingAPI"),
    ("countries", "CountryApi"),
    ("currencies", "CurrencyApi"),
    ("deliverymethods", "DeliveryMethodApi"),
    ("deliveryterms", "DeliveryTermApi"),
];

/// Collections written through the API (and through `load_seed`, which
/// runs the same validation as a POST), with their model.
pub const WRITABLE: &[(&str, &str)] = &[
    ("fiscalyears", "FiscalYearApi"),
    ("accounts", "AccountApi"),
    // Before articles, which refer to labels.
    ("articlelabels", "ArticleLabelApi"),
    ("customers", "CustomerApi"),
    ("articles", "ArticleApi"),
    ("quotes", "QuoteApi"),
    ("orders", "OrderApi"),
    ("customerinvoicedrafts", "CustomerInvoiceDraftApi"),
    ("customerinvoices", "CustomerInvoiceApi"),
    ("vouchers", "VoucherApi"),
];

/// The model of a collection, by its URL name.
pub fn schema_of(collection: &str) -> Option<&'static Schema> {
    REFERENCE
        .iter()
        .chain(WRITABLE)
        .find(|(n, _)| *n == collection)
        .map(|(_, model)| schema(model))
}

#[derive(Debug, Clone, Default)]
pub struct Store {
    pub company: Map<String, Value>,
    pub data: BTreeMap<&'static str, Vec<Value>>,
    pub next_customer_number: u64,
    pub next_invoice_number: i64,
    pub next_order_number: i64,
    pub next_quote_number: i64,
    pub next_voucher_number: i64,
}

impl Store {
    /// A store holding only the built-in reference data.
    pub fn with_reference_seed() -> Self {
        let mut store = Store::default();
        let seed: Value = serde_json::from_str(REFERENCE_SEED).unwrap_or(Value::Null);
        store.load_reference(&seed);
        store
    }

    /// Replaces the company settings and every reference collection present
    /// in `seed`. Returns the names of the keys it consumed.
    pub fn load_reference(&mut self, seed: &Value) -> Vec<String> {
        let mut used = Vec::new();
        if let Some(settings) = seed.get("CompanySettings").and_then(Value::as_object) {
            self.company = settings.clone();
            let int = |k: &str, d: i64| settings.get(k).and_then(Value::as_i64).unwrap_or(d);
            self.next_customer_number = int("NextCustomerNumber", 1) as u64;
            self.next_invoice_number = int("NextCustomerInvoiceNumber", 1);
            self.next_order_number = int("NextOrderNumber", 1);
            self.next_quote_number = int("NextQuoteNumber", 1);
            self.next_voucher_number = int("NextVoucherNumber", 1);
            used.push("CompanySettings".to_string());
        }
        for (name, model) in REFERENCE.iter().chain(&WRITABLE[..2]) {
            if let Some(items) = seed.get(*name).and_then(Value::as_array) {
                let model = schema(model);
                let rows = items
                    .iter()
                    .map(|item| model.complete(item.as_object().cloned().unwrap_or_default()))
                    .collect();
                self.data.insert(name, rows);
                used.push(name.to_string());
            }
        }
        used
    }

    pub fn all(&self, collection: &str) -> &[Value] {
        self.data.get(collection).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn push(&mut self, collection: &'static str, entity: Value) {
        self.data.entry(collection).or_default().push(entity);
    }

    pub fn by_id(&self, collection: &str, id: &str) -> Option<&Value> {
        self.all(collection).iter().find(|e| id_eq(e, id))
    }

    pub fn position(&self, collection: &str, id: &str) -> Option<usize> {
        self.all(collection).iter().position(|e| id_eq(e, id))
    }

    pub fn replace(&mut self, collection: &'static str, index: usize, entity: Value) {
        if let Some(slot) = self.data.entry(collection).or_default().get_mut(index) {
            *slot = entity;
        }
    }

    pub fn remove(&mut self, collection: &'static str, index: usize) -> Option<Value> {
        let list = self.data.entry(collection).or_default();
        (index < list.len()).then(|| list.remove(index))
    }

    pub fn company_country(&self) -> String {
        self.company
            .get("CountryCode")
            .and_then(Value::as_str)
            .unwrap_or("NL")
            .to_string()
    }

    /// Whether the company has this module on (`ActivatedModules`).
    pub fn has_module(&self, module: &str) -> bool {
        self.company
            .get("ActivatedModules")
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|x| x.as_str() == Some(module)))
    }

    pub fn company_currency(&self) -> String {
        self.company
            .get("CurrencyCode")
            .and_then(Value::as_str)
            .unwrap_or("EUR")
            .to_string()
    }

    /// Everything, keyed by collection name, for test assertions.
    pub fn snapshot(&self) -> Value {
        let mut out = Map::new();
        out.insert(
            "CompanySettings".into(),
            Value::Object(self.company.clone()),
        );
        for (name, _) in REFERENCE.iter().chain(WRITABLE) {
            out.insert(name.to_string(), Value::Array(self.all(name).to_vec()));
        }
        Value::Object(out)
    }
}

/// GUIDs compare case-insensitively (and with or without braces), as .NET
/// parses them.
pub fn id_eq(entity: &Value, id: &str) -> bool {
    let Some(have) = entity.get("Id").and_then(Value::as_str) else {
        return false;
    };
    match (uuid::Uuid::parse_str(have), uuid::Uuid::parse_str(id)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
