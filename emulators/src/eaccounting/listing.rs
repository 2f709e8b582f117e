//! A list answer: the `{Meta, Data}` envelope with OData `$filter`,
//! `$orderby`, `$page`/`$pagesize` and `$select` (notes §4).

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::errors::ApiError;
use super::model::Schema;
use super::odata;
use super::request::param;
use super::values::format_utc;

/// [I] unconfirmed: 50 per page unless asked, at most 500 (notes §4).
const MAX_PAGE_SIZE: usize = 500;
const DEFAULT_PAGE_SIZE: usize = 50;

const OPTIONS: &[&str] = &["$filter", "$orderby", "$select", "$page", "$pagesize"];

fn invalid(what: &str, e: String) -> ApiError {
    ApiError::validation(format!("Invalid {what}: {e}"))
}

/// The `{Meta, Data}` envelope around `rows`, filtered, sorted, paged and
/// projected, in that order.
pub(crate) fn list(
    schema: &'static Schema,
    mut rows: Vec<Value>,
    params: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    if let Some((k, _)) = params
        .iter()
        .find(|(k, _)| k.starts_with('$') && !OPTIONS.contains(&k.as_str()))
    {
        return Err(ApiError::validation(format!(
            "The query parameter '{k}' is not supported; use $filter, $orderby, $select, $page and $pagesize."
        )));
    }
    if let Some(f) = param(params, "$filter") {
        let expr = odata::parse_filter(f, schema).map_err(|e| invalid("$filter", e))?;
        rows.retain(|r| odata::eval(&expr, r));
    }
    if let Some(o) = param(params, "$orderby") {
        let keys = odata::parse_orderby(o, schema).map_err(|e| invalid("$orderby", e))?;
        odata::sort(&mut rows, &keys);
    }
    let page = whole(params, "$page", 1)?;
    let page_size = whole(params, "$pagesize", DEFAULT_PAGE_SIZE)?.min(MAX_PAGE_SIZE);
    let select = selected(schema, param(params, "$select"))?;
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip((page - 1).saturating_mul(page_size))
        .take(page_size)
        .map(|row| project(row, select.as_deref()))
        .collect();
    Ok(json!({
        "Meta": {
            "CurrentPage": page,
            "PageSize": page_size,
            "TotalNumberOfPages": total.div_ceil(page_size),
            "TotalNumberOfResults": total,
            "ServerTimeUtc": format_utc(now),
        },
        "Data": data,
    }))
}

/// A paging parameter: a whole number of at least 1.
fn whole(params: &[(String, String)], name: &str, default: usize) -> Result<usize, ApiError> {
    let Some(v) = param(params, name) else {
        return Ok(default);
    };
    match v.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(ApiError::validation(format!(
            "Invalid {name}: '{v}' must be a whole number of at least 1."
        ))),
    }
}

/// The properties `$select` names, each one the model has.
fn selected(
    schema: &'static Schema,
    select: Option<&str>,
) -> Result<Option<Vec<&'static str>>, ApiError> {
    let Some(select) = select else {
        return Ok(None);
    };
    select
        .split(',')
        .map(|name| {
            let name = name.trim();
            schema.field(name).map(|f| f.name.as_str()).ok_or_else(|| {
                let on = &schema.name;
                invalid(
                    "$select",
                    format!("could not find a property named '{name}' on type '{on}'"),
                )
            })
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

fn project(row: Value, select: Option<&[&str]>) -> Value {
    let Some(fields) = select else {
        return row;
    };
    let m: Map<String, Value> = fields
        .iter()
        .map(|f| (f.to_string(), row.get(*f).cloned().unwrap_or(Value::Null)))
        .collect();
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eaccounting::model::schema;

    #[test]
    fn paging_arithmetic() {
        let rows: Vec<Value> = (0..123)
            .map(|i| json!({"Code": format!("{i:03}")}))
            .collect();
        let params = vec![("$page".to_string(), "3".to_string())];
        let out = list(schema("CurrencyApi"), rows.clone(), &params, Utc::now()).unwrap();
        assert_eq!(out["Meta"]["TotalNumberOfPages"], 3);
        assert_eq!(out["Meta"]["TotalNumberOfResults"], 123);
        assert_eq!(out["Data"].as_array().unwrap().len(), 23);
        assert_eq!(out["Data"][0]["Code"], "100");
        let params = vec![("$pagesize".to_string(), "1000".to_string())];
        let out = list(schema("CurrencyApi"), rows.clone(), &params, Utc::now()).unwrap();
        assert_eq!(out["Meta"]["PageSize"], 500);
        let params = vec![("$page".to_string(), "0".to_string())];
        assert!(list(schema("CurrencyApi"), rows.clone(), &params, Utc::now()).is_err());
        let params = vec![("$top".to_string(), "5".to_string())];
        assert!(list(schema("CurrencyApi"), rows, &params, Utc::now()).is_err());
    }
}
