//! The emulated shop's data: typed records per table, in one [`Store`].
//!
//! Money and quantities are `Decimal` end to end; the seed files and every
//! response carry them as JSON numbers with their exact digits. Records
//! keep the names the API uses wherever they can, so that a write can be
//! stored through the model ([`super::model::Resource::apply`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// Used by `#[serde(with = "...")]` below: decimals as JSON numbers, exact digits.
use rust_decimal::serde::arbitrary_precision as dec;
use rust_decimal::serde::arbitrary_precision_option as dec_opt;

/// Personalinfo (an order's `customer`, a user's `userinfo`) is kept as the
/// JSON the API shows, checked against its model rather than mirrored in
/// structs: the model is the one list of its fields.
pub type Personalinfo = Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub id: i64,
    pub ordernumber_prefix: Option<String>,
    pub ordernumber: Option<i64>,
    pub invoicenumber: Option<i64>,
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
    /// The coupon used, if any; its `discount` is the amount it took off,
    /// in the rows' price basis [I].
    #[serde(default)]
    pub discountcoupon: Option<Coupon>,
    /// Paid with the customer's credit points, in the rows' price basis.
    #[serde(default, with = "dec")]
    pub credit_point_discount: Decimal,
    /// Other order-level discounts (a customer group's discount), in the
    /// rows' price basis; shown only within `total_discounts` [I].
    #[serde(default, with = "dec", skip_serializing)]
    pub order_discount: Decimal,
    pub currency: String,
    #[serde(default)]
    pub track_and_trace_code: String,
    pub track_and_trace_carrier: Option<String>,
    #[serde(default)]
    pub track_and_trace_deeplink: String,
    pub reservationnumber: Option<String>,
    pub delivery_option: Option<String>,
    pub user_id: Option<i64>,
    /// Checked against the model's `personalinfo`.
    #[serde(default)]
    pub customer: Personalinfo,
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

/// A discount coupon as an order shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coupon {
    pub code: String,
    #[serde(with = "dec")]
    pub discount: Decimal,
    #[serde(default = "coupon_type")]
    pub r#type: String,
    #[serde(default)]
    pub enddate: Option<String>,
    #[serde(default)]
    pub onetimeuse: bool,
    #[serde(default)]
    pub givesfreeshipping: bool,
    #[serde(default, with = "dec_opt")]
    pub minimumprice: Option<Decimal>,
}

fn coupon_type() -> String {
    "price".into()
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
    pub sub_product_number: Option<String>,
    pub sub_sku_number: Option<String>,
    pub sub_ean_number: Option<String>,
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
    pub memo: Option<String>,
    pub package_id: Option<i64>,
    pub stock_location: Option<String>,
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
    pub eannumber: Option<String>,
    pub mpnnumber: Option<String>,
    pub name: String,
    #[serde(default)]
    pub shortdescription: String,
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
    pub stocklocation: Option<String>,
    /// `global_setting` (the shop's, which here forbids it), `yes` or `no`.
    #[serde(default = "global_setting")]
    pub ordering_without_stock: String,
    #[serde(with = "dec")]
    pub weight: Decimal,
    pub color: Option<String>,
    pub brand: Option<String>,
    pub package_id: Option<i64>,
    /// How many decimals an amount may have; 0 is whole pieces only.
    #[serde(default)]
    pub decimal_amount: u32,
    #[serde(default, with = "dec")]
    pub amount_sold: Decimal,
    #[serde(default = "one", with = "dec")]
    pub minimal_order_amount: Decimal,
    #[serde(default = "yes")]
    pub is_visible: bool,
}

fn global_setting() -> String {
    "global_setting".to_string()
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
    pub description: Option<String>,
    pub position: i64,
    #[serde(default = "yes")]
    pub show_on_website: bool,
    pub alias: Option<String>,
    pub parentcategory_id: Option<i64>,
    pub page_title: Option<String>,
    pub meta_description: Option<String>,
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

/// A variant of a product (`attributecombinations`): its own codes and
/// stock. A product with combinations keeps its stock on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeCombination {
    pub id: i64,
    pub product_id: i64,
    #[serde(default, with = "dec")]
    pub stock: Decimal,
    pub product_number: Option<String>,
    pub ean_number: Option<String>,
    pub sku_number: Option<String>,
    #[serde(default, with = "dec")]
    pub netto_extra_price: Decimal,
    #[serde(default = "yes")]
    pub active: bool,
    /// The option values, e.g. `[{"option": "Size", "value": "L"}]`.
    #[serde(default)]
    pub combination: Vec<Value>,
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
    #[serde(default)]
    pub userinfo: Personalinfo,
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

/// The whole shop. Cloned for [`super::CcvShopEmulator::state`] snapshots.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub webshops: BTreeMap<i64, Webshop>,
    pub paymethods: BTreeMap<i64, Paymethod>,
    pub users: BTreeMap<i64, User>,
    pub categories: BTreeMap<i64, Category>,
    pub products: BTreeMap<i64, Product>,
    pub producttocategories: BTreeMap<i64, ProductToCategory>,
    pub attributecombinations: BTreeMap<i64, AttributeCombination>,
    pub orders: BTreeMap<i64, Order>,
    pub orderrows: BTreeMap<i64, OrderRow>,
    pub webhooks: BTreeMap<i64, Webhook>,
    pub webhook_deliveries: Vec<WebhookDelivery>,
    /// Highest id ever handed out per table, so deleted ids are never reused.
    pub(crate) last_ids: BTreeMap<Table, i64>,
}

/// Tables that hand out ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    Categories,
    Products,
    ProductToCategories,
    AttributeCombinations,
    Orders,
    OrderRows,
    Webhooks,
}

impl Table {
    pub const ALL: [Table; 7] = [
        Table::Categories,
        Table::Products,
        Table::ProductToCategories,
        Table::AttributeCombinations,
        Table::Orders,
        Table::OrderRows,
        Table::Webhooks,
    ];
}

impl Store {
    pub fn next_id(&mut self, table: Table) -> i64 {
        let last = self.last_ids.entry(table).or_insert(0);
        *last += 1;
        *last
    }

    /// The highest id in use in `table`, for starting its sequence.
    pub(crate) fn max_id(&self, table: Table) -> i64 {
        let last = match table {
            Table::Categories => self.categories.keys().last(),
            Table::Products => self.products.keys().last(),
            Table::ProductToCategories => self.producttocategories.keys().last(),
            Table::AttributeCombinations => self.attributecombinations.keys().last(),
            Table::Orders => self.orders.keys().last(),
            Table::OrderRows => self.orderrows.keys().last(),
            Table::Webhooks => self.webhooks.keys().last(),
        };
        last.copied().unwrap_or(0)
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
