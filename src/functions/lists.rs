//! List functions.

use rust_decimal::Decimal;

use super::ParamKind::*;
use super::*;
use crate::types::{Kind, Type};
use crate::value::Value;

fn element_type(args: &[Arg]) -> Type {
    match args.first().map(|a| &a.ty.kind) {
        Some(Kind::List(elem)) => (**elem).clone(),
        _ => Type::ANY,
    }
}

pub(super) const FUNCTIONS: &[Builtin] = &[
    Builtin {
        name: "length",
        category: Category::List,
        params: &[p("value", Any), opt("units", Str)],
        doc: "The number of items in a list, fields in a record, or characters in a string. `units` is `\"chars\"` or `\"utf16\"` (UTF-16 code units, as .NET counts: an emoji is 2); in a flow it defaults to the unit of the schema being written.",
        examples: &[
            ex("length([1, 2, 3])", "3"),
            ex(r#"length("été")"#, "3"),
            ex(r#"length("a😀")"#, "2"),
            ex(r#"length("a😀", "utf16")"#, "3"),
        ],
        returns: |_| Type::INT,
        eval: |a| match &a[0] {
            Value::List(l) => Ok(Value::int(l.len() as i64)),
            Value::Record(r) => Ok(Value::int(r.len() as i64)),
            Value::Str(s) => Ok(Value::int(
                super::strings::units_arg(a.get(1))?.length(s) as i64,
            )),
            other => Err(format!("cannot take the length of {}", describe(other))),
        },
    },
    Builtin {
        name: "sum",
        category: Category::List,
        params: &[p("numbers", List)],
        doc: "The exact sum of a list of numbers (0 for an empty list).",
        examples: &[ex("sum([0.1, 0.2])", "0.3"), ex("sum([])", "0")],
        returns: |args| match args.first().map(|a| &a.ty.kind) {
            Some(Kind::List(e)) if e.kind == Kind::Int => Type::INT,
            _ => Type::DECIMAL,
        },
        eval: |a| {
            let mut total = Decimal::ZERO;
            for item in arg_list(&a[0])? {
                total = crate::value::exact::add(total, arg_num(item)?).ok_or(
                    "the sum needs more than the 28 significant digits of the exact decimal range",
                )?;
            }
            Ok(Value::Num(total))
        },
    },
    Builtin {
        name: "first",
        category: Category::List,
        params: &[p("items", List)],
        doc: "The first item; absent for an empty list.",
        examples: &[ex("first([3, 4])", "3"), ex("first([]) ?? 0", "0")],
        returns: |args| {
            element_type(args).maybe(crate::types::Missing::Other {
                span: Default::default(),
            })
        },
        eval: |a| Ok(arg_list(&a[0])?.first().cloned().unwrap_or(Value::Absent)),
    },
    Builtin {
        name: "last",
        category: Category::List,
        params: &[p("items", List)],
        doc: "The last item; absent for an empty list.",
        examples: &[ex("last([3, 4])", "4")],
        returns: |args| {
            element_type(args).maybe(crate::types::Missing::Other {
                span: Default::default(),
            })
        },
        eval: |a| Ok(arg_list(&a[0])?.last().cloned().unwrap_or(Value::Absent)),
    },
    Builtin {
        name: "pluck",
        category: Category::List,
        params: &[p("records", List), p("field", Str)],
        doc: "The value of one field from every record in a list (absent where a record lacks it).",
        examples: &[ex(
            r#"pluck([{sku: "A"}, {sku: "B"}], "sku")"#,
            r#"["A","B"]"#,
        )],
        returns: |_| Type::list(Type::ANY),
        eval: |a| {
            let field = arg_str(&a[1])?;
            let mut out = Vec::new();
            for item in arg_list(&a[0])? {
                match item {
                    Value::Record(r) => out.push(r.get(field).cloned().unwrap_or(Value::Absent)),
                    other => return Err(format!("pluck needs records, found {}", describe(other))),
                }
            }
            Ok(Value::list(out))
        },
    },
    Builtin {
        name: "compact",
        category: Category::List,
        params: &[p("items", List)],
        doc: "The list without absent and null items.",
        examples: &[ex("compact([1, null, 2])", "[1,2]")],
        returns: |args| Type::list(element_type(args).present()),
        eval: |a| {
            Ok(Value::list(
                arg_list(&a[0])?
                    .iter()
                    .filter(|v| !v.is_missing())
                    .cloned()
                    .collect(),
            ))
        },
    },
    Builtin {
        name: "unique",
        category: Category::List,
        params: &[p("items", List)],
        doc: "The list with later duplicates removed, order kept.",
        examples: &[ex(r#"unique(["NL", "BE", "NL"])"#, r#"["NL","BE"]"#)],
        returns: same_as_first,
        eval: |a| {
            let mut out: Vec<Value> = Vec::new();
            for item in arg_list(&a[0])? {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(Value::list(out))
        },
    },
    Builtin {
        name: "sort",
        category: Category::List,
        params: &[p("items", List)],
        doc: "The list sorted ascending; all items must be of one comparable kind.",
        examples: &[ex("sort([3, 1, 2])", "[1,2,3]")],
        returns: same_as_first,
        eval: |a| {
            let mut items = arg_list(&a[0])?.to_vec();
            let mut error = None;
            items.sort_by(|x, y| {
                x.compare(y).unwrap_or_else(|| {
                    error = Some(format!(
                        "cannot compare {} with {}",
                        describe(x),
                        describe(y)
                    ));
                    std::cmp::Ordering::Equal
                })
            });
            match error {
                Some(e) => Err(e),
                None => Ok(Value::list(items)),
            }
        },
    },
    Builtin {
        name: "flatten",
        category: Category::List,
        params: &[p("lists", List)],
        doc: "Joins a list of lists into one list.",
        examples: &[ex("flatten([[1], [2, 3], []])", "[1,2,3]")],
        returns: |args| match args.first().map(|a| &a.ty.kind) {
            Some(Kind::List(e)) => match &e.kind {
                Kind::List(inner) => Type::list((**inner).clone()),
                _ => Type::list(Type::ANY),
            },
            _ => Type::list(Type::ANY),
        },
        eval: |a| {
            let mut out = Vec::new();
            for item in arg_list(&a[0])? {
                out.extend(arg_list(item)?.iter().cloned());
            }
            Ok(Value::list(out))
        },
    },
];
