//! Query strings, paging and the collection envelope.
//!
//! Strictness choices (the real limits are undocumented, see API notes §4):
//! - `size` must be 1..=250 (the configured maximum); larger is a 400, not a
//!   silent clamp, so a connector that asks for 500 learns it at once instead
//!   of silently reading half the data per page.
//! - Every parameter must be known to the endpoint and appear at most once.
//! - Booleans accept `true`/`false` (JDK) and `1`/`0` (PHP `http_build_query`).
//! - Date filters accept `YYYY-MM-DD` or a full ISO 8601 date-time; a bare
//!   date as an upper bound means the end of that day.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::signing::{build_query, parse_x_date};

/// Parsed query string, in wire order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

pub const PAGING: &[&str] = &["start", "size"];

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(ApiError::bad_query(format!(
                    "Parameter '{k}' given more than once"
                )));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self { pairs })
    }

    /// Reject any parameter not in `allowed`.
    pub fn allow(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            Some((k, _)) => Err(ApiError::bad_query(format!(
                "Unknown parameter '{k}'; allowed: {}",
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ))),
            None => Ok(()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty string value.
    pub fn string(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("") => Err(ApiError::bad_query(format!("Parameter '{name}' is empty"))),
            Some(v) => Ok(Some(v)),
        }
    }

    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        match raw.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) && !raw.starts_with('+') => Ok(Some(v)),
            _ => Err(ApiError::bad_query(format!(
                "Parameter '{name}' must be an integer between {min} and {max}, got '{raw}'"
            ))),
        }
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(raw) => Err(ApiError::bad_query(format!(
                "Parameter '{name}' must be true or false, got '{raw}'"
            ))),
        }
    }

    pub fn decimal(&self, name: &str) -> Result<Option<Decimal>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        raw.parse::<Decimal>().map(Some).map_err(|_| {
            ApiError::bad_query(format!("Parameter '{name}' must be a number, got '{raw}'"))
        })
    }

    /// A date bound; `end_of_day` turns a bare date into its last second.
    pub fn date(&self, name: &str, end_of_day: bool) -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        parse_date_param(raw, end_of_day).map(Some).ok_or_else(|| {
            ApiError::bad_query(format!("Parameter '{name}' is not a date, got '{raw}'"))
        })
    }

    /// The day named by a date parameter, e.g. `deliver_date=2024-03-01`.
    pub fn day(&self, name: &str) -> Result<Option<NaiveDate>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        parse_date_param(raw, false)
            .map(|d| Some(d.date_naive()))
            .ok_or_else(|| {
                ApiError::bad_query(format!("Parameter '{name}' is not a date, got '{raw}'"))
            })
    }

    /// `orderby=<field>` or `<field>_desc`; returns the field and whether it is descending.
    pub fn orderby(&self, fields: &[&str]) -> Result<Option<(String, bool)>, ApiError> {
        let Some(raw) = self.get("orderby") else {
            return Ok(None);
        };
        let (field, desc) = match raw.strip_suffix("_desc") {
            Some(f) => (f, true),
            None => (raw, false),
        };
        if fields.contains(&field) {
            Ok(Some((field.to_string(), desc)))
        } else {
            Err(ApiError::bad_query(format!(
                "orderby '{raw}' is not one of {} (optionally with _desc)",
                fields.join(", ")
            )))
        }
    }

    /// All non-paging parameters, in wire order, for building links.
    fn filters(&self) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .filter(|(k, _)| !PAGING.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

fn parse_date_param(raw: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let time = if end_of_day {
            day.and_hms_opt(23, 59, 59)?
        } else {
            day.and_hms_opt(0, 0, 0)?
        };
        return Some(time.and_utc());
    }
    // A space instead of `T`, as a human would type in a shell.
    parse_x_date(raw).or_else(|| parse_x_date(&raw.replacen(' ', "T", 1)))
}

/// Which page was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub start: usize,
    pub size: usize,
}

impl Paging {
    pub fn from_query(q: &Query, default_size: u32, max_size: u32) -> Result<Self, ApiError> {
        let start = q.int("start", 0, i64::from(u32::MAX))?.unwrap_or(0);
        let size = q
            .int("size", 1, i64::from(max_size))?
            .unwrap_or(i64::from(default_size));
        Ok(Self {
            start: usize::try_from(start).unwrap_or(usize::MAX),
            size: usize::try_from(size).unwrap_or(1),
        })
    }
}

/// Build the collection envelope around one page of `all` (already filtered
/// and sorted). `collection_url` is the absolute URL of the collection,
/// ending in `/`.
pub fn envelope(collection_url: &str, q: &Query, paging: Paging, all: Vec<Value>) -> Value {
    let total = all.len();
    let link = |start: usize| {
        let mut params = q.filters();
        params.push(("start".to_string(), start.to_string()));
        params.push(("size".to_string(), paging.size.to_string()));
        format!("{collection_url}?{}", build_query(&params))
    };
    let items: Vec<Value> = all
        .into_iter()
        .skip(paging.start)
        .take(paging.size)
        .collect();
    let next = paging
        .start
        .checked_add(paging.size)
        .filter(|n| *n < total)
        .map(link);
    let previous = (paging.start > 0).then(|| link(paging.start.saturating_sub(paging.size)));
    json!({
        "href": link(paging.start),
        "start": paging.start,
        "size": paging.size,
        "first": link(0),
        "previous": previous,
        "next": next,
        "items": items,
    })
}

/// Compare for `orderby`, with the id as a tie-breaker so pages are stable.
pub fn ordered<K: Ord>(a: (K, i64), b: (K, i64), desc: bool) -> Ordering {
    let primary = a.0.cmp(&b.0);
    let primary = if desc { primary.reverse() } else { primary };
    primary.then(a.1.cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: &str) -> Query {
        Query::parse(Some(raw)).expect("parses")
    }

    #[test]
    fn rejects_duplicates_unknown_and_bad_values() {
        assert_eq!(
            Query::parse(Some("a=1&a=2"))
                .map(|_| ())
                .map_err(|e| e.code),
            Err("400.10".into())
        );
        assert!(q("x=1").allow(&["y"]).is_err());
        assert!(q("status=15").int("status", 1, 14).is_err());
        assert!(q("status=abc").int("status", 1, 14).is_err());
        assert!(q("is_paid=yes").boolean("is_paid").is_err());
        assert_eq!(q("is_paid=0").boolean("is_paid").ok(), Some(Some(false)));
        assert!(q("orderby=name").orderby(&["id"]).is_err());
        assert_eq!(
            q("orderby=id_desc").orderby(&["id"]).ok(),
            Some(Some(("id".to_string(), true)))
        );
    }

    #[test]
    fn size_over_maximum_is_an_error() {
        assert!(Paging::from_query(&q("size=251"), 25, 250).is_err());
        assert!(Paging::from_query(&q("size=0"), 25, 250).is_err());
        assert_eq!(
            Paging::from_query(&q("start=10&size=250"), 25, 250).ok(),
            Some(Paging {
                start: 10,
                size: 250
            })
        );
    }

    #[test]
    fn envelope_links_keep_filters_and_end_with_null_next() {
        let query = q("status=1&productname=red shoe&start=2&size=2");
        let page = Paging::from_query(&query, 25, 250).expect("paging");
        let items = (0..5).map(|i| json!(i)).collect();
        let env = envelope("http://h/api/rest/v1/orders/", &query, page, items);
        assert_eq!(env["items"], json!([2, 3]));
        assert_eq!(
            env["next"],
            json!("http://h/api/rest/v1/orders/?status=1&productname=red+shoe&start=4&size=2")
        );
        assert_eq!(
            env["previous"],
            json!("http://h/api/rest/v1/orders/?status=1&productname=red+shoe&start=0&size=2")
        );
        let last = envelope(
            "http://h/x/",
            &q("start=4&size=2"),
            Paging { start: 4, size: 2 },
            (0..5).map(|i| json!(i)).collect(),
        );
        assert_eq!(last["next"], Value::Null);
        assert_eq!(last["items"], json!([4]));
    }

    #[test]
    fn date_bounds() {
        let query = q("min_create_date=2024-01-02&max_create_date=2024-01-02");
        let min = query
            .date("min_create_date", false)
            .ok()
            .flatten()
            .map(|d| d.to_rfc3339());
        let max = query
            .date("max_create_date", true)
            .ok()
            .flatten()
            .map(|d| d.to_rfc3339());
        assert_eq!(min.as_deref(), Some("2024-01-02T00:00:00+00:00"));
        assert_eq!(max.as_deref(), Some("2024-01-02T23:59:59+00:00"));
        assert!(q("min_create_date=soon")
            .date("min_create_date", false)
            .is_err());
    }
}
