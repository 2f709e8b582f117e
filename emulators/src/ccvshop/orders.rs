//! Orders and order rows (API notes §3.1, §3.2, §3.9).
//!
//! An order never embeds its rows: `orderrows` is only an `{href}` link, so a
//! connector must page `/orders/{id}/orderrows` like it would on a real shop.
//! Totals are derived from the rows on every read, so they cannot drift.
//! How CCV computes `total_tax`/`total_price` when prices exclude VAT is
//! undocumented; here VAT is added on top in that case.

use chrono::Utc;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Map, Value};

use super::collections::{envelope, ordered};
use super::errors::ApiError;
use super::input::Fields;
use super::store::{Customer, Order, OrderRow, Store, Table};
use super::webhooks::{emit, Event};
use super::{merge_objects, num, opt_ts, ts, App, Ctx, Reply};

const LIST_PARAMS: &[&str] = &[
    "start",
    "size",
    "ordernumber",
    "status",
    "is_paid",
    "is_completed",
    "deliver_date",
    "take_out_date",
    "min_create_date",
    "max_create_date",
    "paymethod_id",
    "transaction_id",
    "orderby",
];
const ORDERBY: &[&str] = &["id", "ordernumber", "create_date", "deliver_date"];

fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// VAT contained in (or to add to) `amount` at `rate` percent.
fn vat(amount: Decimal, rate: Decimal, included: bool) -> Decimal {
    let hundred = Decimal::ONE_HUNDRED;
    if included {
        (amount * rate)
            .checked_div(hundred + rate)
            .unwrap_or_default()
    } else {
        amount * rate / hundred
    }
}

fn row_total(r: &OrderRow) -> Decimal {
    round2(r.count * (r.price - r.discount))
}

pub(crate) fn render_row(app: &App, r: &OrderRow) -> Value {
    let selling = r.price - r.discount;
    json!({
        "href": app.url(&format!("orderrows/{}", r.id)),
        "id": r.id,
        "order_id": r.order_id,
        "product_type": r.product_type,
        "product_name": r.product_name,
        "product_name_google": r.product_name,
        "product_number": r.product_number,
        "sub_product_number": r.sub_product_number,
        "sub_sku_number": r.sub_sku_number,
        "sub_ean_number": r.sub_ean_number,
        "product_id": r.product_id,
        "product_href": r.product_id.map(|id| app.url(&format!("products/{id}"))),
        "count": num(r.count),
        "price": num(r.price),
        "product_purchase_price": r.purchase_price.map_or(Value::Null, num),
        "discount": num(r.discount),
        "custom_price": false,
        "tax": num(r.tax),
        "unit": r.unit,
        "weight": num(r.weight),
        "memo": r.memo,
        "package_id": r.package_id,
        "package_name": r.package_id.map(|_| "Standaard"),
        "stock_location": r.stock_location,
        "supplier": r.supplier,
        "user_discount": num(Decimal::ZERO),
        "original_price": num(r.price),
        "selling_price": num(selling),
        "price_without_discount": num(r.price),
        "price_without_discount_with_attributes": num(r.price),
        "total_price": num(row_total(r)),
        "total_extra_option_price": num(Decimal::ZERO),
        "price_with_attributes": num(selling),
        "total_price_with_attributes": num(row_total(r)),
        "attributes": Value::Null,
        "uploads": Value::Null,
        "parent": { "href": app.url(&format!("orders/{}", r.order_id)) },
    })
}

pub(crate) fn render_order(app: &App, store: &Store, o: &Order) -> Value {
    let rows = store.rows_of(o);
    let rows_total: Decimal = rows.iter().map(|r| row_total(r)).sum();
    let discounts: Decimal = rows.iter().map(|r| r.count * r.discount).sum();
    let weight: Decimal = rows.iter().map(|r| r.count * r.weight).sum();
    let rows_vat: Decimal = rows
        .iter()
        .map(|r| vat(row_total(r), r.tax, o.order_row_taxes_included))
        .sum();
    let shipping_vat = vat(
        o.total_shipping,
        o.shipping_tax_percentage,
        o.shipping_taxes_included,
    );
    let mut total = rows_total + o.total_shipping + o.paymethod_costs + o.extra_costs;
    if !o.order_row_taxes_included {
        total += rows_vat;
    }
    if !o.shipping_taxes_included {
        total += shipping_vat;
    }
    let paymethod = store.paymethods.get(&o.paymethod_id);
    let link = |sub: &str| json!({ "href": app.url(&format!("orders/{}/{sub}", o.id)) });
    let user = o.user_id.and_then(|id| store.users.get(&id));
    // In parts: one json! of this size exceeds the macro recursion limit.
    let order = json!({
        "href": app.url(&format!("orders/{}", o.id)),
        "id": o.id,
        "ordernumber_prefix": o.ordernumber_prefix,
        "ordernumber": o.ordernumber,
        "ordernumber_full": o.ordernumber.map(|n| match &o.ordernumber_prefix {
            Some(p) if !p.is_empty() => format!("{p}-{n}"),
            _ => n.to_string(),
        }),
        "invoicenumber": o.invoicenumber,
        "transaction_id": o.transaction_id,
        "create_date": ts(o.create_date),
        "deliver_method": o.deliver_method,
        "deliver_date": opt_ts(o.deliver_date),
        "take_out_window": { "start": opt_ts(o.take_out_start), "end": opt_ts(o.take_out_end) },
        "is_platform_sale": false,
        "orderedinlng": o.orderedinlng,
        "status": o.status,
        "is_completed": o.is_completed,
        "basket_href": (!o.is_completed).then(|| format!("{}/basket/{}", app.base_url, o.id)),
        "checkout_href": (!o.is_completed).then(|| format!("{}/checkout/{}", app.base_url, o.id)),
        "paid": o.paid,
    });
    let rest = json!({
        "safety_deposit_returned": false,
        "paymethod_id": o.paymethod_id,
        "paymethod": paymethod.map(|p| p.combined_name.as_str()).unwrap_or(""),
        "paymethod_label": paymethod.map(|p| p.label.as_str()).unwrap_or(""),
        "taxes_included": o.taxes_included,
        "order_row_taxes_included": o.order_row_taxes_included,
        "shipping_taxes_included": o.shipping_taxes_included,
        "shipping_tax_percentage": num(o.shipping_tax_percentage),
        "is_intra_community_order": o.is_intra_community_order,
        "total_orderrow_price": num(round2(rows_total)),
        "total_shipping": num(o.total_shipping),
        "total_discounts": num(round2(discounts)),
        "total_price": num(round2(total)),
        "total_tax": num(round2(rows_vat + shipping_vat)),
        "total_weight": num(weight.normalize()),
        "currency": o.currency,
        "extra_payment_option": "",
        "extra_payment_option_price": Value::Null,
        "extra_payment_option_no_sentprice": false,
        "extra_payment_option_pay_on_pickup": false,
        "extra_price": num(Decimal::ZERO),
        "paymethod_costs": num(o.paymethod_costs),
        "credit_point_discount": num(Decimal::ZERO),
        "extra_costs": num(o.extra_costs),
        "extra_costs_description": o.extra_costs_description,
    });
    let tail = json!({
        "track_and_trace_code": o.track_and_trace_code,
        "track_and_trace_deeplink": o.track_and_trace_deeplink,
        "track_and_trace_carrier": o.track_and_trace_carrier,
        "reservationnumber": o.reservationnumber,
        "delivery_option": o.delivery_option,
        "user": {
            "id": o.user_id,
            "discount_percentage": user.map(|_| num(Decimal::ZERO)),
            "href": o.user_id.map(|id| app.url(&format!("users/{id}"))),
        },
        "discountcoupon": {
            "code": Value::Null, "discount": Value::Null, "type": Value::Null, "enddate": Value::Null,
            "onetimeuse": Value::Null, "givesfreeshipping": Value::Null, "minimumprice": Value::Null,
        },
        "customer": serde_json::to_value(&o.customer).unwrap_or(Value::Null),
        "pickup_address": Value::Null,
        "packing_slip_deeplink": o.is_completed.then(|| format!("{}/packingslip/{}", app.base_url, o.id)),
        "orderrows": link("orderrows"),
        "ordernotes": link("ordernotes"),
        "ordermessages": link("ordermessages"),
        "ordernotifications": link("ordernotifications"),
        "orderaffiliatenetworks": link("orderaffiliatenetworks"),
        "orderlabels": link("orderlabels"),
        "invoices": link("invoices"),
    });
    merge_objects([order, rest, tail])
}

pub fn list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let q = &ctx.query;
    q.allow(LIST_PARAMS)?;
    let paging = ctx.paging()?;
    let ordernumber = q.int("ordernumber", 0, i64::MAX)?;
    let status = q.int("status", 1, 14)?;
    let is_paid = q.boolean("is_paid")?;
    // Unfinished (abandoned) checkouts are hidden unless asked for.
    let is_completed = q.boolean("is_completed")?.unwrap_or(true);
    let deliver_day = q.day("deliver_date")?;
    let take_out_day = q.day("take_out_date")?;
    let min_create = q.date("min_create_date", false)?;
    let max_create = q.date("max_create_date", true)?;
    let paymethod_id = q.int("paymethod_id", 0, i64::MAX)?;
    let transaction_id = q.string("transaction_id")?;
    let orderby = q.orderby(ORDERBY)?;

    let store = ctx.store();
    let mut hits: Vec<&Order> = store
        .orders
        .values()
        .filter(|o| o.is_completed == is_completed)
        .filter(|o| ordernumber.is_none_or(|n| o.ordernumber == Some(n)))
        .filter(|o| status.is_none_or(|s| o.status == Some(s)))
        .filter(|o| is_paid.is_none_or(|p| o.paid == p))
        .filter(|o| deliver_day.is_none_or(|d| o.deliver_date.is_some_and(|x| x.date_naive() == d)))
        .filter(|o| {
            take_out_day.is_none_or(|d| o.take_out_start.is_some_and(|x| x.date_naive() == d))
        })
        .filter(|o| min_create.is_none_or(|m| o.create_date >= m))
        .filter(|o| max_create.is_none_or(|m| o.create_date <= m))
        .filter(|o| paymethod_id.is_none_or(|p| o.paymethod_id == p))
        .filter(|o| transaction_id.is_none_or(|t| o.transaction_id.as_deref() == Some(t)))
        .collect();
    if let Some((field, desc)) = orderby {
        hits.sort_by(|a, b| match field.as_str() {
            "ordernumber" => ordered((a.ordernumber, a.id), (b.ordernumber, b.id), desc),
            "create_date" => ordered((a.create_date, a.id), (b.create_date, b.id), desc),
            "deliver_date" => ordered((a.deliver_date, a.id), (b.deliver_date, b.id), desc),
            _ => ordered((a.id, a.id), (b.id, b.id), desc),
        });
    }
    let items = hits
        .into_iter()
        .map(|o| render_order(ctx.app, &store, o))
        .collect();
    Ok(Reply::ok(envelope(&ctx.url("orders"), q, paging, items)))
}

pub fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let store = ctx.store();
    let order = store
        .orders
        .get(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("order", ctx.id(0)))?;
    Ok(Reply::ok(render_order(ctx.app, &store, order)))
}

pub fn rows_of_order(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&["start", "size"])?;
    let paging = ctx.paging()?;
    let store = ctx.store();
    let order = store
        .orders
        .get(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("order", ctx.id(0)))?;
    let items = store
        .rows_of(order)
        .into_iter()
        .map(|r| render_row(ctx.app, r))
        .collect();
    Ok(Reply::ok(envelope(
        &ctx.url(&format!("orders/{}/orderrows", order.id)),
        &ctx.query,
        paging,
        items,
    )))
}

pub fn row(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let store = ctx.store();
    let row = store
        .orderrows
        .get(&ctx.id(0))
        .ok_or_else(|| ApiError::not_found("orderrow", ctx.id(0)))?;
    Ok(Reply::ok(render_row(ctx.app, row)))
}

/// Rows as given in a POST/PATCH body (JDK "Internal Orderrow Input").
fn parse_rows(store: &mut Store, order_id: i64, list: &[Value]) -> Result<Vec<OrderRow>, ApiError> {
    const ROW_FIELDS: &[&str] = &[
        "product_id",
        "product_name",
        "product_number",
        "count",
        "price",
        "discount",
        "tax",
        "unit",
        "weight",
        "memo",
        "package_id",
        "product_type",
        "attribute_combination_id",
        "auto_create_deposit_rows",
    ];
    if list.is_empty() {
        return Err(ApiError::invalid(
            "Property 'orderrows' must contain at least one row",
        ));
    }
    let mut rows = Vec::with_capacity(list.len());
    let mut paths = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        paths.push(format!("orderrows[{i}]."));
    }
    for (i, item) in list.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(ApiError::invalid(format!(
                "orderrows[{i}] must be an object"
            )));
        };
        let f = Fields::nested(map, &paths[i]);
        f.allow(ROW_FIELDS, &[])?;
        if f.has("attribute_combination_id") {
            return Err(ApiError::invalid(format!(
                "orderrows[{i}].attribute_combination_id: this shop has no attribute combinations"
            )));
        }
        f.boolean("auto_create_deposit_rows")?;
        let count = f.require("count", f.decimal("count")?)?;
        if count <= Decimal::ZERO {
            return Err(ApiError::invalid(format!(
                "orderrows[{i}].count must be greater than 0"
            )));
        }
        let product = match f.int("product_id", 1, i64::MAX)? {
            Some(id) => Some(store.products.get(&id).cloned().ok_or_else(|| {
                ApiError::invalid(format!("orderrows[{i}].product_id {id} does not exist"))
            })?),
            None => None,
        };
        let name = match (f.nonempty("product_name")?, &product) {
            (Some(n), _) => n,
            (None, Some(p)) => p.name.clone(),
            (None, None) => {
                return Err(ApiError::invalid(format!(
                    "orderrows[{i}] needs product_id or product_name"
                )))
            }
        };
        let price = match (f.non_negative("price")?, &product) {
            (Some(p), _) => p,
            (None, Some(p)) => p.price,
            (None, None) => {
                return Err(ApiError::invalid(format!(
                    "orderrows[{i}].price is required without product_id"
                )))
            }
        };
        let discount = f
            .non_negative("discount")?
            .or(product.as_ref().map(|p| p.discount))
            .unwrap_or_default();
        if discount > price {
            return Err(ApiError::invalid(format!(
                "orderrows[{i}].discount is larger than the price"
            )));
        }
        let tax = f
            .non_negative("tax")?
            .or(product.as_ref().map(|p| p.vatrate))
            .unwrap_or_default();
        rows.push(OrderRow {
            id: store.next_id(Table::OrderRows),
            order_id,
            product_type: f
                .nonempty("product_type")?
                .unwrap_or_else(|| "product".into()),
            product_name: name,
            product_number: f
                .string("product_number")?
                .or(product.as_ref().map(|p| p.productnumber.clone()))
                .unwrap_or_default(),
            sub_product_number: None,
            sub_sku_number: None,
            sub_ean_number: product.as_ref().and_then(|p| p.eannumber.clone()),
            product_id: product.as_ref().map(|p| p.id),
            count,
            price,
            discount,
            tax,
            purchase_price: product.as_ref().map(|p| p.purchaseprice),
            unit: f
                .string("unit")?
                .or(product.as_ref().map(|p| p.unit.clone()))
                .unwrap_or_default(),
            weight: f
                .non_negative("weight")?
                .or(product.as_ref().map(|p| p.weight))
                .unwrap_or_default(),
            memo: f.string("memo")?,
            package_id: f
                .int("package_id", 1, i64::MAX)?
                .or(product.as_ref().and_then(|p| p.package_id)),
            stock_location: product.as_ref().and_then(|p| p.stocklocation.clone()),
            supplier: None,
        });
    }
    Ok(rows)
}

/// Merge a partial `customer` object into the stored one. Unknown keys and
/// wrong types are rejected by the typed round trip.
fn merge_customer(current: &Customer, patch: &Map<String, Value>) -> Result<Customer, ApiError> {
    let mut value = serde_json::to_value(current).map_err(|e| ApiError::invalid(e.to_string()))?;
    let Value::Object(target) = &mut value else {
        return Err(ApiError::invalid("customer is not an object"));
    };
    for (key, v) in patch {
        match (target.get_mut(key), v) {
            (Some(Value::Object(inner)), Value::Object(sub)) => {
                for (k, x) in sub {
                    if !inner.contains_key(k) {
                        return Err(ApiError::invalid(format!(
                            "Property 'customer.{key}.{k}' is not writable"
                        )));
                    }
                    inner.insert(k.clone(), x.clone());
                }
            }
            (Some(Value::Object(_)), _) => {
                return Err(ApiError::invalid(format!(
                    "Property 'customer.{key}' must be an object"
                )))
            }
            (Some(slot), _) => *slot = v.clone(),
            (None, _) => {
                return Err(ApiError::invalid(format!(
                    "Property 'customer.{key}' is not writable"
                )))
            }
        }
    }
    serde_json::from_value(value).map_err(|e| ApiError::invalid(format!("customer: {e}")))
}

const PATCH_FIELDS: &[&str] = &[
    "status",
    "paid",
    "mail",
    "note",
    "track_and_trace_code",
    "track_and_trace_carrier",
    "invoicenumber",
    "total_shipping",
    "paymethod_costs",
    "extra_costs",
    "extra_costs_description",
    "deliver_date",
    "deliver_method",
    "reservationnumber",
    "customer",
    "orderrows",
    "taxes_included",
    "order_row_taxes_included",
    "shipping_taxes_included",
    "currency",
];

const READ_ONLY_HINTS: &[(&str, &str)] = &[
    ("is_paid", "the writable flag is 'paid'"),
    ("id", "read-only"),
    ("href", "read-only"),
    ("ordernumber", "read-only"),
    ("create_date", "read-only"),
    ("total_price", "derived from the rows"),
];

fn currency(f: &Fields) -> Result<Option<String>, ApiError> {
    match f.string("currency")? {
        Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => Ok(Some(c)),
        Some(c) => Err(ApiError::invalid(format!(
            "currency '{c}' is not an ISO 4217 code"
        ))),
        None => Ok(None),
    }
}

pub fn patch(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let body = ctx.object()?;
    let f = Fields::new(&body);
    f.allow(PATCH_FIELDS, READ_ONLY_HINTS)?;
    let id = ctx.id(0);

    let mut store = ctx.store();
    let before = store
        .orders
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("order", id))?;
    let mut o = before.clone();

    // Validate everything before changing anything: a 400 must leave the order untouched.
    if let Some(s) = f.int("status", 1, 14)? {
        o.status = Some(s);
    }
    if let Some(p) = f.boolean("paid")? {
        o.paid = p;
    }
    let mail = f.boolean("mail")?.unwrap_or(false);
    let note = f.string("note")?;
    if let Some(c) = f.string("track_and_trace_code")? {
        o.track_and_trace_code = c;
    }
    if let Some(c) = f.nullable_string("track_and_trace_carrier")? {
        o.track_and_trace_carrier = c;
    }
    if let Some(n) = f.nullable_int("invoicenumber", 1, i64::MAX)? {
        o.invoicenumber = n;
    }
    if let Some(d) = f.non_negative("total_shipping")? {
        o.total_shipping = d;
    }
    if let Some(d) = f.non_negative("paymethod_costs")? {
        o.paymethod_costs = d;
    }
    // Negative extra costs act as a discount (API notes §3.1).
    if let Some(d) = f.decimal("extra_costs")? {
        o.extra_costs = d;
    }
    if let Some(s) = f.string("extra_costs_description")? {
        o.extra_costs_description = s;
    }
    if let Some(d) = f.nullable_date("deliver_date")? {
        o.deliver_date = d;
    }
    if let Some(m) = f.nonempty("deliver_method")? {
        o.deliver_method = m;
    }
    if let Some(r) = f.nullable_string("reservationnumber")? {
        o.reservationnumber = r;
    }
    if let Some(b) = f.boolean("taxes_included")? {
        o.taxes_included = b;
    }
    if let Some(b) = f.boolean("order_row_taxes_included")? {
        o.order_row_taxes_included = b;
    }
    if let Some(b) = f.boolean("shipping_taxes_included")? {
        o.shipping_taxes_included = b;
    }
    if let Some(c) = currency(&f)? {
        o.currency = c;
    }
    if let Some(c) = f.object("customer")? {
        o.customer = merge_customer(&o.customer, c)?;
    }
    let new_rows = match f.array("orderrows")? {
        Some(list) => Some(parse_rows(&mut store, id, list)?),
        None => None,
    };

    if let Some(n) = note {
        o.notes.push(n);
    }
    if mail {
        o.mails_sent += 1;
    }
    if let Some(rows) = new_rows {
        for old in &o.row_ids {
            store.orderrows.remove(old);
        }
        o.row_ids = rows.iter().map(|r| r.id).collect();
        for r in rows {
            store.orderrows.insert(r.id, r);
        }
    }
    let changed = o != before;
    store.orders.insert(id, o.clone());

    if before.status != o.status {
        let payload = json!({
            "id": id,
            "status": o.status,
            "previous_status": before.status,
            "order_number": o.ordernumber,
        });
        emit(ctx.app, &mut store, Event::OrdersUpdatedStatus, payload);
    }
    if before.paid != o.paid {
        emit(
            ctx.app,
            &mut store,
            Event::OrdersUpdatedIsPaid,
            json!({ "id": id, "paid": o.paid }),
        );
    }
    if before.track_and_trace_code != o.track_and_trace_code
        || before.track_and_trace_carrier != o.track_and_trace_carrier
    {
        let payload = json!({
            "id": id,
            "track_and_trace_code": o.track_and_trace_code,
            "track_and_trace_carrier": o.track_and_trace_carrier,
        });
        emit(
            ctx.app,
            &mut store,
            Event::OrdersUpdatedTrackAndTrace,
            payload,
        );
    }
    if changed {
        emit(
            ctx.app,
            &mut store,
            Event::OrdersUpdated,
            json!({ "id": id }),
        );
    }
    Ok(Reply::NoContent)
}

const POST_FIELDS: &[&str] = &[
    "status",
    "paid",
    "is_completed",
    "user_id",
    "paymethod_id",
    "customer",
    "orderrows",
    "note",
    "total_shipping",
    "paymethod_costs",
    "extra_costs",
    "extra_costs_description",
    "deliver_date",
    "deliver_method",
    "reservationnumber",
    "taxes_included",
    "order_row_taxes_included",
    "shipping_taxes_included",
    "currency",
    "orderedinlng",
];

pub fn create(ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query.allow(&[])?;
    let body = ctx.object()?;
    let f = Fields::new(&body);
    f.allow(POST_FIELDS, READ_ONLY_HINTS)?;
    let mut store = ctx.store();

    let is_completed = f.boolean("is_completed")?.unwrap_or(true);
    let paymethod_id = match f.int("paymethod_id", 1, i64::MAX)? {
        Some(p) if store.paymethods.contains_key(&p) => p,
        Some(p) => {
            return Err(ApiError::invalid(format!(
                "paymethod_id {p} does not exist"
            )))
        }
        None => *store
            .paymethods
            .keys()
            .next()
            .ok_or_else(|| ApiError::invalid("paymethod_id is required"))?,
    };
    let user_id = match f.int("user_id", 1, i64::MAX)? {
        Some(u) if !store.users.contains_key(&u) => {
            return Err(ApiError::invalid(format!("user_id {u} does not exist")))
        }
        other => other,
    };
    let customer = match f.object("customer")? {
        Some(c) => merge_customer(&Customer::default(), c)?,
        None => match user_id.and_then(|u| store.users.get(&u)) {
            Some(user) => user.userinfo.clone(),
            None => {
                return Err(ApiError::invalid(
                    "Property 'customer' is required without user_id",
                ))
            }
        },
    };
    let list = f.require("orderrows", f.array("orderrows")?)?;
    let status = f.int("status", 1, 14)?;
    let paid = f.boolean("paid")?.unwrap_or(false);
    let taxes_included = f.boolean("taxes_included")?.unwrap_or(true);
    let deliver_date = f.nullable_date("deliver_date")?.flatten();
    let mut order = Order {
        id: 0,
        ordernumber_prefix: None,
        ordernumber: None,
        invoicenumber: None,
        transaction_id: None,
        create_date: Utc::now(),
        deliver_method: f
            .nonempty("deliver_method")?
            .unwrap_or_else(|| "shipping".into()),
        deliver_date,
        take_out_start: None,
        take_out_end: None,
        orderedinlng: f.nonempty("orderedinlng")?.unwrap_or_else(|| "nl".into()),
        status: None,
        is_completed,
        paid,
        paymethod_id,
        taxes_included,
        order_row_taxes_included: f
            .boolean("order_row_taxes_included")?
            .unwrap_or(taxes_included),
        shipping_taxes_included: f
            .boolean("shipping_taxes_included")?
            .unwrap_or(taxes_included),
        shipping_tax_percentage: Decimal::from(21),
        is_intra_community_order: false,
        total_shipping: f.non_negative("total_shipping")?.unwrap_or_default(),
        paymethod_costs: f.non_negative("paymethod_costs")?.unwrap_or_default(),
        extra_costs: f.decimal("extra_costs")?.unwrap_or_default(),
        extra_costs_description: f.string("extra_costs_description")?.unwrap_or_default(),
        currency: currency(&f)?.unwrap_or_else(|| "EUR".into()),
        track_and_trace_code: String::new(),
        track_and_trace_carrier: None,
        track_and_trace_deeplink: String::new(),
        reservationnumber: f.nullable_string("reservationnumber")?.flatten(),
        delivery_option: None,
        user_id,
        customer,
        row_ids: Vec::new(),
        notes: f.string("note")?.into_iter().collect(),
        mails_sent: 0,
    };
    // Rows get ids only once everything else has validated.
    let id = store.next_id(Table::Orders);
    let rows = parse_rows(&mut store, id, list)?;
    order.id = id;
    if is_completed {
        order.ordernumber_prefix = Some("FD".into());
        order.ordernumber = Some(store.next_ordernumber());
        order.status = Some(status.unwrap_or(1));
    }
    order.row_ids = rows.iter().map(|r| r.id).collect();
    for r in rows {
        store.orderrows.insert(r.id, r);
    }
    store.orders.insert(id, order);
    emit(
        ctx.app,
        &mut store,
        Event::OrdersCreated,
        json!({ "id": id }),
    );
    let rendered = store
        .orders
        .get(&id)
        .map(|o| render_order(ctx.app, &store, o))
        .unwrap_or(Value::Null);
    Ok(Reply::created(rendered))
}
