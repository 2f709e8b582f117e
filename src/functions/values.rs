//! Values, records, countries and explicit failure.

use std::sync::Arc;

use super::ParamKind::*;
use super::*;
use crate::types::{Kind, Missing, Type};
use crate::value::{Record, Value};

/// One country flowc knows by name.
struct Country {
    code: &'static str,
    en: &'static str,
    nl: &'static str,
    de: &'static str,
    eu: bool,
}

/// The countries, read once from `countries.tsv` (data, kept out of the code).
fn countries() -> &'static [Country] {
    static COUNTRIES: std::sync::OnceLock<Vec<Country>> = std::sync::OnceLock::new();
    COUNTRIES.get_or_init(|| {
        include_str!("countries.tsv")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let mut cells = l.split('\t');
                Some(Country {
                    code: cells.next()?,
                    en: cells.next()?,
                    nl: cells.next()?,
                    de: cells.next()?,
                    eu: cells.next()? == "1",
                })
            })
            .collect()
    })
}

fn country(code: &str) -> Option<&'static Country> {
    countries()
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code))
}

pub(crate) fn country_code(input: &str) -> Option<&'static str> {
    let t = input.trim();
    let lower = t.to_lowercase();
    let aliases = [
        ("the netherlands", "NL"),
        ("holland", "NL"),
        ("uk", "GB"),
        ("great britain", "GB"),
        ("usa", "US"),
    ];
    if let Some((_, code)) = aliases.iter().find(|(a, _)| *a == lower) {
        return Some(code);
    }
    countries()
        .iter()
        .find(|c| {
            c.code.eq_ignore_ascii_case(t)
                || c.en.to_lowercase() == lower
                || c.nl.to_lowercase() == lower
                || c.de.to_lowercase() == lower
        })
        .map(|c| c.code)
}

pub(super) const FUNCTIONS: &[Builtin] = &[
    Builtin {
        name: "exists",
        category: Category::Value,
        params: &[nullable("value", Any)],
        doc: "True unless the value is absent (a field that is null exists).",
        examples: &[ex("exists({a: 1}.a)", "true"), ex(r#"exists(get({a: 1}, "b"))"#, "false"), ex("exists(null)", "true")],
        returns: |_| Type::BOOL,
        eval: |a| Ok(Value::Bool(!matches!(a[0], Value::Absent))),
    },
    Builtin {
        name: "is_null",
        category: Category::Value,
        params: &[nullable("value", Any)],
        doc: "True when the value is null or absent.",
        examples: &[ex("is_null(null)", "true"), ex(r#"is_null("")"#, "false")],
        returns: |_| Type::BOOL,
        eval: |a| Ok(Value::Bool(a[0].is_missing())),
    },
    Builtin {
        name: "is_blank",
        category: Category::Value,
        params: &[nullable("value", Any)],
        doc: "True when the value is absent, null, or a string of only white space.",
        examples: &[ex(r#"is_blank("  ")"#, "true"), ex(r#"is_blank("x")"#, "false")],
        returns: |_| Type::BOOL,
        eval: |a| Ok(Value::Bool(match &a[0] {
            Value::Str(s) => s.trim().is_empty(),
            v => v.is_missing(),
        })),
    },
    Builtin {
        name: "blank_to_null",
        category: Category::Value,
        params: &[nullable("value", Any)],
        doc: "Null for a blank string, the value otherwise; follow it with `??` to supply a default for empty fields.",
        examples: &[ex(r#"blank_to_null(" ") ?? "unknown""#, r#""unknown""#)],
        returns: |args| {
            let t = args.first().map(|a| a.ty.clone()).unwrap_or(Type::ANY);
            t.maybe(Missing::Other { span: Default::default() })
        },
        eval: |a| Ok(match &a[0] {
            Value::Str(s) if s.trim().is_empty() => Value::Null,
            v => v.clone(),
        }),
    },
    Builtin {
        name: "to_string",
        category: Category::Value,
        params: &[p("value", Any)],
        doc: "The text of a number, boolean, date or string.",
        examples: &[ex("to_string(12.50)", r#""12.50""#), ex("to_string(true)", r#""true""#)],
        returns: |args| Type::string_max(args.first().and_then(|a| a.ty.max_len())),
        eval: |a| a[0].to_text().map(|t| Value::str(&t)).ok_or_else(|| format!("{} has no text form", describe(&a[0]))),
    },
    Builtin {
        name: "fail",
        category: Category::Value,
        params: &[p("message", Str)],
        doc: "Rejects the record with this message; it goes to the dead letters. Use it to handle a lookup miss explicitly: `t[k] ?? fail(\"no account for {k}\")`.",
        examples: &[ex(r#"fail("no VAT code for country XX")"#, "error: no VAT code for country XX")],
        returns: |_| Type::NEVER,
        eval: |a| Err(arg_str(&a[0])?.to_string()),
    },
    Builtin {
        name: "country_code",
        category: Category::Value,
        params: &[p("country", Str)],
        doc: "The ISO 3166 alpha-2 code of a country given by code or by English, Dutch or German name.",
        examples: &[ex(r#"country_code("Nederland")"#, r#""NL""#), ex(r#"country_code("be")"#, r#""BE""#)],
        returns: |_| Type::string_max(Some(2)),
        eval: |a| {
            let s = arg_str(&a[0])?;
            country_code(s).map(Value::str).ok_or_else(|| format!("{s:?} is not a country this tool knows; map it with a table"))
        },
    },
    Builtin {
        name: "country_name",
        category: Category::Value,
        params: &[p("code", Str), opt("language", Str)],
        doc: "The name of a country from its alpha-2 code, in English (`en`, default), Dutch (`nl`) or German (`de`).",
        examples: &[ex(r#"country_name("DE", "nl")"#, r#""Duitsland""#)],
        returns: |_| Type::string(),
        eval: |a| {
            let code = arg_str(&a[0])?;
            let lang = match a.get(1) {
                Some(v) => arg_str(v)?,
                None => "en",
            };
            let c = country(code)
                .ok_or_else(|| format!("{code:?} is not an ISO alpha-2 code this tool knows"))?;
            Ok(Value::str(match lang {
                "en" => c.en,
                "nl" => c.nl,
                "de" => c.de,
                other => return Err(format!("language {other:?} is not available; use en, nl or de")),
            }))
        },
    },
    Builtin {
        name: "is_eu",
        category: Category::Value,
        params: &[p("code", Str)],
        doc: "True for the alpha-2 code of an EU member state (for intra-community VAT rules).",
        examples: &[ex(r#"is_eu("BE")"#, "true"), ex(r#"is_eu("CH")"#, "false")],
        returns: |_| Type::BOOL,
        eval: |a| Ok(Value::Bool(country(arg_str(&a[0])?).is_some_and(|c| c.eu))),
    },
    Builtin {
        name: "keys",
        category: Category::Record,
        params: &[p("record", Record)],
        doc: "The field names of a record, in order.",
        examples: &[ex("keys({b: 1, a: 2})", r#"["b","a"]"#)],
        returns: |_| Type::list(Type::string()),
        eval: |a| match &a[0] {
            Value::Record(r) => Ok(Value::list(r.keys().map(Value::str).collect())),
            other => Err(format!("expected a record, got {}", describe(other))),
        },
    },
    Builtin {
        name: "get",
        category: Category::Record,
        params: &[p("record", Record), p("field", Str)],
        doc: "A field chosen at run time; absent when the record lacks it.",
        examples: &[ex(r#"get({nl: "Factuur"}, "nl")"#, r#""Factuur""#), ex(r#"get({}, "x") ?? "-""#, r#""-""#)],
        returns: |_| Type::ANY.maybe(Missing::Other { span: Default::default() }),
        eval: |a| match &a[0] {
            Value::Record(r) => Ok(r.get(arg_str(&a[1])?).cloned().unwrap_or(Value::Absent)),
            other => Err(format!("expected a record, got {}", describe(other))),
        },
    },
    Builtin {
        name: "merge",
        category: Category::Record,
        params: &[p("base", Record), p("overrides", Record)],
        doc: "The first record with the fields of the second laid over it.",
        examples: &[ex("merge({a: 1, b: 2}, {b: 3})", r#"{"a":1,"b":3}"#)],
        returns: |args| match args.first().map(|a| &a.ty.kind) {
            Some(Kind::Record(_)) | None => Type::of(Kind::Any),
            _ => Type::ANY,
        },
        eval: |a| match (&a[0], &a[1]) {
            (Value::Record(base), Value::Record(over)) => {
                let mut r: Record = (**base).clone();
                for (k, v) in over.iter() {
                    r.insert(Arc::clone(k), v.clone());
                }
                Ok(Value::record(r))
            }
            _ => Err("merge needs two records".into()),
        },
    },
];
