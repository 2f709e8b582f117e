//! What each route does to the company's data, once the request has been
//! authenticated, counted and allowed.

mod accounting;
mod convert;

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::errors::ApiError;
use super::listing::list;
use super::request::{flag, not_found, param, parse_body, parse_guid};
use super::resources;
use super::routes::Route;
use super::store::{schema_of, Store};
use super::values::parse_datetime;

/// One authorised request, with the locked store.
pub(crate) struct Call<'a> {
    pub store: &'a mut Store,
    pub params: Vec<(String, String)>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub now: DateTime<Utc>,
}

impl Call<'_> {
    /// The body, which must be JSON.
    fn json(&self) -> Result<Value, ApiError> {
        parse_body(self.headers, self.body, true)
    }

    /// Where the entity with GUID `id` sits in `collection`.
    fn position(&self, collection: &str, id: &str) -> Result<usize, ApiError> {
        parse_guid(id)?;
        self.store
            .position(collection, id)
            .ok_or_else(|| not_found(collection, id))
    }
}

/// A success: a JSON body, or none (DELETE).
pub(crate) enum Answer {
    Json(StatusCode, Value),
    Empty(StatusCode),
}

fn ok(value: Value) -> Result<Answer, ApiError> {
    Ok(Answer::Json(StatusCode::OK, value))
}

pub(crate) fn handle(route: Route, call: Call) -> Result<Answer, ApiError> {
    match route {
        Route::CompanySettings => ok(company_settings(call.store)),
        Route::List(name) => all(call, name),
        Route::Get(name, id) => one(call, name, &id),
        Route::Create(name) => create(call, name),
        Route::Update(name, id) => update(call, name, &id),
        Route::Delete(name, id) => delete(call, name, &id),
        Route::Convert(name, id) => convert::convert(call, name, &id),
        Route::AccountsInYear(fy) => accounting::accounts_in_year(call, &fy),
        Route::Account(fy, number) => accounting::account(call, &fy, &number),
        Route::AccountPut(fy, number) => accounting::replace_account(call, &fy, &number),
        Route::VouchersInYear(fy) => accounting::vouchers_in_year(call, &fy),
        Route::Voucher(fy, id) => accounting::voucher(call, &fy, &id),
    }
}

fn all(call: Call, name: &'static str) -> Result<Answer, ApiError> {
    let mut rows = call.store.all(name).to_vec();
    // Booked invoices can be listed by their last change (notes §2).
    if let Some(since) =
        param(&call.params, "modifiedsinceutc").filter(|_| name == "customerinvoices")
    {
        let since = parse_datetime(since).ok_or_else(|| {
            ApiError::validation(format!(
                "modifiedSinceUtc: '{since}' is not a valid date-time."
            ))
        })?;
        rows.retain(|r| {
            r["ModifiedUtc"]
                .as_str()
                .and_then(parse_datetime)
                .is_some_and(|m| m >= since)
        });
    }
    let schema = schema_of(name).ok_or_else(|| not_found(name, ""))?;
    ok(list(schema, rows, &call.params, call.now)?)
}

/// Countries are found by their code, case-insensitively; the rest by GUID.
fn one(call: Call, name: &'static str, id: &str) -> Result<Answer, ApiError> {
    let found = if name == "countries" {
        call.store
            .all(name)
            .iter()
            .find(|c| {
                c["Code"]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case(id))
            })
            .cloned()
    } else {
        parse_guid(id)?;
        call.store.by_id(name, id).cloned()
    };
    ok(found.ok_or_else(|| not_found(name, id))?)
}

fn create(call: Call, name: &'static str) -> Result<Answer, ApiError> {
    let body = call.json()?;
    if name == "accounts" {
        flag(
            &call.params,
            "usedefaultaccounttype",
            "useDefaultAccountType",
        )?;
    }
    let created = resources::build(call.store, name, &body, None, None, call.now)?;
    call.store.push(name, created.clone());
    Ok(Answer::Json(StatusCode::CREATED, created))
}

/// An invoiced order (status 4) can no longer change.
fn invoiced(order: &Value) -> bool {
    order["Status"] == json!(4)
}

/// PUT replaces the whole entity (notes §6).
fn update(call: Call, name: &'static str, id: &str) -> Result<Answer, ApiError> {
    parse_guid(id)?;
    let body = call.json()?;
    let index = call.position(name, id)?;
    let existing = call.store.all(name)[index].clone();
    if name == "orders" && invoiced(&existing) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            4002,
            "CanNotBeCreatedOrUpdated - an invoiced order cannot be changed.",
        ));
    }
    let updated = resources::build(call.store, name, &body, Some(&existing), None, call.now)?;
    call.store.replace(name, index, updated.clone());
    ok(updated)
}

fn delete(call: Call, name: &'static str, id: &str) -> Result<Answer, ApiError> {
    let index = call.position(name, id)?;
    let conflict = |why: &str| {
        ApiError::new(
            StatusCode::CONFLICT,
            4001,
            format!("CanNotBeDeleted - {why}"),
        )
    };
    if name == "customers" && used_on_documents(call.store, id) {
        return Err(conflict("the customer is used on sales documents."));
    }
    if name == "articlelabels" && resources::label_in_use(call.store, id) {
        return Err(conflict("the label is set on articles."));
    }
    if name == "orders" && invoiced(&call.store.all(name)[index]) {
        return Err(conflict("the order has been invoiced."));
    }
    call.store.remove(name, index);
    Ok(Answer::Empty(StatusCode::OK))
}

/// The company's settings, with the numbers it will hand out next.
fn company_settings(store: &Store) -> Value {
    let mut company = store.company.clone();
    for (field, next) in [
        ("NextCustomerNumber", store.next_customer_number as i64),
        ("NextCustomerInvoiceNumber", store.next_invoice_number),
        ("NextOrderNumber", store.next_order_number),
        ("NextQuoteNumber", store.next_quote_number),
    ] {
        company.insert(field.into(), json!(next));
    }
    crate::eaccounting::model::schema("CompanySettingsApi").complete(company)
}

fn used_on_documents(store: &Store, customer: &str) -> bool {
    let id = uuid::Uuid::parse_str(customer).ok();
    [
        "quotes",
        "orders",
        "customerinvoicedrafts",
        "customerinvoices",
    ]
    .iter()
    .flat_map(|c| store.all(c))
    .any(|d| {
        d["CustomerId"]
            .as_str()
            .and_then(|x| uuid::Uuid::parse_str(x).ok())
            == id
    })
}
