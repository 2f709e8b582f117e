//! Order rows (API notes §3.2): read per order at
//! `/orders/{id}/orderrows` or one by one, and built from the rows a POST
//! or PATCH of an order sends (JDK "Internal Orderrow Input").

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::orders::row_total;
use super::{found, get, Render};
use crate::ccvshop::app::{App, Ctx, Reply};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::input::Body;
use crate::ccvshop::json::{num, opt_num};
use crate::ccvshop::model::resource;
use crate::ccvshop::routes::RouteDef;
use crate::ccvshop::store::{Order, OrderRow, Product, Store, Table};

pub(crate) const ROUTES: &[RouteDef] = &[
    RouteDef::new("orders/{id}/orderrows", &[("GET", of_order)]),
    RouteDef::new("orderrows/{id}", &[("GET", get::<OrderRow>)]),
];

impl Render for OrderRow {
    fn render(&self, app: &App, _: &Store) -> Value {
        let price = num(self.price);
        let selling = num(self.price - self.discount);
        let total = num(row_total(self));
        let zero = num(Decimal::ZERO);
        let computed = json!({
            "href": app.url(&format!("orderrows/{}", self.id)),
            "product_name_google": self.product_name,
            "product_href": self.product_id.map(|id| app.url(&format!("products/{id}"))),
            "product_purchase_price": opt_num(self.purchase_price),
            "custom_price": false,
            "package_name": self.package_id.map(|_| "Standaard"),
            "user_discount": zero,
            "original_price": price,
            "selling_price": selling,
            "price_without_discount": price,
            "price_without_discount_with_attributes": price,
            "total_price": total,
            "total_extra_option_price": zero,
            "price_with_attributes": selling,
            "total_price_with_attributes": total,
            "parent": { "href": app.url(&format!("orders/{}", self.order_id)) },
        });
        resource("orderrow").render(self, [computed])
    }
}

fn of_order(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let store = ctx.store();
    let order = found::<Order>(&store, ctx.id(0))?;
    let items = store
        .rows_of(order)
        .into_iter()
        .map(|r| r.render(ctx.app, &store))
        .collect();
    ctx.page(&format!("orders/{}/orderrows", order.id), items)
}

/// New rows of order `order_id` from the rows a write sent, which the model
/// has checked for types and bounds. A row naming a product takes what it
/// leaves out from the product.
pub(crate) fn from_input(
    store: &mut Store,
    order_id: i64,
    list: &[Value],
) -> Result<Vec<OrderRow>, ApiError> {
    if list.is_empty() {
        return Err(ApiError::invalid(
            "Property 'orderrows' must contain at least one row",
        ));
    }
    let empty = Map::new();
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let row = Body(item.as_object().unwrap_or(&empty));
            let product = product_of(store, &row, i)?;
            let id = store.next_id(Table::OrderRows);
            build(id, order_id, &row, product.as_ref(), i)
        })
        .collect()
}

fn product_of(store: &Store, row: &Body, i: usize) -> Result<Option<Product>, ApiError> {
    if row.has("attribute_combination_id") {
        return Err(ApiError::invalid(format!(
            "orderrows[{i}].attribute_combination_id: this shop has no attribute combinations"
        )));
    }
    match row.int("product_id") {
        Some(id) => store.products.get(&id).cloned().map(Some).ok_or_else(|| {
            ApiError::invalid(format!("orderrows[{i}].product_id {id} does not exist"))
        }),
        None => Ok(None),
    }
}

fn build(
    id: i64,
    order_id: i64,
    row: &Body,
    product: Option<&Product>,
    i: usize,
) -> Result<OrderRow, ApiError> {
    let invalid = |what: &str| ApiError::invalid(format!("orderrows[{i}]{what}"));
    let count = row.decimal("count").unwrap_or_default();
    if count <= Decimal::ZERO {
        return Err(invalid(".count must be greater than 0"));
    }
    let product_name = row
        .string("product_name")
        .or(product.map(|p| p.name.clone()))
        .ok_or_else(|| invalid(" needs product_id or product_name"))?;
    let price = row
        .decimal("price")
        .or(product.map(|p| p.price))
        .ok_or_else(|| invalid(".price is required without product_id"))?;
    let discount = row
        .decimal("discount")
        .or(product.map(|p| p.discount))
        .unwrap_or_default();
    if discount > price {
        return Err(invalid(".discount is larger than the price"));
    }
    Ok(OrderRow {
        id,
        order_id,
        product_type: row
            .string("product_type")
            .unwrap_or_else(|| "product".into()),
        product_name,
        product_number: row
            .string("product_number")
            .or(product.map(|p| p.productnumber.clone()))
            .unwrap_or_default(),
        sub_product_number: None,
        sub_sku_number: None,
        sub_ean_number: product.and_then(|p| p.eannumber.clone()),
        product_id: product.map(|p| p.id),
        count,
        price,
        discount,
        tax: row
            .decimal("tax")
            .or(product.map(|p| p.vatrate))
            .unwrap_or_default(),
        purchase_price: product.map(|p| p.purchaseprice),
        unit: row
            .string("unit")
            .or(product.map(|p| p.unit.clone()))
            .unwrap_or_default(),
        weight: row
            .decimal("weight")
            .or(product.map(|p| p.weight))
            .unwrap_or_default(),
        memo: row.string("memo"),
        package_id: row.int("package_id").or(product.and_then(|p| p.package_id)),
        stock_location: product.and_then(|p| p.stocklocation.clone()),
        supplier: None,
    })
}
