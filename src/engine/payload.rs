//! Small pure helpers on payloads: hashing, redaction, diffs.

use sha2::{Digest, Sha256};

use crate::eval::Payload;
use crate::value::json;
use crate::value::{Record, Value};

/// A stable hash of what would be written; equal hashes mean "nothing to do".
pub fn hash(payload: &Payload) -> String {
    let mut h = Sha256::new();
    h.update(json::to_string(&Value::record(payload.create.clone())).as_bytes());
    h.update(b"\n");
    h.update(json::to_string(&Value::record(payload.update.clone())).as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Does writing `changes` onto `current` change anything?
pub fn changes_anything(current: &Record, changes: &Record) -> bool {
    !diff(current, changes).is_empty()
}

/// One field that a write would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: String,
    pub from: Option<String>,
    pub to: String,
}

/// The fields of `changes` whose value differs from `current` (nested records
/// compared field by field; a date equals its ISO text; 12.0 equals 12.00).
pub fn diff(current: &Record, changes: &Record) -> Vec<Change> {
    let mut out = Vec::new();
    diff_into(current, changes, "", &mut out);
    out
}

fn diff_into(current: &Record, changes: &Record, prefix: &str, out: &mut Vec<Change>) {
    for (k, new) in changes.iter() {
        if matches!(new, Value::Absent) {
            continue;
        }
        let path = if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        };
        diff_value(current.get(k), new, path, out);
    }
}

/// Compares what the service holds with what would be sent. Only the fields
/// sent matter: the service's own additions (ids, line numbers, totals) in a
/// record or in the records of a list are not differences.
fn diff_value(old: Option<&Value>, new: &Value, path: String, out: &mut Vec<Change>) {
    match (old, new) {
        (Some(Value::Record(a)), Value::Record(b)) => diff_into(a, b, &path, out),
        (Some(Value::List(a)), Value::List(b))
            if a.len() == b.len() && b.iter().all(|v| matches!(v, Value::Record(_))) =>
        {
            for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
                diff_value(Some(x), y, format!("{path}[{i}]"), out);
            }
        }
        (Some(old), new) if same(old, new) => {}
        (old, new) => out.push(Change {
            field: path,
            from: old.map(show),
            to: show(new),
        }),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    if json::canonical(a) == json::canonical(b) {
        return true;
    }
    // A date sent as 2024-01-01 comes back as 2024-01-01T00:00:00.
    let moment = |v: &Value| match v {
        Value::Str(s) if s.len() >= 10 && s.as_bytes()[4] == b'-' => {
            crate::value::parse::datetime_of(v).map(|d| d.naive_utc())
        }
        Value::Date(_) | Value::DateTime(_) => {
            crate::value::parse::datetime_of(v).map(|d| d.naive_utc())
        }
        _ => None,
    };
    matches!((moment(a), moment(b)), (Some(x), Some(y)) if x == y)
}

fn show(v: &Value) -> String {
    let text = json::to_string(v);
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

/// Replaces text that may be personal data with `"<redacted>"`, keeping
/// identifiers, codes, numbers and booleans so a dead letter stays useful.
pub fn redact(v: &Value) -> Value {
    redact_field("", v)
}

fn redact_field(name: &str, v: &Value) -> Value {
    match v {
        Value::Record(r) => Value::record(
            r.iter()
                .map(|(k, v)| (k.clone(), redact_field(k, v)))
                .collect(),
        ),
        Value::List(items) => Value::list(items.iter().map(|i| redact_field(name, i)).collect()),
        Value::Str(_) if !keeps_text(name) => Value::str("<redacted>"),
        Value::Num(_) | Value::BigNum(_) if personal(name) => Value::str("<redacted>"),
        other => other.clone(),
    }
}

/// Numbers that identify a person (a private person's corporate identity
/// number is a personal number), or reach one.
fn personal(name: &str) -> bool {
    const PERSONAL: &[&str] = &[
        "identity",
        "personal",
        "social",
        "phone",
        "mobile",
        "fax",
        "iban",
        "bank",
        "giro",
        "email",
        "mail",
        "birth",
        "passport",
        "vatnumber",
        "taxnumber",
    ];
    let lower = name.to_ascii_lowercase();
    PERSONAL.iter().any(|p| lower.contains(p))
}

/// Field names whose text identifies a record rather than a person.
fn keeps_text(name: &str) -> bool {
    if personal(name) {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    lower == "id"
        || lower.ends_with("id")
        || lower.ends_with("_id")
        || lower.ends_with("number")
        || lower.ends_with("code")
        || lower.ends_with("reference")
        || lower.ends_with("date")
        || lower.ends_with("utc")
        || lower == "sku"
        || lower == "status"
        || lower == "currency"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(text: &str) -> Record {
        json::parse(text).unwrap().as_record().unwrap().clone()
    }

    #[test]
    fn diff_ignores_formatting_of_equal_values() {
        let current = rec(r#"{"Name":"Jan","Price":12.0,"Address":{"City":"Utrecht"}}"#);
        let changes = rec(r#"{"Name":"Jan","Price":12.00,"Address":{"City":"Amsterdam"}}"#);
        let d = diff(&current, &changes);
        assert_eq!(
            d,
            vec![Change {
                field: "Address.City".into(),
                from: Some("\"Utrecht\"".into()),
                to: "\"Amsterdam\"".into()
            }]
        );
    }

    #[test]
    fn service_additions_and_date_forms_are_not_differences() {
        let current = rec(
            r#"{"InvoiceDate":"2024-01-01T00:00:00","Rows":[{"Id":"r1","LineNumber":1,"Quantity":2}]}"#,
        );
        let same_data = rec(r#"{"InvoiceDate":"2024-01-01","Rows":[{"Quantity":2.0}]}"#);
        assert!(
            diff(&current, &same_data).is_empty(),
            "{:?}",
            diff(&current, &same_data)
        );
        let changed = rec(r#"{"InvoiceDate":"2024-01-02","Rows":[{"Quantity":3}]}"#);
        let fields: Vec<String> = diff(&current, &changed)
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(fields, vec!["InvoiceDate", "Rows[0].Quantity"]);
    }

    #[test]
    fn redaction_keeps_ids_and_numbers_only() {
        let v = json::parse(r#"{"CustomerId":"abc","Name":"Jan","EmailAddress":"j@x.nl","Rows":[{"ArticleNumber":"SKU","Text":"Koffie","Quantity":2}]}"#).unwrap();
        assert_eq!(
            json::to_string(&redact(&v)),
            r#"{"CustomerId":"abc","Name":"<redacted>","EmailAddress":"<redacted>","Rows":[{"ArticleNumber":"SKU","Text":"<redacted>","Quantity":2}]}"#
        );
        // Numbers that identify a person are personal data too.
        let v = json::parse(r#"{"CustomerNumber":"1001","CorporateIdentityNumber":"19800101-1234","TelephoneNumber":"0612345678","MobilePhone":"06","VatNumber":"NL1B01","BankAccountNumber":"1","InvoiceCountryCode":"NL"}"#).unwrap();
        assert_eq!(
            json::to_string(&redact(&v)),
            r#"{"CustomerNumber":"1001","CorporateIdentityNumber":"<redacted>","TelephoneNumber":"<redacted>","MobilePhone":"<redacted>","VatNumber":"<redacted>","BankAccountNumber":"<redacted>","InvoiceCountryCode":"NL"}"#
        );
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let p = Payload {
            create: rec(r#"{"a":1}"#),
            update: rec(r#"{"a":1}"#),
        };
        let q = Payload {
            create: rec(r#"{"a":2}"#),
            update: rec(r#"{"a":2}"#),
        };
        assert_eq!(hash(&p), hash(&p.clone()));
        assert_ne!(hash(&p), hash(&q));
    }
}
