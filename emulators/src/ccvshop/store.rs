//! The emulated shop's data, and the seed format.
//!
//! Money and quantities are `Decimal` end to end; the seed files and every
//! response carry them as JSON numbers with their exact digits.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

// Used by `#[serde(with = "...")]` below: decimals as JSON numbers, exact digits.
use rust_decimal::serde::arbitrary_precision as dec;
use rust_decimal::serde::arbitrary_precision_option as dec_opt;

/// Billing address (Personalinfo.billingaddress).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Address {
    pub gender: Option<String>,
    pub initials: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub full_name: Option<String>,
    pub company: Option<String>,
    pub address_line_1: Option<String>,
    pub address_line_2: Option<String>,
    pub street: Option<String>,
    pub housenumber: Option<i64>,
    pub housenumber_suffix: Option<String>,
    pub zipcode: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub country: Option<String>,
    pub country_code: Option<String>,
    pub telephone: Option<String>,
    pub fax: Option<String>,
    pub mobile: Option<String>,
    pub comment: Option<String>,
}

/// Delivery address: like billing, but CCV gives it no first/last name or fax.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryAddress {
    pub gender: Option<String>,
    pub initials: Option<String>,
    pub full_name: Option<String>,
    pub company: Option<String>,
    pub address_line_1: Option<String>,
    pub address_line_2: Option<String>,
    pub street: Option<String>,
    pub housenumber: Option<i64>,
    pub housenumber_suffix: Option<String>,
    pub zipcode: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub country: Option<String>,
    pub country_code: Option<String>,
    pub telephone: Option<String>,
    pub mobile: Option<String>,
    pub comment: Option<String>,
}

/// Personalinfo: the embedded `customer` of an order and a user's `userinfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Customer {
    pub email: Option<String>,
    pub customertype: Option<String>,
    pub reference: Option<String>,
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub btw: Option<String>,
    pub kvk: Option<String>,
    pub website: Option<String>,
    pub birthdate: Option<String>,
    pub branch: Option<String>,
    pub costcentre: Option<String>,
    pub billingaddress: Address,
    pub deliveryaddress: DeliveryAddress,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub id: i64,
    #[serde(default)]
    pub ordernumber_prefix: Option<String>,
    #[serde(default)]
    pub ordernumber: Option<i64>,
    #[serde(default)]
    pub invoicenumber: Option<i64>,
    #[serde(default)]
    pub transaction_id: Option<String>,
    pub create_date: DateTime<Utc>,
    pub deliver_method: String,
    #[serde(default)]
    pub deliver_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub take_out_start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub take_out_end: Option<DateTime<Utc>>,
    pub orderedinlng: String,
    #[serde(default)]
    pub status: Option<i64>,
    pub is_completed: bool,
    pub paid: bool,
    pub paymethod_id: i64,
    pub taxes_included: bool,
    pub order_row_taxes_included: bool,
    pub shipping_taxes_included: bool,
    #[serde(with = "dec")]
    pub shipping_tax_percentage: Decimal,
    pub is_intra_community_order: bool,
    #[serde(with = "dec")]
    pub total_shipping: Decimal,
    #[serde(with = "dec")]
    pub paymethod_costs: Decimal,
    #[serde(with = "dec")]
    pub extra_costs: Decimal,
    #[serde(default)]
    pub extra_costs_description: String,
    pub currency: String,
    #[serde(default)]
    pub track_and_trace_code: String,
    #[serde(default)]
    pub track_and_trace_carrier: Option<String>,
    #[serde(default)]
    pub track_and_trace_deeplink: String,
    #[serde(default)]
    pub reservationnumber: Option<String>,
    #[serde(default)]
    pub delivery_option: Option<String>,
    #[serde(default)]
    pub user_id: Option<i64>,
    pub customer: Customer,
    /// Row ids in display order; rows live in [`Store::orderrows`].
    #[serde(default)]
    pub row_ids: Vec<i64>,
    /// Notes added through `PATCH {"note": ...}`; kept for assertions.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Status mails the shop would have sent (`PATCH {"mail": true}`).
    #[serde(default)]
    pub mails_sent: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRow {
    pub id: i64,
    pub order_id: i64,
    #[serde(default = "product_type_default")]
    pub product_type: String,
    pub product_name: String,
    #[serde(default)]
    pub product_number: String,
    #[serde(default)]
    pub sub_product_number: Option<String>,
    #[serde(default)]
    pub sub_sku_number: Option<String>,
    #[serde(default)]
    pub sub_ean_number: Option<String>,
    #[serde(default)]
    pub product_id: Option<i64>,
    #[serde(with = "dec")]
    pub count: Decimal,
    #[serde(with = "dec")]
    pub price: Decimal,
    #[serde(with = "dec")]
    pub discount: Decimal,
    #[serde(with = "dec")]
    pub tax: Decimal,
    #[serde(default, with = "dec_opt")]
    pub purchase_price: Option<Decimal>,
    #[serde(default)]
    pub unit: String,
    #[serde(with = "dec")]
    pub weight: Decimal,
    #[serde(default)]
    pub memo: Option<String>,
    #[serde(default)]
    pub package_id: Option<i64>,
    #[serde(default)]
    pub stock_location: Option<String>,
    #[serde(default)]
    pub supplier: Option<String>,
}

fn product_type_default() -> String {
    "product".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub id: i64,
    pub is_active: bool,
    pub createdate: DateTime<Utc>,
    pub modifydate: DateTime<Utc>,
    pub productnumber: String,
    #[serde(default)]
    pub eannumber: Option<String>,
    #[serde(default)]
    pub mpnnumber: Option<String>,
    pub name: String,
    #[serde(default)]
    pub shortdescription: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `normal`, `reduced` or `exempt`.
    pub taxtariff: String,
    #[serde(with = "dec")]
    pub vatrate: Decimal,
    #[serde(with = "dec")]
    pub price: Decimal,
    #[serde(with = "dec")]
    pub discount: Decimal,
    #[serde(with = "dec")]
    pub purchaseprice: Decimal,
    #[serde(default)]
    pub unit: String,
    pub stockenabled: bool,
    #[serde(default, with = "dec_opt")]
    pub stock: Option<Decimal>,
    #[serde(default)]
    pub stocklocation: Option<String>,
    #[serde(default)]
    pub ordering_without_stock: bool,
    #[serde(with = "dec")]
    pub weight: Decimal,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub package_id: Option<i64>,
    #[serde(default)]
    pub decimal_amount: bool,
    #[serde(default, with = "dec")]
    pub amount_sold: Decimal,
    #[serde(default = "one", with = "dec")]
    pub minimal_order_amount: Decimal,
    #[serde(default = "yes")]
    pub is_visible: bool,
}

fn one() -> Decimal {
    Decimal::ONE
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub position: i64,
    #[serde(default = "yes")]
    pub show_on_website: bool,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub parentcategory_id: Option<i64>,
    #[serde(default)]
    pub page_title: Option<String>,
    #[serde(default)]
    pub meta_description: Option<String>,
    #[serde(default)]
    pub meta_keywords: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductToCategory {
    pub id: i64,
    pub product_id: i64,
    pub category_id: i64,
    pub position: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paymethod {
    pub id: i64,
    pub psp: String,
    pub method: String,
    pub combined_name: String,
    pub label: String,
    #[serde(default)]
    pub extra_costs: bool,
    #[serde(default, with = "dec")]
    pub extra_costs_fixed: Decimal,
    #[serde(default, with = "dec")]
    pub extra_costs_percentage: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub group_id: Option<i64>,
    pub status: bool,
    /// `pending` or `accepted`.
    pub approval_status: String,
    pub createdate: DateTime<Utc>,
    pub userinfo: Customer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderStatusSetting {
    pub id: i64,
    pub status: String,
    pub status_name: String,
    pub text_color: String,
    pub background_color: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webshop {
    pub id: i64,
    pub name: String,
    pub is_multishop_system: bool,
    pub is_main_shop: bool,
    pub currency: String,
    pub prices_include_vat: bool,
    pub stock_enabled: bool,
    pub order_status: Vec<OrderStatusSetting>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub id: i64,
    pub createdate: DateTime<Utc>,
    pub event: String,
    pub address: String,
    pub key: String,
    pub is_active: bool,
}

/// One attempted webhook delivery, for test assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    pub webhook_id: i64,
    pub event: String,
    pub address: String,
    pub body: String,
    pub x_date: String,
    pub x_hash: String,
    /// Filled in when the attempt finishes: the receiver's status, or why it failed.
    pub outcome: Option<Result<u16, String>>,
}

/// What a seed file holds. Every list may be left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedData {
    pub webshops: Vec<Webshop>,
    pub paymethods: Vec<Paymethod>,
    pub users: Vec<User>,
    pub categories: Vec<Category>,
    pub products: Vec<Product>,
    pub producttocategories: Vec<ProductToCategory>,
    pub orders: Vec<Order>,
    pub orderrows: Vec<OrderRow>,
    pub webhooks: Vec<Webhook>,
}

const BASE_SEED: &str = include_str!("seed/base.json");
const SAMPLE_SEED: &str = include_str!("seed/sample.json");

impl SeedData {
    /// Shop settings, payment methods, users and categories: what every
    /// emulated shop has, generated or not.
    pub fn base() -> Result<Self, serde_json::Error> {
        serde_json::from_str(BASE_SEED)
    }

    /// The base plus a handful of hand-written products and orders that
    /// cover the awkward cases (B2B abroad, unfinished order, fractional
    /// counts, prices with trailing zeros).
    pub fn sample() -> Result<Self, serde_json::Error> {
        let mut data = Self::base()?;
        let sample: SeedData = serde_json::from_str(SAMPLE_SEED)?;
        data.extend(sample);
        Ok(data)
    }

    pub fn extend(&mut self, other: SeedData) {
        self.webshops.extend(other.webshops);
        self.paymethods.extend(other.paymethods);
        self.users.extend(other.users);
        self.categories.extend(other.categories);
        self.products.extend(other.products);
        self.producttocategories.extend(other.producttocategories);
        self.orders.extend(other.orders);
        self.orderrows.extend(other.orderrows);
        self.webhooks.extend(other.webhooks);
    }
}

/// The whole shop. Cloned for [`super::CcvShopEmulator::state`] snapshots.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub webshops: BTreeMap<i64, Webshop>,
    pub paymethods: BTreeMap<i64, Paymethod>,
    pub users: BTreeMap<i64, User>,
    pub categories: BTreeMap<i64, Category>,
    pub products: BTreeMap<i64, Product>,
    pub producttocategories: BTreeMap<i64, ProductToCategory>,
    pub orders: BTreeMap<i64, Order>,
    pub orderrows: BTreeMap<i64, OrderRow>,
    pub webhooks: BTreeMap<i64, Webhook>,
    pub webhook_deliveries: Vec<WebhookDelivery>,
    /// Highest id ever handed out per table, so deleted ids are never reused.
    last_ids: BTreeMap<&'static str, i64>,
}

/// Tables that hand out ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Categories,
    Products,
    ProductToCategories,
    Orders,
    OrderRows,
    Webhooks,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Categories => "categories",
            Table::Products => "products",
            Table::ProductToCategories => "producttocategories",
            Table::Orders => "orders",
            Table::OrderRows => "orderrows",
            Table::Webhooks => "webhooks",
        }
    }
}

impl Store {
    /// Build a store from seed data, checking that references resolve so a
    /// broken seed fails loudly at start instead of as odd API answers.
    pub fn from_seed(data: SeedData) -> Result<Self, String> {
        let mut s = Store::default();
        fn put<T>(map: &mut BTreeMap<i64, T>, what: &str, id: i64, v: T) -> Result<(), String> {
            if id <= 0 {
                return Err(format!("{what} id {id} must be positive"));
            }
            if map.insert(id, v).is_some() {
                return Err(format!("duplicate {what} id {id}"));
            }
            Ok(())
        }
        for v in data.webshops {
            put(&mut s.webshops, "webshop", v.id, v)?;
        }
        for v in data.paymethods {
            put(&mut s.paymethods, "paymethod", v.id, v)?;
        }
        for v in data.users {
            put(&mut s.users, "user", v.id, v)?;
        }
        for v in data.categories {
            put(&mut s.categories, "category", v.id, v)?;
        }
        for v in data.products {
            put(&mut s.products, "product", v.id, v)?;
        }
        for v in data.producttocategories {
            if !s.products.contains_key(&v.product_id) || !s.categories.contains_key(&v.category_id)
            {
                return Err(format!("producttocategory {} links unknown ids", v.id));
            }
            put(&mut s.producttocategories, "producttocategory", v.id, v)?;
        }
        for v in data.orders {
            if !s.paymethods.contains_key(&v.paymethod_id) {
                return Err(format!(
                    "order {} has unknown paymethod {}",
                    v.id, v.paymethod_id
                ));
            }
            put(&mut s.orders, "order", v.id, v)?;
        }
        for v in data.orderrows {
            let order_id = v.order_id;
            let row_id = v.id;
            put(&mut s.orderrows, "orderrow", row_id, v)?;
            match s.orders.get_mut(&order_id) {
                Some(o) if !o.row_ids.contains(&row_id) => o.row_ids.push(row_id),
                Some(_) => {}
                None => {
                    return Err(format!(
                        "orderrow {row_id} belongs to unknown order {order_id}"
                    ))
                }
            }
        }
        for o in s.orders.values() {
            if let Some(missing) = o.row_ids.iter().find(|id| !s.orderrows.contains_key(id)) {
                return Err(format!("order {} lists unknown row {missing}", o.id));
            }
        }
        for v in data.webhooks {
            put(&mut s.webhooks, "webhook", v.id, v)?;
        }
        s.last_ids.insert(
            "categories",
            s.categories.keys().max().copied().unwrap_or(0),
        );
        s.last_ids
            .insert("products", s.products.keys().max().copied().unwrap_or(0));
        s.last_ids.insert(
            "producttocategories",
            s.producttocategories.keys().max().copied().unwrap_or(0),
        );
        s.last_ids
            .insert("orders", s.orders.keys().max().copied().unwrap_or(0));
        s.last_ids
            .insert("orderrows", s.orderrows.keys().max().copied().unwrap_or(0));
        s.last_ids
            .insert("webhooks", s.webhooks.keys().max().copied().unwrap_or(0));
        Ok(s)
    }

    pub fn next_id(&mut self, table: Table) -> i64 {
        let last = self.last_ids.entry(table.name()).or_insert(0);
        *last += 1;
        *last
    }

    /// Rows of one order, in order.
    pub fn rows_of(&self, order: &Order) -> Vec<&OrderRow> {
        order
            .row_ids
            .iter()
            .filter_map(|id| self.orderrows.get(id))
            .collect()
    }

    /// The next ordernumber a completed order gets.
    pub fn next_ordernumber(&self) -> i64 {
        self.orders
            .values()
            .filter_map(|o| o.ordernumber)
            .max()
            .unwrap_or(0)
            + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_seeds_load_and_link() {
        let store =
            Store::from_seed(SeedData::sample().expect("sample seed parses")).expect("links");
        assert!(!store.webshops.is_empty());
        assert!(!store.paymethods.is_empty());
        assert!(
            store.orders.values().any(|o| !o.is_completed),
            "an unfinished order"
        );
        assert!(store.orders.values().all(|o| !o.row_ids.is_empty()));
    }

    #[test]
    fn decimals_round_trip_with_exact_digits() {
        let data = SeedData::sample().expect("sample seed parses");
        let text = serde_json::to_string(&data.orderrows).expect("serializes");
        assert!(
            text.contains("\"price\":12.50"),
            "trailing zero kept: {text}"
        );
        assert!(text.contains("\"count\":1.5"), "{text}");
        let back: Vec<OrderRow> = serde_json::from_str(&text).expect("parses back");
        assert_eq!(back, data.orderrows);
    }

    #[test]
    fn broken_references_are_rejected() {
        let mut data = SeedData::base().expect("base seed parses");
        data.producttocategories.push(ProductToCategory {
            id: 1,
            product_id: 999,
            category_id: 1,
            position: 1,
        });
        assert!(Store::from_seed(data).is_err());
    }
}
