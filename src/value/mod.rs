//! Runtime values. Numbers are exact decimals from the moment they are read;
//! a value can be absent (no such field), null, or something.

pub mod exact;
pub mod json;
pub mod names;
pub mod parse;

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;

#[derive(Debug, Clone, Default)]
pub enum Value {
    /// The field does not exist. Mapped onto a target, it writes nothing.
    #[default]
    Absent,
    Null,
    Bool(bool),
    Num(Decimal),
    /// An integer beyond the 28-digit exact range, kept verbatim so it
    /// round-trips unchanged. Arithmetic on it is an error (E0907).
    BigNum(Arc<str>),
    Str(Arc<str>),
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
    List(Arc<Vec<Value>>),
    Record(Arc<Record>),
}

/// Field order is kept: output records list fields as they were mapped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    fields: Vec<(Arc<str>, Value)>,
}

impl Record {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_capacity(n: usize) -> Self {
        Record {
            fields: Vec::with_capacity(n),
        }
    }
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| v)
    }
    /// [`Record::get`] for fields asked for in the order the record lists
    /// them: looks at position `*at` first, and leaves `*at` after the field
    /// found. Records read from JSON usually list their fields in their
    /// schema's order, so checking one against its schema finds each field
    /// at once instead of scanning.
    pub fn get_from(&self, name: &str, at: &mut usize) -> Option<&Value> {
        if let Some((k, v)) = self.fields.get(*at) {
            if &**k == name {
                *at += 1;
                return Some(v);
            }
        }
        let (i, (_, v)) = self
            .fields
            .iter()
            .enumerate()
            .find(|(_, (k, _))| &**k == name)?;
        *at = i + 1;
        Some(v)
    }
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.fields
            .iter_mut()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| v)
    }
    /// Sets a field, replacing an existing one in place.
    pub fn insert(&mut self, name: impl Into<Arc<str>>, value: Value) {
        let name = name.into();
        match self.get_mut(&name) {
            Some(slot) => *slot = value,
            None => self.fields.push((name, value)),
        }
    }
    /// Appends without looking for an existing field: only for decoders that
    /// have already ensured keys are unique.
    pub(crate) fn push_unchecked(&mut self, name: Arc<str>, value: Value) {
        self.fields.push((name, value));
    }
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.fields.iter().position(|(k, _)| &**k == name)?;
        Some(self.fields.remove(i).1)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Value)> {
        self.fields.iter().map(|(k, v)| (k, v))
    }
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(k, _)| &**k)
    }
    pub fn len(&self) -> usize {
        self.fields.len()
    }
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
    /// Sets a nested field (`a.b.c`), creating intermediate records.
    pub fn set_path(&mut self, path: &[Arc<str>], value: Value) {
        match path {
            [] => {}
            [last] => self.insert(last.clone(), value),
            [first, rest @ ..] => {
                let mut child = match self.get(first) {
                    Some(Value::Record(r)) => (**r).clone(),
                    _ => Record::new(),
                };
                child.set_path(rest, value);
                self.insert(first.clone(), Value::Record(Arc::new(child)));
            }
        }
    }
    pub fn get_path(&self, path: &[Arc<str>]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let v = self.get(first)?;
        if rest.is_empty() {
            return Some(v);
        }
        match v {
            Value::Record(r) => r.get_path(rest),
            _ => None,
        }
    }
    pub fn remove_path(&mut self, path: &[Arc<str>]) {
        match path {
            [] => {}
            [last] => {
                self.remove(last);
            }
            [first, rest @ ..] => {
                if let Some(Value::Record(r)) = self.get_mut(first) {
                    Arc::make_mut(r).remove_path(rest);
                }
            }
        }
    }
}

impl FromIterator<(Arc<str>, Value)> for Record {
    fn from_iter<T: IntoIterator<Item = (Arc<str>, Value)>>(iter: T) -> Self {
        let mut r = Record::new();
        for (k, v) in iter {
            r.insert(k, v);
        }
        r
    }
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }
    pub fn record(r: Record) -> Value {
        Value::Record(Arc::new(r))
    }
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }
    pub fn int(i: i64) -> Value {
        Value::Num(Decimal::from(i))
    }

    /// Absent or null: "no value".
    pub fn is_missing(&self) -> bool {
        matches!(self, Value::Absent | Value::Null)
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Absent => "absent",
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Num(d) if d.scale() == 0 => "int",
            Value::Num(_) => "decimal",
            Value::BigNum(s) if s.bytes().all(|b| b.is_ascii_digit() || b == b'-') => "big integer",
            Value::BigNum(_) => "long number",
            Value::Str(_) => "string",
            Value::Date(_) => "date",
            Value::DateTime(_) => "datetime",
            Value::List(_) => "list",
            Value::Record(_) => "record",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_record(&self) -> Option<&Record> {
        match self {
            Value::Record(r) => Some(r),
            _ => None,
        }
    }

    /// Text of a scalar as it appears in interpolations and keys.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Str(s) => s.to_string(),
            Value::Num(d) => unsigned_zero(*d).to_string(),
            Value::BigNum(s) => s.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Date(d) => format_date(d),
            Value::DateTime(dt) => format_datetime(dt),
            _ => return None,
        })
    }

    /// Total order used by sorting and comparisons of like values.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Num(a), Value::Num(b)) => Some(a.cmp(b)),
            (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
            (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
            (Value::DateTime(a), Value::DateTime(b)) => Some(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::BigNum(_) | Value::Num(_), Value::BigNum(_) | Value::Num(_)) => {
                Some(exact_cmp(&number_text(self)?, &number_text(other)?))
            }
            _ => None,
        }
    }
}

/// The text of a number (exact or verbatim).
fn number_text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::Num(d) => Some(d.to_string().into()),
        Value::BigNum(s) => Some((**s).into()),
        _ => None,
    }
}

/// A number's text as (sign, power of ten of its first digit, significant
/// digits): equal values give equal triples, whatever their spelling.
fn canonical_number(text: &str) -> (bool, i64, String) {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let negative = mantissa.starts_with('-');
    let mantissa = mantissa.trim_start_matches(['-', '+']);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let lead = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_string();
    if significant.is_empty() {
        return (false, 0, String::new());
    }
    let power = int.len() as i64 - lead as i64 - 1 + exp;
    (negative, power, significant)
}

/// A canonical text of a number: equal values give equal texts.
pub fn number_key(text: &str) -> String {
    let (negative, power, digits) = canonical_number(text);
    format!(
        "{}0.{digits}e{}",
        if negative && !digits.is_empty() {
            "-"
        } else {
            ""
        },
        power + 1
    )
}

/// Compares two numbers given as text by exact value.
fn exact_cmp(a: &str, b: &str) -> Ordering {
    let (na, pa, da) = canonical_number(a);
    let (nb, pb, db) = canonical_number(b);
    let magnitude = |p: i64, d: &str, q: i64, e: &str| match (d.is_empty(), e.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => p.cmp(&q).then_with(|| d.cmp(e)),
    };
    let zero_a = da.is_empty();
    let zero_b = db.is_empty();
    match (na && !zero_a, nb && !zero_b) {
        (false, false) => magnitude(pa, &da, pb, &db),
        (true, true) => magnitude(pb, &db, pa, &da),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

/// Zero without a sign: `-0.00` is written, interpolated and compared as `0.00`.
#[inline]
pub fn unsigned_zero(d: Decimal) -> Decimal {
    if d.is_zero() && d.is_sign_negative() {
        let mut d = d;
        d.set_sign_positive(true);
        d
    } else {
        d
    }
}

/// A date as ISO 8601 text, `YYYY-MM-DD`: how dates are written out.
pub fn format_date(d: &NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A date-time as RFC 3339 text, `Z` for UTC: how date-times are written out.
pub fn format_datetime(dt: &DateTime<FixedOffset>) -> String {
    if dt.offset().local_minus_utc() == 0 {
        dt.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
    } else {
        dt.format("%Y-%m-%dT%H:%M:%S%.f%:z").to_string()
    }
}

/// Equality as the language defines it (`==`, `in`, `unique`, table keys):
/// absent equals null; numbers by exact value (1.0 equals 1, never "1"); a
/// date or date-time equals its ISO text.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Date(_) | Value::DateTime(_), Value::Str(_))
            | (Value::Str(_), Value::Date(_) | Value::DateTime(_))
            | (Value::Date(_), Value::DateTime(_))
            | (Value::DateTime(_), Value::Date(_)) => {
                match (parse::datetime_of(self), parse::datetime_of(other)) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                }
            }
            (a, b) if a.is_missing() && b.is_missing() => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Num(a), Value::Num(b)) => a == b,
            (Value::BigNum(_), Value::BigNum(_) | Value::Num(_))
            | (Value::Num(_), Value::BigNum(_)) => self.compare(other) == Some(Ordering::Equal),
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Date(a), Value::Date(b)) => a == b,
            (Value::DateTime(a), Value::DateTime(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Record(a), Value::Record(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| w == v))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Absent => f.write_str("absent"),
            other => f.write_str(&json::to_string(other)),
        }
    }
}

/// Text as a person compares names and codes: ignoring case, surrounding
/// white space and how much white space separates words. Reference lookups
/// (`eaccounting.units[Code: " ST "]`) and upsert matches (an e-mail address
/// stored as `Ann@Example.com` is found by `ann@example.com`) compare this.
pub fn natural_text(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether a stored value is the one a natural key names: text by
/// [`natural_text`], numbers by value (`30` is `30.00`), a number stored as
/// text by its value, everything else by `==`.
pub fn natural_eq(stored: &Value, wanted: &Value) -> bool {
    match (stored, wanted) {
        (Value::Str(a), Value::Str(b)) => natural_text(a) == natural_text(b),
        (Value::Str(a), Value::Num(b)) | (Value::Num(b), Value::Str(a)) => {
            parse::parse_decimal(a.trim()).is_ok_and(|a| a == *b)
        }
        (a, b) => a == b,
    }
}

/// A value as error messages name it: "the string \"x\"", "an absent value".
pub fn describe(v: &Value) -> String {
    match v {
        Value::Absent => "an absent value".to_string(),
        Value::Null => "null".to_string(),
        Value::Str(s) if s.chars().count() > 40 => {
            format!("the string \"{}…\"", s.chars().take(40).collect::<String>())
        }
        Value::Str(s) => format!("the string {:?}", s),
        Value::List(_) => "a list".to_string(),
        Value::Record(_) => "a record".to_string(),
        other => format!("the {} {}", other.type_name(), other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_asked_for_in_any_order_are_found() {
        let mut r = Record::new();
        for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
            r.insert(k, Value::Num(v.into()));
        }
        let mut at = 0;
        // In order, out of order, missing, and in order again.
        for (name, want) in [("a", Some(1)), ("c", Some(3)), ("x", None), ("b", Some(2))] {
            let got = r.get_from(name, &mut at).cloned();
            assert_eq!(got, want.map(|n: i64| Value::Num(n.into())), "{name}");
        }
        assert_eq!(at, 2, "after b, the field found last");
    }

    #[test]
    fn absent_and_null_are_equal_but_distinct() {
        assert_eq!(Value::Absent, Value::Null);
        assert!(matches!(Value::default(), Value::Absent));
    }

    #[test]
    fn natural_keys_ignore_case_and_spacing_but_not_content() {
        assert_eq!(natural_text("  Ann@Example.COM "), "ann@example.com");
        assert_eq!(natural_text("Einde  maand\t+ 30"), "einde maand + 30");
        assert!(natural_eq(&Value::str("Stuks"), &Value::str(" stuks")));
        assert!(!natural_eq(&Value::str("Stuks"), &Value::str("Stuk")));
        assert!(natural_eq(
            &Value::Num(Decimal::new(3000, 2)),
            &Value::int(30)
        ));
        assert!(natural_eq(&Value::str("30"), &Value::int(30)));
        assert!(!natural_eq(&Value::int(31), &Value::int(30)));
        assert!(natural_eq(&Value::Bool(true), &Value::Bool(true)));
    }

    #[test]
    fn numbers_compare_by_exact_value_however_long() {
        let big = |s: &str| Value::BigNum(Arc::from(s));
        let num = |s: &str| Value::Num(s.parse().unwrap());
        assert_eq!(big("1e400"), big("10e399"));
        assert_eq!(
            big("123456789012345678901234567890.0"),
            big("123456789012345678901234567890")
        );
        assert_ne!(
            big("123456789012345678901234567890"),
            big("123456789012345678901234567891")
        );
        assert_eq!(big("1e2"), num("100"));
        assert_eq!(
            big("0.12345678901234567890123456789012345").compare(&num("0.2")),
            Some(Ordering::Less)
        );
        assert_eq!(big("-1e400").compare(&num("-5")), Some(Ordering::Less));
        assert_eq!(big("-1e-400").compare(&num("0")), Some(Ordering::Less));
        assert_eq!(
            big("99999999999999999999999999999999")
                .compare(&big("100000000000000000000000000000000")),
            Some(Ordering::Less)
        );
        assert_eq!(num("-0.00"), num("0"));
        assert_eq!(
            Value::Num(unsigned_zero("-0.00".parse().unwrap()))
                .to_text()
                .unwrap(),
            "0.00"
        );
    }

    #[test]
    fn nested_paths() {
        let mut r = Record::new();
        let path: Vec<Arc<str>> = vec!["a".into(), "b".into()];
        r.set_path(&path, Value::int(1));
        assert_eq!(r.get_path(&path), Some(&Value::int(1)));
        r.remove_path(&path);
        assert_eq!(r.get_path(&path), None);
    }
}
