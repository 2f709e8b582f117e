//! Booking: a draft or an order becomes a booked invoice, with its own
//! number and payment reference.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::documents::{self, Doc, DELIVERY_ADDRESS, INVOICE_ADDRESS};
use super::truncate_utf16;
use crate::eaccounting::errors::ApiError;
use crate::eaccounting::model::Problems;
use crate::eaccounting::store::Store;
use crate::eaccounting::values::{decimal_of, round2};

/// What a booked invoice takes over from its source document.
const HEADER: &[&str] = &[
    "CustomerId",
    "EuThirdParty",
    "IsCreditInvoice",
    "RotReducedInvoicingType",
    "RotReducedInvoicingPropertyName",
    "RotReducedInvoicingOrgNumber",
    "RotReducedInvoicingAmount",
    "RotPropertyType",
    "Persons",
    "DeliveryDate",
    "InvoiceDate",
    "DueDate",
    "ElectronicReference",
];

/// What each invoice row takes over from its source row.
const ROW: &[&str] = &[
    "ArticleId",
    "LineNumber",
    "IsTextRow",
    "Text",
    "UnitPrice",
    "DiscountPercentage",
    "Quantity",
    "IsWorkCost",
    "UnitId",
    "WorkCostType",
    "WorkHours",
    "MaterialCosts",
];

/// The non-null `keys` of `source`.
fn taken(source: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| {
            let v = source.get(*k).filter(|v| !v.is_null())?;
            Some((k.to_string(), v.clone()))
        })
        .collect()
}

/// A 16-digit Dutch-style payment reference: weighted mod-11 check digit
/// followed by the invoice number, so it is stable and unique per invoice.
pub(super) fn payment_reference(invoice_number: i64) -> String {
    let body = format!("{:015}", invoice_number.max(0));
    let weights = [2, 4, 8, 5, 10, 9, 7, 3, 6, 1];
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).unwrap_or(0) * weights[i % weights.len()])
        .sum();
    let check = match 11 - (sum % 11) {
        11 => 0,
        10 => 1,
        c => c,
    };
    format!("{check}{body}")
}

/// Turns a stored draft or order into a booked invoice. The source's
/// already-validated rows are re-priced with the invoice row shape.
/// Booking dates the invoice today (emulator clock) unless
/// `keep_original_date` (the draft convert's `keepOriginalDraftDate`).
pub fn book_from(
    store: &mut Store,
    source: &Value,
    from: Doc,
    keep_original_date: bool,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let mut body = taken(source, HEADER);
    // References are ≤100 on drafts but ≤50 on booked invoices [I: the
    // server is assumed to truncate rather than refuse the conversion].
    for k in ["YourReference", "OurReference"] {
        if let Some(v) = source.get(k).and_then(Value::as_str) {
            body.insert(k.into(), json!(truncate_utf16(v, 50)));
        }
    }
    let rows = source["Rows"].as_array().map_or_else(Vec::new, |rows| {
        rows.iter().map(|r| Value::Object(taken(r, ROW))).collect()
    });
    body.insert("Rows".into(), Value::Array(rows));
    body.entry("EuThirdParty").or_insert(json!(false));
    body.entry("RotReducedInvoicingType").or_insert(json!(0));
    if from == Doc::Order || !keep_original_date {
        body.remove("InvoiceDate");
        body.remove("DueDate");
    }
    let mut invoice = documents::build(store, Doc::Invoice, &Value::Object(body), None, None, now)?;
    let link = match from {
        Doc::Draft => "CreatedFromDraftId",
        _ => "CreatedFromOrderId",
    };
    invoice[link] = source["Id"].clone();
    keep_row_details(&mut invoice, source);
    // The invoice keeps the source document's address, not the customer's current one.
    for (field, _) in INVOICE_ADDRESS.iter().chain(DELIVERY_ADDRESS) {
        if let Some(v) = source.get(*field).filter(|v| !v.is_null()) {
            invoice[*field] = v.clone();
        }
    }
    Ok(invoice)
}

/// Row fields a client cannot write on an invoice (read-only, 2018) but
/// that booking keeps from the source rows, in order.
const KEPT_ON_ROWS: &[&str] = &[
    "LineNumber",
    "IsWorkCost",
    "UnitId",
    "UnitAbbreviation",
    "UnitAbbreviationEnglish",
];

fn keep_row_details(invoice: &mut Value, source: &Value) {
    let sources = source["Rows"].as_array().cloned().unwrap_or_default();
    let Some(rows) = invoice["Rows"].as_array_mut() else {
        return;
    };
    for (row, from) in rows.iter_mut().zip(&sources) {
        for k in KEPT_ON_ROWS {
            if let Some(v) = from.get(*k).filter(|v| !v.is_null()) {
                row[*k] = v.clone();
            }
        }
    }
}

/// The optional CustomerInvoiceDraftValidationApi body of a draft convert:
/// the caller's expected totals must match the server's, or nothing is booked.
pub fn check_expected_totals(draft: &Value, expected: &Value) -> Result<(), ApiError> {
    let Some(e) = expected.as_object() else {
        return Err(ApiError::validation(
            "DataModelValidationError - the convert body must be a JSON object.",
        ));
    };
    let mut p = Problems::default();
    for (theirs, ours) in [
        ("TotalAmountInvoiceCurrency", "TotalAmount"),
        ("TotalVatAmountInvoiceCurrency", "TotalVatAmount"),
        ("TotalRoundingsInvoiceCurrency", "TotalRoundings"),
    ] {
        if let Some(v) = e.get(theirs).filter(|v| !v.is_null()) {
            let want = decimal_of(v);
            if want.is_none() || want != decimal_of(&draft[ours]) {
                p.add(
                    "",
                    theirs,
                    format!("expected {v} but the draft has {}.", draft[ours]),
                );
            }
        }
    }
    for (i, r) in e
        .get("Rows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        check_expected_row(draft, r, &format!("Rows[{i}]."), &mut p);
    }
    match p.is_empty() {
        true => Ok(()),
        false => Err(p.into_error()),
    }
}

/// One expected row, matched to the draft's by line number.
fn check_expected_row(draft: &Value, expected: &Value, path: &str, p: &mut Problems) {
    let line = &expected["LineNumber"];
    let Some(row) = draft["Rows"]
        .as_array()
        .and_then(|rs| rs.iter().find(|x| &x["LineNumber"] == line))
    else {
        p.add(
            path,
            "LineNumber",
            format!("no draft row has line number {line}."),
        );
        return;
    };
    let Some(v) = expected
        .get("TotalAmountNoVatInvoiceCurrency")
        .filter(|v| !v.is_null())
    else {
        return;
    };
    // Only a draft whose prices exclude VAT has the no-VAT amount at hand.
    if draft["IncludesVat"] == json!(true) {
        return;
    }
    let Some(price) = decimal_of(&row["UnitPrice"]) else {
        return;
    };
    let qty = decimal_of(&row["Quantity"]).unwrap_or_default();
    let disc = decimal_of(&row["DiscountPercentage"]).unwrap_or_default();
    let have = round2(qty * price * (Decimal::ONE - disc));
    if Some(have) != decimal_of(v) {
        p.add(
            path,
            "TotalAmountNoVatInvoiceCurrency",
            format!("expected {v} but the draft row has {have}."),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_reference_is_16_digits_and_stable() {
        let r = payment_reference(2025001);
        assert_eq!(r.len(), 16);
        assert_eq!(r, payment_reference(2025001));
        assert_ne!(r, payment_reference(2025002));
    }
}
