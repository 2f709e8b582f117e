//! What to read from the source: from a file or a service, incrementally from the
//! cursor (with an overlap window, since shops rarely offer a reliable
//! "modified since"), with the simple parts of `where` pushed down.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::connectors::{Filter, FilterOp, ListQuery};
use crate::program::{Expr, Flow, Program};
use crate::syntax::ast::BinaryOp;
use crate::types::Kind;
use crate::value::Value;

/// The `where` conjuncts a service can apply: `field == constant` and bare
/// boolean fields; `a or SETTING` where the setting is false is `a`. The
/// engine still evaluates the whole filter itself.
pub fn pushdown(program: &Program, filter: Option<&Expr>) -> Vec<Filter> {
    let mut out = Vec::new();
    if let Some(e) = filter {
        collect(program, e, &mut out);
    }
    out
}

/// The value of an expression that reads no record (settings), if it has one.
fn setting(program: &Program, e: &Expr) -> Option<Value> {
    if crate::program::reads_record(e) {
        return None;
    }
    crate::eval::Runtime::new(program)
        .eval_standalone(e, 8)
        .ok()
}

fn collect(program: &Program, e: &Expr, out: &mut Vec<Filter>) {
    match e {
        Expr::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
            ..
        } => {
            collect(program, lhs, out);
            collect(program, rhs, out);
        }
        Expr::Binary {
            op: BinaryOp::Or,
            lhs,
            rhs,
            ..
        } if setting(program, rhs) == Some(Value::Bool(false)) => collect(program, lhs, out),
        Expr::Binary {
            op: BinaryOp::Eq,
            lhs,
            rhs,
            ..
        } => match (&**lhs, &**rhs) {
            (Expr::Input(f), Expr::Const(v)) | (Expr::Const(v), Expr::Input(f))
                if !v.is_missing() =>
            {
                out.push(Filter {
                    field: f.to_string(),
                    op: FilterOp::Eq,
                    value: v.clone(),
                })
            }
            _ => {}
        },
        Expr::Input(f) => out.push(Filter {
            field: f.to_string(),
            op: FilterOp::Eq,
            value: Value::Bool(true),
        }),
        _ => {}
    }
}

/// Where an incremental read starts: the saved cursor minus the overlap.
pub fn resume_from(cursor: Option<&str>, overlap: Duration) -> Option<String> {
    let c = cursor?;
    match crate::value::parse::datetime_of(&Value::str(c)) {
        Some(dt) => {
            // An overlap reaching before the calendar starts reads everything.
            let start: DateTime<Utc> = chrono::Duration::from_std(overlap)
                .ok()
                .and_then(|back| dt.to_utc().checked_sub_signed(back))
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            Some(start.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        }
        // Not a time (an increasing number, say): resume exactly there.
        None => Some(c.to_string()),
    }
}

/// What to ask the source for: the `where` conjuncts it can apply, from
/// the saved cursor (minus the overlap) onwards, oldest first.
///
/// `reread`: the `where` reads fields that can change after a record was
/// created (its schema's `mutable` fields), and records it rejects must be
/// read again for this long. With a time cursor, every read reaches back
/// at least that far (records the service filtered out are then read once
/// they qualify). With another cursor, conjuncts on those fields are not
/// pushed down: the engine must see the records it rejects, which then
/// hold the cursor back (see `Engine::holds`).
pub fn query(
    program: &Program,
    flow: &Flow,
    cursor: Option<&str>,
    overlap: Duration,
    reread: Option<Duration>,
) -> ListQuery {
    let mut query = ListQuery {
        filters: pushdown(program, flow.filter.as_ref()),
        reads: flow
            .input_fields()
            .map(|fields| fields.iter().map(|f| f.to_string()).collect()),
        ..ListQuery::default()
    };
    let Some(schema) = flow.source_schema.map(|i| &program.schemas[i]) else {
        return query;
    };
    let Some(field) = schema.cursor.as_deref() else {
        return query;
    };
    let kind = schema.record.field(field).map(|f| &f.ty.kind);
    let time_cursor = matches!(kind, Some(Kind::DateTime | Kind::Date));
    if reread.is_some() && !time_cursor {
        query.filters.retain(|f| {
            let top = f.field.split('.').next().unwrap_or_default();
            !schema.mutable.iter().any(|m| &**m == top)
        });
    }
    if let Some(mut from) = resume_from(cursor, overlap) {
        if let (Some(window), true) = (reread, time_cursor) {
            let back = chrono::Duration::from_std(window)
                .ok()
                .and_then(|w| Utc::now().checked_sub_signed(w))
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            if compare_cursor(&back, &from).is_lt() {
                from = back;
            }
        }
        // A number compares as a number: "10" comes after "9".
        let value = match (kind, from.parse::<rust_decimal::Decimal>()) {
            (Some(Kind::Int | Kind::Decimal), Ok(n)) => Value::Num(n),
            _ => Value::str(&from),
        };
        query.filters.push(Filter {
            field: field.to_string(),
            op: FilterOp::Ge,
            value,
        });
    }
    query.order_by = Some(field.to_string());
    query
}

/// Cursor values are date-times or numbers; compare them as such.
pub fn compare_cursor(a: &str, b: &str) -> std::cmp::Ordering {
    let moment = |s: &str| crate::value::parse::datetime_of(&Value::str(s));
    match (moment(a), moment(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => match (
            a.parse::<rust_decimal::Decimal>(),
            b.parse::<rust_decimal::Decimal>(),
        ) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_goes_back_by_the_overlap() {
        assert_eq!(
            resume_from(Some("2024-03-01T12:00:00Z"), Duration::from_secs(3600)).as_deref(),
            Some("2024-03-01T11:00:00Z")
        );
        assert_eq!(
            resume_from(Some("1042"), Duration::from_secs(3600)).as_deref(),
            Some("1042")
        );
        assert_eq!(resume_from(None, Duration::from_secs(1)), None);
    }
}
