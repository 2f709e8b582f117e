//! Reading the source: from a file or a service, incrementally from the
//! cursor (with an overlap window, since shops rarely offer a reliable
//! "modified since"), with the simple parts of `where` pushed down.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::connectors::file::read_records;
use crate::connectors::{Connector, ConnectorError, Filter, FilterOp, ListQuery};
use crate::program::{Endpoint, Expr, Flow, Program};
use crate::syntax::ast::BinaryOp;
use crate::value::Value;

/// One record read, or why it could not be read.
pub struct Item {
    pub position: usize,
    pub record: Result<Value, String>,
}

/// The `where` conjuncts a service can apply: `field == constant` and bare
/// boolean fields. The engine still evaluates the whole filter itself.
pub fn pushdown(filter: Option<&Expr>) -> Vec<Filter> {
    let mut out = Vec::new();
    if let Some(e) = filter {
        collect(e, &mut out);
    }
    out
}

fn collect(e: &Expr, out: &mut Vec<Filter>) {
    match e {
        Expr::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
            ..
        } => {
            collect(lhs, out);
            collect(rhs, out);
        }
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
            let back = chrono::Duration::from_std(overlap).unwrap_or_default();
            let start: DateTime<Utc> = dt.to_utc() - back;
            Some(start.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        }
        // Not a time (an increasing number, say): resume exactly there.
        None => Some(c.to_string()),
    }
}

/// Reads every source record in order, handing each to `f` (false stops).
pub fn read(
    program: &Program,
    flow: &Flow,
    connector: Option<&Arc<dyn Connector>>,
    extra: Vec<Filter>,
    mut f: impl FnMut(Item) -> bool,
) -> Result<(), ConnectorError> {
    let schema = flow.source_schema.map(|i| &program.schemas[i]);
    match &flow.source {
        Endpoint::File {
            path,
            format,
            display,
            ..
        } => read_records(path, *format, schema.map(|s| &*s.record), |item| {
            f(Item {
                position: item.position,
                record: item.record,
            })
        })
        .map_err(|e| {
            ConnectorError::new(
                crate::connectors::ErrorClass::Config,
                format!("cannot read {display}: {e}"),
            )
        }),
        Endpoint::Resource { schema: name, .. } => {
            let Some(connector) = connector else {
                return Err(ConnectorError::new(
                    crate::connectors::ErrorClass::Config,
                    format!("no connection is open for {name}"),
                ));
            };
            let resource = schema.and_then(|s| s.resource.as_deref()).unwrap_or(name);
            let mut query = ListQuery {
                filters: pushdown(flow.filter.as_ref()),
                ..ListQuery::default()
            };
            query.filters.extend(extra);
            if let Some(cursor) = schema.and_then(|s| s.cursor.as_deref()) {
                query.order_by = Some(cursor.to_string());
            }
            let mut position = 0;
            connector.list(resource, &query, &mut |record| {
                position += 1;
                Ok(f(Item {
                    position,
                    record: Ok(record),
                }))
            })?;
            Ok(())
        }
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
