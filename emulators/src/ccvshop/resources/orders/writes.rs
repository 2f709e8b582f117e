//! Writing orders: `PATCH /orders/{id}` (status, payment, track & trace,
//! the customer, all rows at once) and `POST /orders`. Each change fires
//! the webhook events a real shop fires for it.

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::super::orderrows;
use super::super::{found, id_payload, Render};
use crate::ccvshop::app::{Ctx, Reply};
use crate::ccvshop::errors::ApiError;
use crate::ccvshop::events::{emit, Event};
use crate::ccvshop::input::Body;
use crate::ccvshop::model::{resource, Method};
use crate::ccvshop::store::{Order, OrderRow, Store, Table};

/// ISO 4217: three capital letters.
fn check_currency(code: &str) -> Result<(), ApiError> {
    match code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        true => Ok(()),
        false => Err(ApiError::invalid(format!(
            "currency '{code}' is not an ISO 4217 code"
        ))),
    }
}

/// A partial customer merged into the stored one: sent keys replace,
/// sent addresses are merged key by key. The model has checked both.
fn merge(customer: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match (customer.get_mut(key), value) {
            (Some(Value::Object(inner)), Value::Object(sub)) => {
                inner.extend(sub.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ => {
                customer.insert(key.clone(), value.clone());
            }
        }
    }
}

/// What a write sends besides the stored fields: a note to add, whether to
/// mail the customer, a customer patch, and the new rows.
fn extras(o: &mut Order, body: &Body) -> Result<(), ApiError> {
    if body.has("currency") {
        check_currency(&o.currency)?;
    }
    if let Some(customer) = body.object("customer") {
        merge(&mut o.customer, customer);
    }
    o.notes.extend(body.string("note"));
    if body.bool("mail") == Some(true) {
        o.mails_sent += 1;
    }
    Ok(())
}

/// `o`'s rows become `rows`; the old rows are gone.
fn replace_rows(store: &mut Store, o: &mut Order, rows: Vec<OrderRow>) {
    for old in &o.row_ids {
        store.orderrows.remove(old);
    }
    o.row_ids = rows.iter().map(|r| r.id).collect();
    store.orderrows.extend(rows.into_iter().map(|r| (r.id, r)));
}

pub(super) fn change(ctx: &Ctx) -> Result<Reply, ApiError> {
    let checked = ctx.write(resource("orders"), Method::Patch)?;
    let body = Body(&checked);
    let id = ctx.id(0);
    let mut store = ctx.store();
    let before = found::<Order>(&store, id)?.clone();
    let mut o = resource("orders").apply(&checked, &before)?;
    extras(&mut o, &body)?;
    if let Some(list) = body.list("orderrows") {
        let rows = orderrows::from_input(&mut store, id, list)?;
        replace_rows(&mut store, &mut o, rows);
    }
    let events = changes(&before, &o);
    store.orders.insert(id, o);
    for (event, payload) in events {
        emit(ctx.app, &mut store, event, payload);
    }
    Ok(Reply::NoContent)
}

/// The events a change from `before` to `after` fires, in the order a
/// shop sends them; `orders.updated` comes with any change at all.
fn changes(before: &Order, after: &Order) -> Vec<(Event, Value)> {
    let id = after.id;
    let mut events = Vec::new();
    if before.status != after.status {
        let payload = json!({
            "id": id,
            "status": after.status,
            "previous_status": before.status,
            "order_number": after.ordernumber,
        });
        events.push((Event::OrdersUpdatedStatus, payload));
    }
    if before.paid != after.paid {
        events.push((
            Event::OrdersUpdatedIsPaid,
            json!({ "id": id, "paid": after.paid }),
        ));
    }
    if before.track_and_trace_code != after.track_and_trace_code
        || before.track_and_trace_carrier != after.track_and_trace_carrier
    {
        let payload = json!({
            "id": id,
            "track_and_trace_code": after.track_and_trace_code,
            "track_and_trace_carrier": after.track_and_trace_carrier,
        });
        events.push((Event::OrdersUpdatedTrackAndTrace, payload));
    }
    if before != after {
        events.push((Event::OrdersUpdated, id_payload(id)));
    }
    events
}

/// The payment method a new order names, or the shop's first one.
fn paymethod(store: &Store, body: &Body) -> Result<i64, ApiError> {
    match body.int("paymethod_id") {
        Some(p) if store.paymethods.contains_key(&p) => Ok(p),
        Some(p) => Err(ApiError::invalid(format!(
            "paymethod_id {p} does not exist"
        ))),
        None => store
            .paymethods
            .keys()
            .next()
            .copied()
            .ok_or_else(|| ApiError::invalid("paymethod_id is required")),
    }
}

/// The customer of a new order: as sent, or else the registered user's info.
fn customer(store: &Store, body: &Body) -> Result<Map<String, Value>, ApiError> {
    let user = match body.int("user_id") {
        Some(u) => Some(
            store
                .users
                .get(&u)
                .ok_or_else(|| ApiError::invalid(format!("user_id {u} does not exist")))?,
        ),
        None => None,
    };
    match (body.object("customer"), user) {
        (Some(sent), _) => Ok(sent.clone()),
        (None, Some(user)) => Ok(user.userinfo.clone()),
        (None, None) => Err(ApiError::invalid(
            "Property 'customer' is required without user_id",
        )),
    }
}

/// A new order before the write is stored in it: the shop's defaults.
/// The row and shipping tax flags follow `taxes_included` unless sent.
fn blank(paymethod_id: i64, customer: Map<String, Value>, taxes_included: bool) -> Order {
    Order {
        id: 0,
        ordernumber_prefix: None,
        ordernumber: None,
        invoicenumber: None,
        transaction_id: None,
        create_date: Utc::now(),
        deliver_method: "shipping".into(),
        deliver_date: None,
        take_out_start: None,
        take_out_end: None,
        orderedinlng: "nl".into(),
        status: None,
        is_completed: true,
        paid: false,
        paymethod_id,
        taxes_included,
        order_row_taxes_included: taxes_included,
        shipping_taxes_included: taxes_included,
        shipping_tax_percentage: Decimal::from(21),
        is_intra_community_order: false,
        total_shipping: Decimal::ZERO,
        paymethod_costs: Decimal::ZERO,
        extra_costs: Decimal::ZERO,
        extra_costs_description: String::new(),
        discountcoupon: None,
        credit_point_discount: Decimal::ZERO,
        order_discount: Decimal::ZERO,
        currency: "EUR".into(),
        track_and_trace_code: String::new(),
        track_and_trace_carrier: None,
        track_and_trace_deeplink: String::new(),
        reservationnumber: None,
        delivery_option: None,
        user_id: None,
        customer,
        row_ids: Vec::new(),
        notes: Vec::new(),
        mails_sent: 0,
    }
}

pub(super) fn create(ctx: &Ctx) -> Result<Reply, ApiError> {
    let checked = ctx.write(resource("orders"), Method::Post)?;
    let body = Body(&checked);
    let mut store = ctx.store();
    let paymethod_id = paymethod(&store, &body)?;
    let customer = customer(&store, &body)?;
    let list = body
        .list("orderrows")
        .ok_or_else(|| ApiError::invalid("Property 'orderrows' is required"))?;
    let taxes_included = body.bool("taxes_included").unwrap_or(true);
    let mut order =
        resource("orders").apply(&checked, &blank(paymethod_id, customer, taxes_included))?;
    if body.has("currency") {
        check_currency(&order.currency)?;
    }
    order.notes.extend(body.string("note"));
    // Rows get ids only once everything else has validated.
    order.id = store.next_id(Table::Orders);
    let rows = orderrows::from_input(&mut store, order.id, list)?;
    // Only a completed order has a number and a status.
    order.status = match order.is_completed {
        true => Some(order.status.unwrap_or(1)),
        false => None,
    };
    if order.is_completed {
        order.ordernumber_prefix = Some("FD".into());
        order.ordernumber = Some(store.next_ordernumber());
    }
    replace_rows(&mut store, &mut order, rows);
    let id = order.id;
    let rendered = order.render(ctx.app, &store);
    store.orders.insert(id, order);
    emit(ctx.app, &mut store, Event::OrdersCreated, id_payload(id));
    Ok(Reply::created(rendered))
}
