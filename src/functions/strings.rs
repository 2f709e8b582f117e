//! String functions. Lengths count Unicode characters, not bytes, because
//! that is how the target APIs count their limits.

use super::ParamKind::*;
use super::*;
use crate::types::LengthUnit;
use crate::types::Type;
use crate::value::Value;

fn string_like_first(args: &[Arg]) -> Type {
    Type::string_max(args.first().and_then(|a| a.ty.max_len()))
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

pub(super) const FUNCTIONS: &[Builtin] = &[
    Builtin {
        name: "lower",
        category: Category::String,
        params: &[p("text", Str)],
        doc: "Converts to lower case.",
        examples: &[ex(r#"lower("Jan@Example.NL")"#, r#""jan@example.nl""#)],
        returns: string_like_first,
        eval: |a| Ok(Value::str(&arg_str(&a[0])?.to_lowercase())),
    },
    Builtin {
        name: "upper",
        category: Category::String,
        params: &[p("text", Str)],
        doc: "Converts to upper case.",
        examples: &[ex(r#"upper("nl")"#, r#""NL""#)],
        returns: string_like_first,
        eval: |a| Ok(Value::str(&arg_str(&a[0])?.to_uppercase())),
    },
    Builtin {
        name: "trim",
        category: Category::String,
        params: &[p("text", Str)],
        doc: "Removes white space at both ends.",
        examples: &[ex(r#"trim("  Dorpsstraat 1 ")"#, r#""Dorpsstraat 1""#)],
        returns: string_like_first,
        eval: |a| Ok(Value::str(arg_str(&a[0])?.trim())),
    },
    Builtin {
        name: "trim_start",
        category: Category::String,
        params: &[p("text", Str)],
        doc: "Removes white space at the start.",
        examples: &[ex(r#"trim_start("  a ")"#, r#""a ""#)],
        returns: string_like_first,
        eval: |a| Ok(Value::str(arg_str(&a[0])?.trim_start())),
    },
    Builtin {
        name: "trim_end",
        category: Category::String,
        params: &[p("text", Str)],
        doc: "Removes white space at the end.",
        examples: &[ex(r#"trim_end("  a ")"#, r#""  a""#)],
        returns: string_like_first,
        eval: |a| Ok(Value::str(arg_str(&a[0])?.trim_end())),
    },
    Builtin {
        name: "truncate",
        category: Category::String,
        params: &[nullable("text", Str), p("max", Int), opt("units", Str)],
        doc: "Cuts the text to at most `max` characters (the way to satisfy a target's maximum length), never inside a character a reader sees as one (an emoji, a letter with its accent). A missing text stays missing (absent or null), so `x?.code | truncate(2)` writes nothing when there is no code. `units` is `\"chars\"` or `\"utf16\"` (UTF-16 code units, as .NET counts); in a flow it defaults to the unit of the schema being written (`length utf16` in its declaration), else characters.",
        examples: &[
            ex(r#"truncate("Bakkerij de Gouden Krakeling", 10)"#, r#""Bakkerij d""#),
            ex(r#"truncate("kort", 10)"#, r#""kort""#),
            ex(r#"truncate("Café 😀 Noord", 6)"#, r#""Café 😀""#),
            ex(r#"truncate("Café 😀 Noord", 6, "utf16")"#, r#""Café ""#),
            ex(r#"truncate("Cafe\u{301}s", 4)"#, r#""Caf""#),
        ],
        returns: |args| {
            // A literal limit makes the result's length known to the checker,
            // which is what lets `| truncate(50)` satisfy a 50-character field.
            let units = args
                .get(2)
                .and_then(|a| a.constant.as_ref())
                .and_then(Value::as_str)
                .and_then(LengthUnit::from_keyword)
                .unwrap_or_default();
            let limit = args.get(1).and_then(Arg::const_int).and_then(|n| u32::try_from(n).ok());
            let input = args.first().and_then(|a| a.ty.max_len_in(units));
            let t = Type::string_max_in(
                match (limit, input) {
                    (Some(l), Some(i)) => Some(l.min(i)),
                    (l, i) => l.or(i).filter(|_| limit.is_some()),
                },
                units,
            );
            match args.first().and_then(|a| a.ty.missing.clone()) {
                Some(why) => t.maybe(why),
                None => t,
            }
        },
        eval: |a| {
            if a[0].is_missing() {
                return Ok(a[0].clone());
            }
            let s = arg_str(&a[0])?;
            let max = arg_int(&a[1])?;
            if max < 0 {
                return Err(format!("max must not be negative, got {max}"));
            }
            let units = units_arg(a.get(2))?;
            let max = max as usize;
            if units.length(s) <= max {
                return Ok(a[0].clone());
            }
            Ok(Value::str(cut(s, max, units)))
        },
    },
    Builtin {
        name: "pad_start",
        category: Category::String,
        params: &[p("text", Str), p("width", Int), opt("fill", Str)],
        doc: "Pads on the left to `width` characters with `fill` (default a space).",
        examples: &[ex(r#"pad_start("42", 6, "0")"#, r#""000042""#)],
        returns: |_| Type::string(),
        eval: |a| pad(a, true),
    },
    Builtin {
        name: "pad_end",
        category: Category::String,
        params: &[p("text", Str), p("width", Int), opt("fill", Str)],
        doc: "Pads on the right to `width` characters with `fill` (default a space).",
        examples: &[ex(r#"pad_end("ab", 4, ".")"#, r#""ab..""#)],
        returns: |_| Type::string(),
        eval: |a| pad(a, false),
    },
    Builtin {
        name: "replace",
        category: Category::String,
        params: &[p("text", Str), p("from", Str), p("to", Str)],
        doc: "Replaces every occurrence of `from` with `to`.",
        examples: &[ex(r#"replace("06-1234 5678", " ", "")"#, r#""06-12345678""#)],
        returns: |_| Type::string(),
        eval: |a| {
            let from = arg_str(&a[1])?;
            if from.is_empty() {
                return Err("`from` must not be empty".into());
            }
            Ok(Value::str(&arg_str(&a[0])?.replace(from, arg_str(&a[2])?)))
        },
    },
    Builtin {
        name: "contains",
        category: Category::String,
        params: &[p("text", Str), p("part", Str)],
        doc: "True when `part` occurs in the text.",
        examples: &[ex(r#"contains("Gouden Krakeling", "Kra")"#, "true")],
        returns: |_| Type::BOOL,
        eval: |a| Ok(Value::Bool(arg_str(&a[0])?.contains(arg_str(&a[1])?))),
    },
    Builtin {
        name: "starts_with",
        category: Category::String,
        params: &[p("text", Str), p("prefix", Str)],
        doc: "True when the text starts with `prefix`.",
        examples: &[ex(r#"starts_with("SKU-100", "SKU-")"#, "true")],
        returns: |_| Type::BOOL,
        eval: |a| Ok(Value::Bool(arg_str(&a[0])?.starts_with(arg_str(&a[1])?))),
    },
    Builtin {
        name: "ends_with",
        category: Category::String,
        params: &[p("text", Str), p("suffix", Str)],
        doc: "True when the text ends with `suffix`.",
        examples: &[ex(r#"ends_with("jan@example.nl", ".nl")"#, "true")],
        returns: |_| Type::BOOL,
        eval: |a| Ok(Value::Bool(arg_str(&a[0])?.ends_with(arg_str(&a[1])?))),
    },
    Builtin {
        name: "split",
        category: Category::String,
        params: &[p("text", Str), p("separator", Str)],
        doc: "Splits the text at every `separator`.",
        examples: &[ex(r#"split("a,b,,c", ",")"#, r#"["a","b","","c"]"#)],
        returns: |_| Type::list(Type::string()),
        eval: |a| {
            let sep = arg_str(&a[1])?;
            if sep.is_empty() {
                return Err("the separator must not be empty".into());
            }
            Ok(Value::list(arg_str(&a[0])?.split(sep).map(Value::str).collect()))
        },
    },
    Builtin {
        name: "join",
        category: Category::String,
        params: &[p("items", List), opt("separator", Str)],
        doc: "Joins the text of the items, skipping absent and null ones.",
        examples: &[ex(r#"join(["Dorpsstraat", "1", null, "A"], " ")"#, r#""Dorpsstraat 1 A""#)],
        returns: |_| Type::string(),
        eval: |a| {
            let sep = match a.get(1) {
                Some(v) => arg_str(v)?,
                None => "",
            };
            let mut parts = Vec::new();
            for item in arg_list(&a[0])? {
                if item.is_missing() {
                    continue;
                }
                parts.push(item.to_text().ok_or_else(|| format!("cannot join {}", describe(item)))?);
            }
            Ok(Value::str(&parts.join(sep)))
        },
    },
    Builtin {
        name: "substring",
        category: Category::String,
        params: &[p("text", Str), p("start", Int), opt("length", Int)],
        doc: "The characters from `start` (0-based), at most `length` of them.",
        examples: &[ex(r#"substring("NL91ABNA0417164300", 0, 2)"#, r#""NL""#), ex(r#"substring("abc", 5)"#, r#""""#)],
        returns: |args| Type::string_max(args.first().and_then(|a| a.ty.max_len())),
        eval: |a| {
            let s = arg_str(&a[0])?;
            let start = arg_int(&a[1])?;
            if start < 0 {
                return Err(format!("start must not be negative, got {start}"));
            }
            let it = s.chars().skip(start as usize);
            let out: String = match a.get(2) {
                Some(len) => {
                    let len = arg_int(len)?;
                    if len < 0 {
                        return Err(format!("length must not be negative, got {len}"));
                    }
                    it.take(len as usize).collect()
                }
                None => it.collect(),
            };
            Ok(Value::str(&out))
        },
    },
    Builtin {
        name: "capitalize",
        category: Category::String,
        params: &[p("text", Str)],
        doc: "Upper-cases the first character.",
        examples: &[ex(r#"capitalize("amsterdam")"#, r#""Amsterdam""#)],
        returns: string_like_first,
        eval: |a| {
            let s = arg_str(&a[0])?;
            let mut c = s.chars();
            Ok(Value::str(&match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }))
        },
    },
    Builtin {
        name: "normalize_email",
        category: Category::String,
        params: &[p("email", Str)],
        doc: "Trims and lower-cases an e-mail address, the form used to match customers.",
        examples: &[ex(r#"normalize_email("  Jan.Jansen@Example.NL ")"#, r#""jan.jansen@example.nl""#)],
        returns: string_like_first,
        eval: |a| Ok(Value::str(&arg_str(&a[0])?.trim().to_lowercase())),
    },
    Builtin {
        name: "is_email",
        category: Category::String,
        params: &[p("text", Str)],
        doc: "True when the text looks like one e-mail address (local@domain.tld, no spaces).",
        examples: &[ex(r#"is_email("o'brien@example.ie")"#, "true"), ex(r#"is_email("jan@")"#, "false")],
        returns: |_| Type::BOOL,
        eval: |a| Ok(Value::Bool(looks_like_email(arg_str(&a[0])?))),
    },
];

fn pad(a: &[Value], at_start: bool) -> Result<Value, String> {
    let s = arg_str(&a[0])?;
    let width = arg_int(&a[1])?.max(0) as usize;
    let fill = match a.get(2) {
        Some(v) => arg_str(v)?,
        None => " ",
    };
    let mut fill_chars = fill.chars();
    let (Some(f), None) = (fill_chars.next(), fill_chars.next()) else {
        return Err(format!("fill must be one character, got {fill:?}"));
    };
    let n = chars(s);
    if n >= width {
        return Ok(a[0].clone());
    }
    let padding: String = std::iter::repeat_n(f, width - n).collect();
    Ok(Value::str(&if at_start {
        padding + s
    } else {
        s.to_string() + &padding
    }))
}

pub(crate) fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !s.chars().any(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
}

/// The `units` argument of `truncate` and `length`.
pub(super) fn units_arg(v: Option<&Value>) -> Result<LengthUnit, String> {
    match v {
        None => Ok(LengthUnit::Chars),
        Some(v) => {
            let s = arg_str(v)?;
            LengthUnit::from_keyword(s)
                .ok_or_else(|| format!("units must be \"chars\" or \"utf16\", got {s:?}"))
        }
    }
}

/// The longest prefix of whole extended grapheme clusters (what a reader
/// sees as one character: `e` with its accent, a family emoji) that is at
/// most `max` units long: a surrogate pair or a cluster is never split.
pub(super) fn cut(s: &str, max: usize, units: LengthUnit) -> &str {
    use unicode_segmentation::UnicodeSegmentation;
    let mut used = 0;
    let mut end = 0;
    for (i, g) in s.grapheme_indices(true) {
        let n: usize = g.chars().map(|c| units.of_char(c)).sum();
        if used + n > max {
            break;
        }
        used += n;
        end = i + g.len();
    }
    &s[..end]
}
