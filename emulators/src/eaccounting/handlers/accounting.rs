//! Accounts and vouchers, addressed within a fiscal year:
//! `/accounts/{fiscalyearId}[/{accountNumber}]`, `/vouchers/{fiscalyearId}[/{voucherId}]`.

use serde_json::Value;

use super::{ok, Answer, Call};
use crate::eaccounting::errors::ApiError;
use crate::eaccounting::listing::list;
use crate::eaccounting::model::schema;
use crate::eaccounting::request::{not_found, parse_guid};
use crate::eaccounting::resources::accounting::{
    account_not_found, build_account, find_account, voucher_in_year,
};
use crate::eaccounting::store::Store;

/// The fiscal year the path names must exist (3001, 404).
fn year(store: &Store, fy: &str) -> Result<(), ApiError> {
    parse_guid(fy)?;
    match store.by_id("fiscalyears", fy) {
        Some(_) => Ok(()),
        None => Err(not_found("fiscalyears", fy)),
    }
}

fn account_index(store: &Store, fy: &str, number: &str) -> Result<usize, ApiError> {
    find_account(store, fy, number).ok_or_else(|| account_not_found(number, false))
}

pub(super) fn accounts_in_year(call: Call, fy: &str) -> Result<Answer, ApiError> {
    year(call.store, fy)?;
    let fy_uuid = uuid::Uuid::parse_str(fy).ok();
    let rows: Vec<Value> = call
        .store
        .all("accounts")
        .iter()
        .filter(|a| {
            a["FiscalYearId"]
                .as_str()
                .and_then(|x| uuid::Uuid::parse_str(x).ok())
                == fy_uuid
        })
        .cloned()
        .collect();
    ok(list(schema("AccountApi"), rows, &call.params, call.now)?)
}

pub(super) fn account(call: Call, fy: &str, number: &str) -> Result<Answer, ApiError> {
    year(call.store, fy)?;
    let index = account_index(call.store, fy, number)?;
    ok(call.store.all("accounts")[index].clone())
}

pub(super) fn replace_account(call: Call, fy: &str, number: &str) -> Result<Answer, ApiError> {
    parse_guid(fy)?;
    let body = call.json()?;
    year(call.store, fy)?;
    let index = account_index(call.store, fy, number)?;
    let updated = build_account(call.store, &body, Some((fy, number)), call.now)?;
    call.store.replace("accounts", index, updated.clone());
    ok(updated)
}

pub(super) fn vouchers_in_year(call: Call, fy: &str) -> Result<Answer, ApiError> {
    year(call.store, fy)?;
    let store = &*call.store;
    let rows: Vec<Value> = store
        .all("vouchers")
        .iter()
        .filter(|v| voucher_in_year(store, v, fy))
        .cloned()
        .collect();
    ok(list(schema("VoucherApi"), rows, &call.params, call.now)?)
}

pub(super) fn voucher(call: Call, fy: &str, id: &str) -> Result<Answer, ApiError> {
    parse_guid(fy)?;
    parse_guid(id)?;
    year(call.store, fy)?;
    let store = &*call.store;
    let found = store
        .by_id("vouchers", id)
        .filter(|v| voucher_in_year(store, v, fy))
        .cloned();
    ok(found.ok_or_else(|| not_found("vouchers", id))?)
}
