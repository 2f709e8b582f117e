//! Reference lookups by natural key at run time: which record of a
//! resource a lookup names, and how to say that none (or several) does.
//! The engine resolves the constant ones with the same functions before a
//! run starts, so both say the same thing.

use std::sync::Arc;

use crate::value::{natural_eq, Record, Value};

/// What a lookup found among a resource's records.
pub enum Found<'r> {
    One(&'r Record),
    None,
    /// Several records hold these values.
    Many(Vec<&'r Record>),
}

/// The records whose fields hold the wanted values (text ignoring case and
/// spacing, numbers by value). No conditions: the resource's only record.
pub fn find<'r>(records: &'r [Value], wanted: &[(Arc<str>, Value)]) -> Found<'r> {
    let hits = matching(records, wanted);
    match hits.as_slice() {
        [] => Found::None,
        [one] => Found::One(one),
        _ => Found::Many(hits),
    }
}

/// Every record whose fields hold the wanted values, in the order read.
pub fn matching<'r>(records: &'r [Value], wanted: &[(Arc<str>, Value)]) -> Vec<&'r Record> {
    records
        .iter()
        .filter_map(Value::as_record)
        .filter(|r| {
            wanted
                .iter()
                .all(|(f, v)| r.get(f).is_some_and(|have| natural_eq(have, v)))
        })
        .collect()
}

/// ` with Code "VX"` or ` with NumberOfDays 30, TermsOfPaymentTypeId 0`:
/// the values a lookup asked for (nothing for the only record).
pub fn describe_wanted(wanted: &[(Arc<str>, Value)]) -> String {
    if wanted.is_empty() {
        return String::new();
    }
    let values: Vec<String> = wanted.iter().map(|(f, v)| format!("{f} {v}")).collect();
    format!(" with {}", values.join(", "))
}

/// The values that do exist for the looked-up fields, for the help line:
/// `"VH", "VL", "V0"` (with a record's Name when it has one).
pub fn describe_existing(records: &[Value], fields: &[Arc<str>]) -> String {
    const SHOWN: usize = 20;
    let mut shown: Vec<String> = Vec::new();
    for r in records.iter().filter_map(Value::as_record) {
        let key: Vec<String> = fields
            .iter()
            .map(|f| r.get(f).map_or("null".to_string(), |v| v.to_string()))
            .collect();
        let key = key.join(", ");
        let name = r
            .get("Name")
            .filter(|_| !fields.iter().any(|f| &**f == "Name"));
        let item = match name.and_then(Value::as_str) {
            Some(n) => format!("{key} ({n})"),
            None => key,
        };
        if !shown.contains(&item) {
            shown.push(item);
        }
    }
    match shown.len() {
        0 => "there are none".to_string(),
        n if n > SHOWN => format!("{} and {} more", shown[..SHOWN].join("; "), n - SHOWN),
        _ => shown.join("; "),
    }
}
