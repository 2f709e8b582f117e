//! `POST /customerinvoicedrafts/{id}/convert` and `POST /orders/{id}/convert`:
//! book an invoice from a draft (which goes away) or from an order (which
//! becomes invoiced).

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{invoiced, Answer, Call};
use crate::eaccounting::errors::ApiError;
use crate::eaccounting::request::{flag, parse_body};
use crate::eaccounting::resources::{book_from, check_expected_totals, Doc};
use crate::eaccounting::values::format_utc;

pub(super) fn convert(call: Call, name: &'static str, id: &str) -> Result<Answer, ApiError> {
    let index = call.position(name, id)?;
    let source = call.store.all(name)[index].clone();
    match name {
        "customerinvoicedrafts" => draft(call, index, source),
        _ => order(call, index, source),
    }
}

/// 201 with the invoice; the caller may send the totals it expects, and
/// may keep the draft's date (`keepOriginalDraftDate`).
fn draft(call: Call, index: usize, source: Value) -> Result<Answer, ApiError> {
    let expected = parse_body(call.headers, call.body, false)?;
    if !expected.is_null() {
        check_expected_totals(&source, &expected)?;
    }
    let keep_date = flag(
        &call.params,
        "keeporiginaldraftdate",
        "keepOriginalDraftDate",
    )?;
    let invoice = book_from(
        call.store,
        &source,
        Doc::Draft,
        keep_date == Some(true),
        call.now,
    )?;
    call.store.remove("customerinvoicedrafts", index);
    call.store.push("customerinvoices", invoice.clone());
    Ok(Answer::Json(StatusCode::CREATED, invoice))
}

/// 200 with the invoice (notes §2, unlike a draft's 201); the order is
/// invoiced from then on.
fn order(call: Call, index: usize, source: Value) -> Result<Answer, ApiError> {
    if invoiced(&source) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            4002,
            "CanNotBeCreatedOrUpdated - the order is already invoiced.",
        ));
    }
    let invoice = book_from(call.store, &source, Doc::Order, false, call.now)?;
    let mut order = source;
    order["Status"] = json!(4);
    order["ModifiedUtc"] = json!(format_utc(call.now));
    call.store.replace("orders", index, order);
    call.store.push("customerinvoices", invoice.clone());
    Ok(Answer::Json(StatusCode::OK, invoice))
}
