//! Bookkeeping: fiscal years, the chart of accounts per year, and manual
//! vouchers whose rows must balance (notes §3.3).

use axum::http::StatusCode;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::{checked, d, new_id, reject_unbacked_refs, require_ref, s, ROW_UNBACKED};
use crate::eaccounting::errors::ApiError;
use crate::eaccounting::model::{schema, Problems};
use crate::eaccounting::store::Store;
use crate::eaccounting::values::{decimal_of, format_date, format_utc, money, parse_datetime};

/// A fiscal year's first and last day.
fn period(fy: &Value) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let day = |k: &str| fy[k].as_str().and_then(parse_datetime);
    Some((day("StartDate")?, day("EndDate")?))
}

fn fiscal_year_containing(store: &Store, date: DateTime<Utc>) -> Option<&Value> {
    store
        .all("fiscalyears")
        .iter()
        .find(|fy| period(fy).is_some_and(|(s, e)| s <= date && date <= e))
}

/// A missing fiscal year (3001) or account (3002): 404 when the URL names
/// it, 400 when the body refers to it.
fn missing(code: u32, in_body: bool, message: String) -> ApiError {
    let status = match in_body {
        true => StatusCode::BAD_REQUEST,
        false => StatusCode::NOT_FOUND,
    };
    ApiError::new(status, code, message)
}

pub fn fiscal_year_not_found(id: &str, in_body: bool) -> ApiError {
    let message = format!("FiscalYearDoesNotExist - no fiscal year with id '{id}'.");
    missing(3001, in_body, message)
}

pub fn account_not_found(number: &str, in_body: bool) -> ApiError {
    let message =
        format!("AccountNotFound - account '{number}' does not exist in this fiscal year.");
    missing(3002, in_body, message)
}

pub(super) fn build_fiscal_year(
    store: &mut Store,
    body: &Value,
    keep_id: Option<String>,
) -> Result<Value, ApiError> {
    let model = schema("FiscalYearApi");
    let mut m = checked(model, body)?;
    let day = |k: &str| s(&m, k).and_then(parse_datetime).unwrap_or_default();
    let (start, end) = (day("StartDate"), day("EndDate"));
    let invalid = |what: &str| ApiError::validation(format!("DataModelValidationError - {what}"));
    if end <= start {
        return Err(invalid("EndDate: must be after StartDate."));
    }
    if end - start > ChronoDuration::days(18 * 31) {
        return Err(invalid("EndDate: a fiscal year is at most 18 months."));
    }
    let overlaps = store
        .all("fiscalyears")
        .iter()
        .filter_map(period)
        .any(|(s2, e2)| start <= e2 && s2 <= end);
    if overlaps {
        return Err(invalid(
            "StartDate: the period overlaps an existing fiscal year.",
        ));
    }
    // A new year is kept the way the last one was.
    let method = store
        .all("fiscalyears")
        .last()
        .map_or(json!(0), |fy| fy["BookkeepingMethod"].clone());
    m.insert("Id".into(), json!(keep_id.unwrap_or_else(new_id)));
    m.insert("IsLockedForAccounting".into(), json!(false));
    m.insert("BookkeepingMethod".into(), method);
    Ok(model.complete(m))
}

/// `existing`: (fiscal year id, number) of the account a PUT replaces.
pub fn build_account(
    store: &Store,
    body: &Value,
    existing: Option<(&str, &str)>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let model = schema("AccountApi");
    let mut m = checked(model, body)?;
    let number = s(&m, "Number").unwrap_or_default().to_string();
    let fy = s(&m, "FiscalYearId").unwrap_or_default().to_string();
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) || number.len() > 8 {
        return Err(ApiError::validation(format!("DataModelValidationError - Number: '{number}' is not a valid account number (1-8 digits).")));
    }
    let same_year =
        |a: &str, b: &str| uuid::Uuid::parse_str(a).ok() == uuid::Uuid::parse_str(b).ok();
    if existing
        .is_some_and(|(path_fy, path_number)| number != path_number || !same_year(path_fy, &fy))
    {
        return Err(ApiError::validation("DataModelValidationError - Number/FiscalYearId: must match the account addressed by the URL."));
    }
    if store.by_id("fiscalyears", &fy).is_none() {
        return Err(fiscal_year_not_found(&fy, true));
    }
    let vat = require_ref(store, "vatcodes", "VatCodeId", s(&m, "VatCodeId"))?;
    if existing.is_none() && find_account(store, &fy, &number).is_some() {
        return Err(ApiError::conflict(format!(
            "Conflict - Account {number} already exists in this fiscal year."
        )));
    }
    let fy = uuid::Uuid::parse_str(&fy).map_or(fy, |u| u.to_string());
    m.insert("FiscalYearId".into(), json!(fy));
    m.insert(
        "VatCodeDescription".into(),
        vat.map_or(Value::Null, |v| v["Description"].clone()),
    );
    m.insert("ModifiedUtc".into(), json!(format_utc(now)));
    let created = existing.and_then(|(fy, number)| {
        let index = find_account(store, fy, number)?;
        Some(store.all("accounts")[index]["CreatedUtc"].clone())
    });
    m.insert(
        "CreatedUtc".into(),
        created
            .filter(|c| !c.is_null())
            .unwrap_or(json!(format_utc(now))),
    );
    // Projects and cost centres are allowed, manual booking is not blocked.
    for (k, default) in [
        ("IsProjectAllowed", true),
        ("IsCostCenterAllowed", true),
        ("IsBlockedForManualBooking", false),
    ] {
        m.entry(k).or_insert(json!(default));
    }
    Ok(model.complete(m))
}

pub fn find_account(store: &Store, fiscal_year_id: &str, number: &str) -> Option<usize> {
    let fy = uuid::Uuid::parse_str(fiscal_year_id).ok()?;
    store.all("accounts").iter().position(|a| {
        a["Number"].as_str() == Some(number)
            && a["FiscalYearId"]
                .as_str()
                .and_then(|x| uuid::Uuid::parse_str(x).ok())
                == Some(fy)
    })
}

/// The open fiscal year a voucher dated `date` is booked in.
fn open_year_of(store: &Store, date: DateTime<Utc>) -> Result<Value, ApiError> {
    let fy = fiscal_year_containing(store, date)
        .cloned()
        .ok_or_else(|| {
            let day = format_date(date);
            let message = format!("FiscalYearDoesNotExist - no fiscal year contains {day}.");
            missing(3001, true, message)
        })?;
    match fy["IsLockedForAccounting"] == json!(true) {
        true => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            4026,
            "The voucher date is in a locked bookkeeping period.",
        )),
        false => Ok(fy),
    }
}

pub(super) fn build_voucher(
    store: &mut Store,
    body: &Value,
    keep_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let model = schema("VoucherApi");
    let mut m = checked(model, body)?;
    let date = s(&m, "VoucherDate")
        .and_then(parse_datetime)
        .unwrap_or_default();
    let fy = open_year_of(store, date)?;
    let fy_id = fy["Id"].as_str().unwrap_or_default();
    let rows = m
        .get("Rows")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut p = Problems::default();
    if rows.len() < 2 {
        p.add("", "Rows", "a voucher needs at least two rows.");
    }
    let (mut debit, mut credit) = (Decimal::ZERO, Decimal::ZERO);
    let mut out_rows = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let r = row.as_object().cloned().unwrap_or_default();
        debit += d(&r, "DebitAmount").unwrap_or_default();
        credit += d(&r, "CreditAmount").unwrap_or_default();
        out_rows.push(voucher_row(
            store,
            fy_id,
            r,
            &format!("Rows[{i}]."),
            &mut p,
        )?);
    }
    if debit != credit {
        p.add(
            "",
            "Rows",
            format!("the voucher is not balanced: debit {debit}, credit {credit}."),
        );
    }
    if !p.is_empty() {
        return Err(p.into_error());
    }
    let n = store.next_voucher_number;
    store.next_voucher_number += 1;
    m.insert("Id".into(), json!(keep_id.unwrap_or_else(new_id)));
    m.insert("Rows".into(), Value::Array(out_rows));
    // [I] useDefaultNumberSeries is not emulated: every voucher is numbered
    // in the default series, whatever NumberSeries says.
    m.insert("NumberSeries".into(), json!("A"));
    m.insert("NumberAndNumberSeries".into(), json!(format!("A{n}")));
    m.entry("VoucherType").or_insert(json!(2));
    m.insert("ModifiedUtc".into(), json!(format_utc(now)));
    Ok(model.complete(m))
}

/// One voucher row: debit or credit, on an active account of the year.
fn voucher_row(
    store: &Store,
    fy_id: &str,
    mut r: Map<String, Value>,
    path: &str,
    p: &mut Problems,
) -> Result<Value, ApiError> {
    let dr = d(&r, "DebitAmount").unwrap_or_default();
    let cr = d(&r, "CreditAmount").unwrap_or_default();
    if dr.is_zero() == cr.is_zero() {
        p.add(
            path,
            "DebitAmount",
            "exactly one of DebitAmount and CreditAmount must be non-zero.",
        );
    }
    let number = r
        .get("AccountNumber")
        .and_then(Value::as_i64)
        .unwrap_or_default()
        .to_string();
    let Some(index) = find_account(store, fy_id, &number) else {
        return Err(account_not_found(&number, true));
    };
    let account = &store.all("accounts")[index];
    if account["IsActive"] == json!(false) {
        p.add(
            path,
            "AccountNumber",
            format!("account {number} is inactive."),
        );
    }
    let vat = require_ref(
        store,
        "vatcodes",
        &format!("{path}VatCodeId"),
        s(&r, "VatCodeId"),
    )?;
    reject_unbacked_refs(&r, path, ROW_UNBACKED)?;
    r.insert("AccountDescription".into(), account["Name"].clone());
    r.insert("DebitAmount".into(), money(dr));
    r.insert("CreditAmount".into(), money(cr));
    if let Some(v) = vat {
        let percent = decimal_of(&v["VatRate"]).unwrap_or_default() * Decimal::ONE_HUNDRED;
        let code = v["Code"].as_str().unwrap_or("");
        r.insert(
            "VatCodeAndPercent".into(),
            json!(format!("{code} {percent}%")),
        );
    }
    Ok(schema("VoucherRowApi").complete(r))
}

pub fn voucher_in_year(store: &Store, voucher: &Value, fiscal_year_id: &str) -> bool {
    let date = voucher["VoucherDate"].as_str().and_then(parse_datetime);
    let fy = store.by_id("fiscalyears", fiscal_year_id).and_then(period);
    matches!((date, fy), (Some(date), Some((s, e))) if s <= date && date <= e)
}
