//! Write bodies checked against a model, the way eAccounting's model
//! binding does it: property names match case-insensitively, read-only and
//! unknown properties are ignored, and every problem is reported at once.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::{schema, Field, Kind, Schema};
use crate::eaccounting::errors::ApiError;
use crate::eaccounting::values::{decimal_of, format_date, number, parse_datetime, utf16_len};

/// Validation messages collected while walking a body; reported together.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<String>);

impl Problems {
    pub fn add(&mut self, path: &str, field: &str, msg: impl AsRef<str>) {
        self.0.push(format!("{path}{field}: {}", msg.as_ref()));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_error(self) -> ApiError {
        ApiError::validation(format!("DataModelValidationError - {}", self.0.join(" | ")))
    }
}

fn lookup<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    // JSON.NET binds property names case-insensitively; so does the real API.
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Checks `body` against `schema` and returns the writable properties that
/// were sent, normalised (dates formatted, numbers exact). Read-only and
/// unknown properties are dropped, as the real API ignores them.
pub fn check(
    schema: &Schema,
    body: &Value,
    path: &str,
    problems: &mut Problems,
) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(obj) = body.as_object() else {
        problems.add(path, &schema.name, "expected a JSON object");
        return out;
    };
    for f in schema.fields.iter().filter(|f| !f.read_only) {
        let value = lookup(obj, &f.name).unwrap_or(&Value::Null);
        if value.is_null() {
            if f.required {
                problems.add(path, &f.name, format!("The {} field is required.", f.name));
            }
            continue;
        }
        let mut at = At { f, path, problems };
        if let Some(v) = at.value(value) {
            out.insert(f.name.clone(), v);
        }
    }
    out
}

/// One property being checked: where to report what is wrong with it.
struct At<'a> {
    f: &'a Field,
    path: &'a str,
    problems: &'a mut Problems,
}

impl At<'_> {
    fn report(&mut self, message: impl AsRef<str>) -> Option<Value> {
        self.problems.add(self.path, &self.f.name, message);
        None
    }

    fn expected(&mut self, want: &str, got: &Value) -> Option<Value> {
        self.report(format!("expected {want}, got {got}"))
    }

    /// The value, normalised, or `None` with the problem reported.
    fn value(&mut self, value: &Value) -> Option<Value> {
        match &self.f.kind {
            Kind::Str(max) => self.string(value, *max),
            Kind::Uuid => match value.as_str().map(uuid::Uuid::parse_str) {
                Some(Ok(id)) => Some(Value::String(id.to_string())),
                Some(Err(_)) => self.expected("a GUID", value),
                None => self.expected("a GUID string", value),
            },
            Kind::Bool => match value {
                Value::Bool(_) => Some(value.clone()),
                _ => self.expected("true or false", value),
            },
            Kind::Int(min, max) => self.int(value, *min, *max),
            Kind::Dec { min, max, scale } => self.decimal(value, *min, *max, *scale),
            Kind::Date | Kind::DateTime => match value.as_str().map(parse_datetime) {
                Some(Some(dt)) => Some(Value::String(format_date(dt))),
                Some(None) => self.expected("a date (YYYY-MM-DD or ISO 8601)", value),
                None => self.expected("a date string", value),
            },
            Kind::StrList => match value.as_array() {
                Some(items) if items.iter().all(Value::is_string) => Some(value.clone()),
                _ => self.expected("an array of strings", value),
            },
            Kind::Json => match value {
                Value::Array(_) => Some(value.clone()),
                _ => self.expected("an array", value),
            },
            Kind::Object => Some(value.clone()),
            Kind::Rows(rows) => self.rows(value, schema(rows)),
        }
    }

    fn string(&mut self, value: &Value, max: Option<usize>) -> Option<Value> {
        let Some(text) = value.as_str() else {
            return self.expected("a string", value);
        };
        let len = utf16_len(text);
        match max {
            Some(max) if len > max => self.report(format!(
                "The field {} must be a string with a maximum length of {max} (got {len}).",
                self.f.name
            )),
            _ => Some(value.clone()),
        }
    }

    fn int(&mut self, value: &Value, min: i64, max: i64) -> Option<Value> {
        let whole = decimal_of(value).filter(|d| d.fract() == Decimal::ZERO);
        let Some(i) = whole.and_then(|d| d.to_i64()) else {
            return self.expected("an integer", value);
        };
        if i < min || i > max {
            let name = &self.f.name;
            return self.report(format!("The field {name} must be between {min} and {max}."));
        }
        Some(Value::Number(i.into()))
    }

    fn decimal(
        &mut self,
        value: &Value,
        min: Option<i64>,
        max: Option<i64>,
        scale: Option<u32>,
    ) -> Option<Value> {
        let Some(d) = decimal_of(value) else {
            return self.expected("a number", value);
        };
        if min.is_some_and(|m| d < Decimal::from(m)) || max.is_some_and(|m| d > Decimal::from(m)) {
            let lo = min.map_or("-inf".into(), |m| m.to_string());
            let hi = max.map_or("inf".into(), |m| m.to_string());
            let name = &self.f.name;
            return self.report(format!("The field {name} must be between {lo} and {hi}."));
        }
        match scale {
            Some(scale) if d.normalize().scale() > scale => {
                self.report(format!("at most {scale} decimals are allowed (got {d})."))
            }
            _ => Some(number(d)),
        }
    }

    fn rows(&mut self, value: &Value, rows: &Schema) -> Option<Value> {
        let Some(items) = value.as_array() else {
            return self.expected("an array", value);
        };
        let checked = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let row_path = format!("{}{}[{i}].", self.path, self.f.name);
                Value::Object(check(rows, item, &row_path, self.problems))
            })
            .collect();
        Some(Value::Array(checked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(model: &str, body: &Value) -> Vec<String> {
        let mut p = Problems::default();
        check(schema(model), body, "", &mut p);
        p.0
    }

    #[test]
    fn required_and_max_length_are_reported_with_field_names() {
        let body = json!({"Name": "x".repeat(51), "IsActive": true});
        let all = problems("CustomerApi", &body).join("\n");
        assert!(all.contains("Name: The field Name must be a string with a maximum length of 50"));
        assert!(all.contains("InvoiceCity: The InvoiceCity field is required."));
        assert!(all.contains("TermsOfPaymentId: The TermsOfPaymentId field is required."));
        assert!(!all.contains("IsActive"));
    }

    #[test]
    fn utf16_length_counts_like_dotnet() {
        // An emoji is two UTF-16 units: 25 of them fill a 50-unit field.
        let body = json!({"Name": "😀".repeat(26), "IsActive": true, "Number": "A",
            "CodingId": uuid::Uuid::nil().to_string(), "UnitId": uuid::Uuid::nil().to_string()});
        let p = problems("ArticleApi", &body);
        assert_eq!(p.len(), 1, "{p:?}");
    }

    #[test]
    fn decimals_are_exact_and_scale_checked() {
        let body: Value = serde_json::from_str(
            r#"{"IsActive":true,"Number":"A","Name":"B","CodingId":"00000000-0000-0000-0000-000000000000",
               "UnitId":"00000000-0000-0000-0000-000000000000","NetPrice":10.005,"GrossPrice":1.10}"#,
        )
        .unwrap();
        let mut p = Problems::default();
        let out = check(schema("ArticleApi"), &body, "", &mut p);
        assert_eq!(p.0.len(), 1, "{:?}", p.0);
        assert!(p.0[0].starts_with("NetPrice"));
        assert_eq!(out["GrossPrice"].to_string(), "1.1");
    }

    #[test]
    fn rows_get_indexed_paths_and_fraction_bounds() {
        let body = json!({"CustomerId": uuid::Uuid::nil().to_string(), "EuThirdParty": false,
            "RotReducedInvoicingType": 0,
            "Rows": [{"IsTextRow": false, "ReversedConstructionServicesVatFree": false,
                      "DiscountPercentage": 1.5}]});
        assert_eq!(
            problems("CustomerInvoiceDraftApi", &body),
            vec![
                "Rows[0].DiscountPercentage: The field DiscountPercentage must be between 0 and 1."
            ]
        );
    }

    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            "-?[0-9]{1,30}(\\.[0-9]{1,30})?(e[0-9]{1,3})?"
                .prop_map(|n| serde_json::from_str(&n).unwrap_or(Value::Null)),
            "\\PC{0,60}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        proptest::sample::select(vec![
                            "Rows",
                            "ArticleId",
                            "IsTextRow",
                            "Quantity",
                            "UnitPrice",
                            "Name",
                            "CustomerId"
                        ]),
                        inner
                    ),
                    0..6
                )
                .prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn check_never_panics(body in any_json()) {
            for model in [
                "CustomerInvoiceDraftApi",
                "OrderApi",
                "CustomerInvoiceApi",
                "CustomerApi",
                "ArticleApi",
                "VoucherApi",
            ] {
                let mut p = Problems::default();
                let _ = check(schema(model), &body, "", &mut p);
            }
        }
    }
}
