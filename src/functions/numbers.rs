//! Number functions. All arithmetic is on exact decimals; rounding is always
//! explicit and names its mode.

use rust_decimal::{Decimal, RoundingStrategy};

use super::ParamKind::*;
use super::*;
use crate::types::{Kind, Type};
use crate::value::parse::parse_decimal;
use crate::value::Value;

fn numeric_result(args: &[Arg]) -> Type {
    match args.first().map(|a| &a.ty.kind) {
        Some(Kind::Int) => Type::INT,
        _ => Type::DECIMAL,
    }
}

fn rounding_mode(name: &str) -> Result<RoundingStrategy, String> {
    Ok(match name {
        "half_even" => RoundingStrategy::MidpointNearestEven,
        "half_up" => RoundingStrategy::MidpointAwayFromZero,
        "half_down" => RoundingStrategy::MidpointTowardZero,
        "up" => RoundingStrategy::AwayFromZero,
        "down" => RoundingStrategy::ToZero,
        "ceiling" => RoundingStrategy::ToPositiveInfinity,
        "floor" => RoundingStrategy::ToNegativeInfinity,
        other => {
            return Err(format!(
                "unknown rounding mode {other:?}; use half_up, half_even, half_down, up, down, ceiling or floor"
            ))
        }
    })
}

pub(super) const FUNCTIONS: &[Builtin] = &[
    Builtin {
        name: "round",
        category: Category::Number,
        params: &[p("number", Num), opt("places", Int), opt("mode", Str)],
        doc: "Rounds to `places` decimals (default 0). The mode defaults to `half_up` (0.5 away from zero, as on invoices); `half_even`, `half_down`, `up`, `down`, `ceiling` and `floor` are available.",
        examples: &[
            ex("round(2.345, 2)", "2.35"),
            ex(r#"round(2.345, 2, "half_even")"#, "2.34"),
            ex("round(-2.5)", "-3"),
            ex("round(10, 2)", "10.00"),
        ],
        returns: |args| if args.get(1).and_then(Arg::const_int) == Some(0) || args.len() == 1 { Type::INT } else { Type::DECIMAL },
        eval: |a| {
            let n = arg_num(&a[0])?;
            let places = match a.get(1) {
                Some(v) => arg_int(v)?,
                None => 0,
            };
            if !(0..=28).contains(&places) {
                return Err(format!("places must be between 0 and 28, got {places}"));
            }
            let mode = match a.get(2) {
                Some(v) => rounding_mode(arg_str(v)?)?,
                None => RoundingStrategy::MidpointAwayFromZero,
            };
            let mut r = n.round_dp_with_strategy(places as u32, mode);
            // Always show the requested places, so money prints as 10.00.
            r.rescale(places as u32);
            if r.scale() != places as u32 {
                // 23 integer digits leave room for 5 decimals, not 6.
                return Err(format!(
                    "{n} cannot have {places} decimals within the 28 significant digits of the exact decimal range"
                ));
            }
            Ok(Value::Num(r))
        },
    },
    Builtin {
        name: "floor",
        category: Category::Number,
        params: &[p("number", Num)],
        doc: "The largest integer not above the number.",
        examples: &[ex("floor(2.7)", "2"), ex("floor(-2.1)", "-3")],
        returns: |_| Type::INT,
        eval: |a| Ok(Value::Num(arg_num(&a[0])?.floor())),
    },
    Builtin {
        name: "ceil",
        category: Category::Number,
        params: &[p("number", Num)],
        doc: "The smallest integer not below the number.",
        examples: &[ex("ceil(2.1)", "3")],
        returns: |_| Type::INT,
        eval: |a| Ok(Value::Num(arg_num(&a[0])?.ceil())),
    },
    Builtin {
        name: "abs",
        category: Category::Number,
        params: &[p("number", Num)],
        doc: "The absolute value.",
        examples: &[ex("abs(-4.50)", "4.50")],
        returns: numeric_result,
        eval: |a| Ok(Value::Num(arg_num(&a[0])?.abs())),
    },
    Builtin {
        name: "min",
        category: Category::Number,
        params: &[p("a", Num), p("b", Num)],
        doc: "The smaller of two numbers.",
        examples: &[ex("min(3, 2.5)", "2.5")],
        returns: |args| if args.iter().all(|a| a.ty.kind == Kind::Int) { Type::INT } else { Type::DECIMAL },
        eval: |a| Ok(Value::Num(arg_num(&a[0])?.min(arg_num(&a[1])?))),
    },
    Builtin {
        name: "max",
        category: Category::Number,
        params: &[p("a", Num), p("b", Num)],
        doc: "The larger of two numbers (e.g. `max(stock - reserved, 0)`).",
        examples: &[ex("max(-2, 0)", "0")],
        returns: |args| if args.iter().all(|a| a.ty.kind == Kind::Int) { Type::INT } else { Type::DECIMAL },
        eval: |a| Ok(Value::Num(arg_num(&a[0])?.max(arg_num(&a[1])?))),
    },
    Builtin {
        name: "to_number",
        category: Category::Number,
        params: &[p("value", Any), opt("format", Str)],
        doc: "Reads a number from a string, or passes a number through. Without `format`, a point or a single comma is the decimal separator, and text that could mean two numbers fails: `\"1,234\"` is 1234 in the US and 1.234 in Europe. `format` says which separator is which: `\"1,234.56\"` (comma thousands, point decimals) or `\"1.234,56\"` (point thousands, comma decimals); thousands must then come in groups of three.",
        examples: &[
            ex(r#"to_number("12,95")"#, "12.95"),
            ex(r#"to_number("1,234")"#, "error: \"1,234\" is ambiguous"),
            ex(r#"to_number("1,234", "1,234.56")"#, "1234"),
            ex(r#"to_number("1.234,56", "1.234,56")"#, "1234.56"),
            ex(r#"to_number("1e3")"#, "error: \"1e3\" is not a decimal number"),
        ],
        returns: |_| Type::DECIMAL,
        eval: |a| match (&a[0], a.get(1)) {
            (Value::Num(d), _) => Ok(Value::Num(*d)),
            (Value::Str(s), None) => parse_decimal(s).map(Value::Num),
            (Value::Str(s), Some(f)) => {
                let sample = arg_str(f)?;
                let format = crate::value::parse::NumberFormat::from_sample(sample).ok_or_else(|| {
                    format!("format must be \"1,234.56\" or \"1.234,56\", got {sample:?}")
                })?;
                crate::value::parse::parse_decimal_as(s, format).map(Value::Num)
            }
            (other, _) => Err(format!("cannot read a number from {}", describe(other))),
        },
    },
    Builtin {
        name: "to_int",
        category: Category::Number,
        params: &[p("value", Any)],
        doc: "Reads an integer from a string or a number without decimals; fails on anything else.",
        examples: &[ex(r#"to_int("0042")"#, "42"), ex("to_int(2.5)", "error: 2.5 has decimals; use round() first")],
        returns: |_| Type::INT,
        eval: |a| {
            let d = match &a[0] {
                Value::Num(d) => *d,
                Value::Str(s) => parse_decimal(s)?,
                other => return Err(format!("cannot read an integer from {}", describe(other))),
            };
            if !d.fract().is_zero() {
                return Err(format!("{d} has decimals; use round() first"));
            }
            Ok(Value::Num(d.trunc()))
        },
    },
    Builtin {
        name: "percent_of",
        category: Category::Number,
        params: &[p("amount", Num), p("percent", Num)],
        doc: "`percent` per cent of `amount`, exactly (round it yourself).",
        examples: &[ex("percent_of(19.99, 21)", "4.1979")],
        returns: |_| Type::DECIMAL,
        eval: |a| {
            let amount = arg_num(&a[0])?;
            let pct = arg_num(&a[1])?;
            crate::value::exact::mul(amount, pct)
                .and_then(|x| {
                    // Exact only if multiplying back gives the product again.
                    let q = x.checked_div(Decimal::ONE_HUNDRED)?;
                    (crate::value::exact::mul(q, Decimal::ONE_HUNDRED) == Some(x)).then_some(q)
                })
                .map(|x| Value::Num(x.normalize()))
                .ok_or_else(|| "the result is beyond the exact decimal range".to_string())
        },
    },
];
