//! Reading `schemas.txt` into [`Schema`]s (the format is described at the
//! top of that file).

use super::{Field, Kind};
use crate::models::{self, Line, ModelError};

pub(super) fn field(line: &Line) -> Result<Field, ModelError> {
    if let Some(unknown) = line
        .flags
        .iter()
        .find(|f| !matches!(f.as_str(), "required" | "readonly"))
    {
        return Err(line.error(format!("unknown flag {unknown}")));
    }
    if !line.values.is_empty() {
        return Err(line.error("takes no settings"));
    }
    Ok(Field {
        name: line.name.clone(),
        kind: kind(&line.ty).ok_or_else(|| line.error(format!("unknown type {}", line.ty)))?,
        required: line.has("required"),
        read_only: line.has("readonly"),
    })
}

/// The text between `name(` and `)`.
fn args<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    text.strip_prefix(name)?
        .strip_prefix('(')?
        .strip_suffix(')')
}

fn kind(text: &str) -> Option<Kind> {
    if let Some(inner) = args(text, "list") {
        return Some(match inner {
            "string" => Kind::StrList,
            model => Kind::Rows(model.to_string()),
        });
    }
    if let Some(max) = args(text, "string") {
        return max.parse().ok().map(|m| Kind::Str(Some(m)));
    }
    if let Some(range) = args(text, "int") {
        let (lo, hi) = models::range(range)?;
        return Some(Kind::Int(lo?, hi.unwrap_or(i64::MAX)));
    }
    if let Some(inner) = args(text, "decimal") {
        return decimal(inner);
    }
    Some(match text {
        "string" => Kind::Str(None),
        "uuid" => Kind::Uuid,
        "bool" => Kind::Bool,
        "int" => Kind::Int(i64::from(i32::MIN), i64::from(i32::MAX)),
        "decimal" => Kind::Dec {
            min: None,
            max: None,
            scale: None,
        },
        "date" => Kind::Date,
        "datetime" => Kind::DateTime,
        "object" => Kind::Object,
        "json" => Kind::Json,
        _ => return None,
    })
}

/// `S` (decimals) or `A..B,S` (bounds and decimals; `A..` has no upper end).
fn decimal(inner: &str) -> Option<Kind> {
    let (range, scale) = match inner.split_once(',') {
        Some((range, scale)) => (Some(range), scale),
        None => (None, inner),
    };
    let (min, max) = match range {
        Some(r) => models::range(r)?,
        None => (None, None),
    };
    Some(Kind::Dec {
        min,
        max,
        scale: Some(scale.parse().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind("string(50)"), Some(Kind::Str(Some(50))));
        assert_eq!(kind("int(0..22)"), Some(Kind::Int(0, 22)));
        assert_eq!(kind("int(1..)"), Some(Kind::Int(1, i64::MAX)));
        assert_eq!(
            kind("decimal(0..1,4)"),
            Some(Kind::Dec {
                min: Some(0),
                max: Some(1),
                scale: Some(4)
            })
        );
        assert_eq!(
            kind("decimal(2)"),
            Some(Kind::Dec {
                min: None,
                max: None,
                scale: Some(2)
            })
        );
        assert_eq!(
            kind("list(OrderRowApi)"),
            Some(Kind::Rows("OrderRowApi".into()))
        );
        assert_eq!(kind("money"), None);
        let line = models::parse("M\n  A string shiny\n").expect("parses")[0].fields[0].clone();
        assert!(field(&line).is_err_and(|e| e.0.contains("shiny")));
    }
}
