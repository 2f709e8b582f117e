//! Reading `resources.txt` into [`Resource`]s (the format is described at
//! the top of that file).

use super::{Bound, Field, Store, Type, Writes};
use crate::models::{self, Line, ModelError};

const FLAGS: &[&str] = &[
    "null",
    "post",
    "patch",
    "rw",
    "write-only",
    "id",
    "nonneg",
    "nonempty",
    "required",
    "clearable",
    "custom",
];
const VALUES: &[&str] = &["input", "range", "as", "hint"];

pub(super) fn field(line: &Line) -> Result<Field, ModelError> {
    if let Some(unknown) = line.flags.iter().find(|f| !FLAGS.contains(&f.as_str())) {
        return Err(line.error(format!("unknown flag {unknown}")));
    }
    if let Some((unknown, _)) = line
        .values
        .iter()
        .find(|(k, _)| !VALUES.contains(&k.as_str()))
    {
        return Err(line.error(format!("unknown setting {unknown}")));
    }
    let ty =
        |text: &str| parse_type(text).ok_or_else(|| line.error(format!("unknown type {text}")));
    Ok(Field {
        name: line.name.clone(),
        ty: ty(&line.ty)?,
        nullable: line.has("null"),
        read: !line.has("write-only"),
        writes: writes(line),
        input: line.value("input").map(ty).transpose()?,
        bound: bound(line)?,
        required: line.has("required"),
        clearable: line.has("clearable"),
        store: match (line.has("custom"), line.value("as")) {
            (true, _) => Store::Custom,
            (false, Some(name)) => Store::As(name.to_string()),
            (false, None) => Store::Same,
        },
        hint: line.value("hint").map(str::to_string),
    })
}

fn writes(line: &Line) -> Writes {
    match (line.has("rw"), line.has("post"), line.has("patch")) {
        (true, _, _) | (false, true, true) => Writes::Both,
        (false, true, false) => Writes::Post,
        (false, false, true) => Writes::Patch,
        (false, false, false) => Writes::Never,
    }
}

fn bound(line: &Line) -> Result<Bound, ModelError> {
    if let Some(text) = line.value("range") {
        return match models::range(text) {
            Some((Some(lo), Some(hi))) => Ok(Bound::Range(lo, hi)),
            _ => Err(line.error(format!("range {text} needs both ends"))),
        };
    }
    Ok(
        match (line.has("id"), line.has("nonneg"), line.has("nonempty")) {
            (true, _, _) => Bound::Id,
            (_, true, _) => Bound::NonNegative,
            (_, _, true) => Bound::NonEmpty,
            _ => Bound::None,
        },
    )
}

/// `string`, `string(N)`, `int`, `decimal`, `bool`, `datetime`, `any`,
/// `list(<type>)` or the name of another resource.
fn parse_type(text: &str) -> Option<Type> {
    if let Some(inner) = text.strip_prefix("list(").and_then(|t| t.strip_suffix(')')) {
        return parse_type(inner).map(|t| Type::List(Box::new(t)));
    }
    if let Some(max) = text
        .strip_prefix("string(")
        .and_then(|t| t.strip_suffix(')'))
    {
        return max.parse().ok().map(|max| Type::Str { max: Some(max) });
    }
    Some(match text {
        "string" => Type::Str { max: None },
        "int" => Type::Int,
        "decimal" => Type::Decimal,
        "bool" => Type::Bool,
        "datetime" => Type::DateTime,
        "any" => Type::Any,
        name if name.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
            Type::Object(name.to_string())
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_flags() {
        assert_eq!(parse_type("string(3)"), Some(Type::Str { max: Some(3) }));
        assert_eq!(
            parse_type("list(orderrow)"),
            Some(Type::List(Box::new(Type::Object("orderrow".into()))))
        );
        assert_eq!(parse_type("string(x)"), None);
        let line = |text: &str| models::parse(text).expect("parses")[0].fields[0].clone();
        let shiny = field(&line("r\n  b bool shiny\n"));
        assert!(shiny.is_err_and(|e| e.0.contains("unknown flag shiny")));
        let a = field(&line("r\n  a int null patch range=1..14 hint=\"say so\"\n")).expect("reads");
        assert_eq!((a.writes, a.bound), (Writes::Patch, Bound::Range(1, 14)));
        assert_eq!(a.hint.as_deref(), Some("say so"));
    }
}
