//! What each CCV Shop resource can filter and sort itself, and the
//! client-side evaluation of everything else.
//!
//! A [`ListQuery`] is split into query parameters the API understands
//! (API notes §3, §4) and filters/sorting flowc applies to the records it
//! receives, so a list returns the same records whichever side did the work.
//! A filter is pushed down only when the API's meaning is exactly the flow's;
//! a pushdown that can only narrow the result to a superset (`create_date > x`
//! sent as `min_create_date=x`) is also kept client-side.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Timelike, Utc};
use rust_decimal::Decimal;

use super::signing::{parse_x_date, QueryValue};
use crate::connectors::{field_at, Filter, FilterOp, ListQuery};
use crate::value::Value;

/// How a filter value is written as a query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamKind {
    Int { min: i64, max: i64 },
    Bool,
    Str,
    DateTime,
}

/// One filter the API evaluates: `field op value` becomes `param=value`.
#[derive(Debug, Clone, Copy)]
struct Pushable {
    field: &'static str,
    op: FilterOp,
    param: &'static str,
    kind: ParamKind,
}

const fn push(field: &'static str, op: FilterOp, param: &'static str, kind: ParamKind) -> Pushable {
    Pushable {
        field,
        op,
        param,
        kind,
    }
}

const ANY_INT: ParamKind = ParamKind::Int {
    min: 0,
    max: i64::MAX,
};

/// A resource the connector knows.
#[derive(Debug)]
pub(crate) struct ResourceSpec {
    pub name: &'static str,
    filters: &'static [Pushable],
    orderby: &'static [&'static str],
    /// Fields the API sorts by but cannot filter on (`modifydate`): a lower
    /// bound on one is read newest first, stopping at the first record below it.
    sorted_bounds: &'static [&'static str],
    /// Sub-resources `expand=` fills in, for readers that use them.
    expandable: &'static [&'static str],
    pub can_create: bool,
    pub can_update: bool,
    /// Listing is possible (`orderrows` are only read per order or by id).
    pub can_list: bool,
}

const ORDERS: ResourceSpec = ResourceSpec {
    name: "orders",
    filters: &[
        push("ordernumber", FilterOp::Eq, "ordernumber", ANY_INT),
        push(
            "status",
            FilterOp::Eq,
            "status",
            ParamKind::Int { min: 1, max: 14 },
        ),
        push("paid", FilterOp::Eq, "is_paid", ParamKind::Bool),
        push(
            "is_completed",
            FilterOp::Eq,
            "is_completed",
            ParamKind::Bool,
        ),
        push(
            "create_date",
            FilterOp::Ge,
            "min_create_date",
            ParamKind::DateTime,
        ),
        push(
            "create_date",
            FilterOp::Gt,
            "min_create_date",
            ParamKind::DateTime,
        ),
        push(
            "create_date",
            FilterOp::Le,
            "max_create_date",
            ParamKind::DateTime,
        ),
        push(
            "create_date",
            FilterOp::Lt,
            "max_create_date",
            ParamKind::DateTime,
        ),
        push("paymethod_id", FilterOp::Eq, "paymethod_id", ANY_INT),
        push(
            "transaction_id",
            FilterOp::Eq,
            "transaction_id",
            ParamKind::Str,
        ),
    ],
    orderby: &["id", "ordernumber", "create_date", "deliver_date"],
    sorted_bounds: &[],
    expandable: &[],
    can_create: false,
    can_update: true,
    can_list: true,
};

const PRODUCTS: ResourceSpec = ResourceSpec {
    name: "products",
    filters: &[
        push(
            "productnumber",
            FilterOp::Eq,
            "productnumber",
            ParamKind::Str,
        ),
        push("eannumber", FilterOp::Eq, "eannumber", ParamKind::Str),
        push("is_active", FilterOp::Eq, "active", ParamKind::Bool),
        push("active", FilterOp::Eq, "active", ParamKind::Bool),
    ],
    orderby: &["id", "name", "createdate", "modifydate"],
    // No modify-date filter exists (API notes §3): page on
    // `orderby=modifydate_desc` until the checkpoint.
    sorted_bounds: &["modifydate", "createdate"],
    // What a catalog flow reads: variants (to skip them) and categories.
    expandable: &[
        "attributecombinations",
        "productvariations",
        "producttocategories",
    ],
    can_create: true,
    can_update: true,
    can_list: true,
};

const fn plain(name: &'static str, can_create: bool, can_update: bool) -> ResourceSpec {
    ResourceSpec {
        name,
        filters: &[],
        orderby: &[],
        sorted_bounds: &[],
        expandable: &[],
        can_create,
        can_update,
        can_list: true,
    }
}

static RESOURCES: &[ResourceSpec] = &[
    ORDERS,
    PRODUCTS,
    plain("categories", true, true),
    plain("producttocategories", true, false),
    plain("paymethods", false, false),
    ResourceSpec {
        orderby: &["id", "first_name", "last_name"],
        ..plain("users", false, false)
    },
    plain("webshops", false, false),
    // Read by `flowc doctor` to see which webhooks the shop sends.
    plain("webhooks", false, false),
    ResourceSpec {
        can_list: false,
        ..plain("orderrows", false, false)
    },
];

pub(crate) fn resource(name: &str) -> Option<&'static ResourceSpec> {
    RESOURCES.iter().find(|r| r.name == name)
}

pub(crate) fn resource_names() -> String {
    RESOURCES
        .iter()
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A [`ListQuery`] split between the API and flowc.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Plan {
    /// Query parameters (without `start`/`size`), in a stable order.
    pub params: Vec<(&'static str, QueryValue)>,
    /// Filters flowc applies to each received record.
    pub client_filters: Vec<Filter>,
    /// Sort flowc applies (field, descending) when the API cannot sort by it.
    pub client_sort: Option<(String, bool)>,
    /// Read newest first and stop at the first record this filter rejects
    /// (a lower bound on a field the API only sorts by).
    pub stop_below: Option<Filter>,
}

pub(crate) fn plan(spec: &ResourceSpec, query: &ListQuery) -> Plan {
    let mut out = Plan::default();
    for f in &query.filters {
        let pushed = spec
            .filters
            .iter()
            .filter(|p| p.field == f.field && p.op == f.op)
            .find(|p| !out.params.iter().any(|(name, _)| *name == p.param))
            .and_then(|p| param_value(p, &f.value).map(|(v, exact)| (p.param, v, exact)));
        match pushed {
            Some((param, value, exact)) => {
                out.params.push((param, value));
                if !exact {
                    out.client_filters.push(f.clone());
                }
            }
            None => out.client_filters.push(f.clone()),
        }
    }
    if let Some(bound) = sorted_bound(spec, &out.client_filters, query) {
        // Newest first from the API; ascending (as asked) after the stop.
        out.params
            .push(("orderby", QueryValue::Str(format!("{}_desc", bound.field))));
        let desc = query.order_by.as_deref() == Some(&format!("-{}", bound.field));
        out.client_sort = Some((bound.field.clone(), desc));
        out.stop_below = Some(bound);
    } else if let Some(order) = query.order_by.as_deref().filter(|o| !o.is_empty()) {
        let (field, desc) = match order.strip_prefix('-') {
            Some(f) => (f, true),
            None => (order, false),
        };
        if spec.orderby.contains(&field) {
            let value = if desc {
                format!("{field}_desc")
            } else {
                field.to_string()
            };
            out.params.push(("orderby", QueryValue::Str(value)));
        } else {
            out.client_sort = Some((field.to_string(), desc));
        }
    }
    out
}

/// A lower bound on a field the API sorts by without filtering on it, when
/// the query asks for no other order.
fn sorted_bound(spec: &ResourceSpec, client: &[Filter], query: &ListQuery) -> Option<Filter> {
    let bound = client.iter().find(|f| {
        spec.sorted_bounds.contains(&f.field.as_str())
            && matches!(f.op, FilterOp::Ge | FilterOp::Gt)
    })?;
    let order = query.order_by.as_deref().unwrap_or(&bound.field);
    (order.trim_start_matches('-') == bound.field).then(|| bound.clone())
}

/// `expand=` for the sub-resources the reader uses (none when it did not say).
pub(crate) fn expand(spec: &ResourceSpec, query: &ListQuery) -> Option<String> {
    let reads = query.reads.as_ref()?;
    let wanted: Vec<&str> = spec
        .expandable
        .iter()
        .copied()
        .filter(|e| reads.iter().any(|r| r == e))
        .map(|e| match e {
            // The API expands variations under the name of their path.
            "productvariations" => "productvariants",
            other => other,
        })
        .collect();
    (!wanted.is_empty()).then(|| wanted.join(","))
}

/// The parameter for `value`, and whether the API's answer is exactly the
/// filter's (false: a superset, so the filter is also applied client-side).
fn param_value(p: &Pushable, value: &Value) -> Option<(QueryValue, bool)> {
    match p.kind {
        ParamKind::Int { min, max } => {
            let n = match value {
                Value::Num(d) if d.fract().is_zero() => i64::try_from(d.trunc()).ok()?,
                Value::Str(s) => s.trim().parse::<i64>().ok()?,
                _ => return None,
            };
            (min..=max)
                .contains(&n)
                .then_some((QueryValue::Int(n), true))
        }
        ParamKind::Bool => match value {
            Value::Bool(b) => Some((QueryValue::Bool(*b), true)),
            _ => None,
        },
        ParamKind::Str => match value {
            Value::Str(s) if !s.is_empty() => Some((QueryValue::Str(s.to_string()), true)),
            Value::Num(d) => Some((QueryValue::Str(d.to_string()), true)),
            _ => None,
        },
        ParamKind::DateTime => {
            let at = as_datetime(value)?.with_timezone(&Utc);
            let whole = at.nanosecond() == 0;
            // Ge/Le on a whole second is exact; anything else is widened to a
            // whole second (floor for a lower bound, ceiling for an upper one).
            let (bound, exact) = match p.op {
                FilterOp::Ge | FilterOp::Gt => {
                    (at.with_nanosecond(0)?, whole && p.op == FilterOp::Ge)
                }
                _ => {
                    let floor = at.with_nanosecond(0)?;
                    let ceil = if whole {
                        floor
                    } else {
                        floor + chrono::Duration::seconds(1)
                    };
                    (ceil, whole && p.op == FilterOp::Le)
                }
            };
            Some((
                QueryValue::Str(bound.to_rfc3339_opts(SecondsFormat::Secs, true)),
                exact,
            ))
        }
    }
}

/// A date, date-time or ISO text as a date-time (a date is its midnight UTC).
fn as_datetime(v: &Value) -> Option<DateTime<FixedOffset>> {
    match v {
        Value::DateTime(d) => Some(*d),
        Value::Date(d) => Some(midnight(*d)),
        Value::Str(s) => parse_text_datetime(s),
        _ => None,
    }
}

fn midnight(d: NaiveDate) -> DateTime<FixedOffset> {
    d.and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .fixed_offset()
}

fn parse_text_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        return Some(midnight(d));
    }
    parse_x_date(s).map(|d| d.fixed_offset())
}

/// Compares values of the kinds the wire and a flow may disagree on: text
/// dates against date-times, numeric text against numbers.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    if let Some(o) = a.compare(b) {
        return Some(o);
    }
    match (a, b) {
        (Value::Str(_) | Value::Date(_) | Value::DateTime(_), _)
            if matches!(b, Value::Str(_) | Value::Date(_) | Value::DateTime(_)) =>
        {
            Some(as_datetime(a)?.cmp(&as_datetime(b)?))
        }
        (Value::Num(x), Value::Str(s)) => Some(x.cmp(&s.trim().parse::<Decimal>().ok()?)),
        (Value::Str(s), Value::Num(y)) => Some(s.trim().parse::<Decimal>().ok()?.cmp(y)),
        _ => None,
    }
}

/// Whether `record` satisfies `f` (a missing field equals only a missing value
/// and is never less or greater than anything).
pub(crate) fn matches(record: &Value, f: &Filter) -> bool {
    let actual = field_at(record, &f.field).unwrap_or(&Value::Absent);
    let ord = if actual == &f.value {
        Some(Ordering::Equal)
    } else {
        compare(actual, &f.value)
    };
    f.op.holds(ord)
}

/// Sorts records by a field; missing values first, ties keep their order.
pub(crate) fn sort(records: &mut [Value], field_name: &str, desc: bool) {
    crate::connectors::sort_by_field(records, field_name, desc, compare);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::json::parse;

    fn filter(field: &str, op: FilterOp, value: Value) -> Filter {
        Filter {
            field: field.into(),
            op,
            value,
        }
    }

    fn dt(s: &str) -> Value {
        Value::DateTime(DateTime::parse_from_rfc3339(s).expect("date"))
    }

    #[test]
    fn orders_push_down_what_the_api_supports() {
        let q = ListQuery {
            filters: vec![
                filter("status", FilterOp::Eq, Value::int(5)),
                filter("paid", FilterOp::Eq, Value::Bool(true)),
                filter("create_date", FilterOp::Ge, dt("2024-01-02T00:00:00Z")),
                filter("create_date", FilterOp::Lt, dt("2024-02-01T10:00:00+01:00")),
                filter("currency", FilterOp::Eq, Value::str("EUR")),
                filter("status", FilterOp::Eq, Value::int(6)),
                filter("ordernumber", FilterOp::Eq, Value::str("10001")),
            ],
            order_by: Some("-create_date".into()),
            page_size: None,
            reads: None,
        };
        let p = plan(resource("orders").expect("orders"), &q);
        let params: Vec<(&str, String)> = p
            .params
            .iter()
            .map(|(k, v)| (*k, format!("{v:?}")))
            .collect();
        assert_eq!(
            params,
            vec![
                ("status", "Int(5)".to_string()),
                ("is_paid", "Bool(true)".to_string()),
                (
                    "min_create_date",
                    "Str(\"2024-01-02T00:00:00Z\")".to_string()
                ),
                (
                    "max_create_date",
                    "Str(\"2024-02-01T09:00:00Z\")".to_string()
                ),
                ("ordernumber", "Int(10001)".to_string()),
                ("orderby", "Str(\"create_date_desc\")".to_string()),
            ]
        );
        // Lt is widened to Le on the wire, so it stays client-side; a second
        // status and an unsupported field are client-side too.
        let client: Vec<&str> = p.client_filters.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(client, vec!["create_date", "currency", "status"]);
        assert_eq!(p.client_sort, None);
    }

    #[test]
    fn out_of_range_or_unsortable_stays_client_side() {
        let q = ListQuery {
            filters: vec![filter("status", FilterOp::Eq, Value::int(99))],
            order_by: Some("total_price".into()),
            page_size: None,
            reads: None,
        };
        let p = plan(resource("orders").expect("orders"), &q);
        assert!(p.params.is_empty());
        assert_eq!(p.client_filters.len(), 1);
        assert_eq!(p.client_sort, Some(("total_price".into(), false)));
        let p = plan(
            resource("products").expect("products"),
            &ListQuery {
                filters: vec![filter("is_active", FilterOp::Eq, Value::Bool(false))],
                order_by: Some("-modifydate".into()),
                page_size: None,
                reads: None,
            },
        );
        assert_eq!(
            p.params,
            vec![
                ("active", QueryValue::Bool(false)),
                ("orderby", QueryValue::Str("modifydate_desc".into()))
            ]
        );
    }

    #[test]
    fn a_modifydate_bound_is_read_newest_first_and_given_back_oldest_first() {
        let bound = filter("modifydate", FilterOp::Ge, dt("2024-03-01T00:00:00Z"));
        let q = ListQuery {
            filters: vec![bound.clone()],
            order_by: Some("modifydate".into()),
            page_size: None,
            reads: Some(vec!["attributecombinations".into(), "name".into()]),
        };
        let spec = resource("products").expect("products");
        let p = plan(spec, &q);
        assert_eq!(
            p.params,
            vec![("orderby", QueryValue::Str("modifydate_desc".into()))]
        );
        assert_eq!(p.stop_below, Some(bound.clone()));
        assert_eq!(p.client_sort, Some(("modifydate".into(), false)));
        assert_eq!(p.client_filters, vec![bound.clone()]);
        assert_eq!(expand(spec, &q).as_deref(), Some("attributecombinations"));
        // Another order asked for: no early stop (the API cannot filter it).
        let by_name = ListQuery {
            order_by: Some("name".into()),
            ..q.clone()
        };
        assert_eq!(plan(spec, &by_name).stop_below, None);
        // Orders have no such bound, and a reader that names nothing expands nothing.
        assert_eq!(
            plan(resource("orders").expect("orders"), &q).stop_below,
            None
        );
        assert_eq!(expand(spec, &ListQuery::default()), None);
    }

    #[test]
    fn client_side_matching_coerces_text_dates_and_numbers() {
        let r = parse(r#"{"create_date":"2024-01-02T10:00:00Z","total":"12.10","c":{"e":"x"}}"#)
            .expect("json");
        assert!(matches(
            &r,
            &filter("create_date", FilterOp::Gt, dt("2024-01-02T09:59:59Z"))
        ));
        assert!(!matches(
            &r,
            &filter("create_date", FilterOp::Lt, dt("2024-01-02T10:00:00Z"))
        ));
        assert!(matches(
            &r,
            &filter(
                "create_date",
                FilterOp::Ge,
                Value::Date(NaiveDate::from_ymd_opt(2024, 1, 2).expect("date"))
            )
        ));
        assert!(matches(
            &r,
            &filter("total", FilterOp::Eq, Value::Num(Decimal::new(1210, 2)))
        ));
        assert!(matches(&r, &filter("c.e", FilterOp::Eq, Value::str("x"))));
        assert!(matches(&r, &filter("nope", FilterOp::Eq, Value::Null)));
        assert!(!matches(&r, &filter("nope", FilterOp::Gt, Value::int(1))));
    }

    #[test]
    fn sorting_puts_missing_first_and_can_reverse() {
        let mut v: Vec<Value> = ["{\"a\":2}", "{\"a\":null}", "{\"a\":1}"]
            .iter()
            .map(|s| parse(s).expect("json"))
            .collect();
        sort(&mut v, "a", false);
        let a: Vec<String> = v.iter().map(crate::value::json::to_string).collect();
        assert_eq!(a, vec!["{\"a\":null}", "{\"a\":1}", "{\"a\":2}"]);
        sort(&mut v, "a", true);
        assert_eq!(crate::value::json::to_string(&v[0]), "{\"a\":2}");
    }
}
