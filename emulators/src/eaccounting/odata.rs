//! The OData v4 subset eAccounting's list endpoints accept: `$filter`,
//! `$orderby`, `$select`, `$page`, `$pagesize`.
//!
//! Filters are parsed and type-checked against the model's [`Schema`]
//! before any row is looked at, the way ASP.NET OData does: an unknown
//! property or `CustomerNumber eq 1001` (string vs number) is a 400, not an
//! empty result. Property names are case-sensitive; string comparison is
//! ordinal (case-sensitive), so `tolower()` is needed for case-blind search.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use super::model::{Field, Kind, Schema};
use super::values::{decimal_of, parse_datetime};

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(Decimal),
    Bool(bool),
    Null,
    Guid(uuid::Uuid),
    Date(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Num,
    Bool,
    Guid,
    Date,
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Prop(&'static Field),
    Lit(Lit),
    ToLower(Box<Operand>),
    ToUpper(Box<Operand>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrFn {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, CmpOp, Operand),
    Str(StrFn, Operand, Operand),
    /// A bare boolean property, e.g. `$filter=IsActive`.
    Truthy(Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Lit),
    LParen,
    RParen,
    Comma,
}

fn is_guid_at(chars: &[char], i: usize) -> bool {
    if i + 36 > chars.len() {
        return false;
    }
    let text: String = chars[i..i + 36].iter().collect();
    let shaped = text.char_indices().all(|(k, c)| match k {
        8 | 13 | 18 | 23 => c == '-',
        _ => c.is_ascii_hexdigit(),
    });
    let boundary = chars
        .get(i + 36)
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == '_'));
    shaped && boundary && uuid::Uuid::parse_str(&text).is_ok()
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            toks.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            toks.push(Tok::RParen);
            i += 1;
        } else if c == ',' {
            toks.push(Tok::Comma);
            i += 1;
        } else if c == '\'' {
            let start = i;
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "unterminated string literal starting at position {start}"
                        ))
                    }
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        text.push(*ch);
                        i += 1;
                    }
                }
            }
            toks.push(Tok::Lit(Lit::Str(text)));
        } else if is_guid_at(&chars, i) {
            let text: String = chars[i..i + 36].iter().collect();
            let id = uuid::Uuid::parse_str(&text).map_err(|e| e.to_string())?;
            toks.push(Tok::Lit(Lit::Guid(id)));
            i += 36;
        } else if c.is_ascii_digit() || c == '-' {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | ':' | '-' | '+'))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let looks_like_date = text.len() >= 10 && text.as_bytes().get(4) == Some(&b'-');
            if looks_like_date {
                let dt = parse_datetime(&text)
                    .ok_or_else(|| format!("'{text}' is not a valid date-time literal"))?;
                toks.push(Tok::Lit(Lit::Date(dt)));
            } else {
                let d = text
                    .trim_end_matches(['m', 'M', 'd', 'D', 'L', 'l', 'f', 'F'])
                    .parse::<Decimal>()
                    .map_err(|_| format!("'{text}' is not a valid number literal"))?;
                toks.push(Tok::Lit(Lit::Num(d)));
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            toks.push(match word.as_str() {
                "true" => Tok::Lit(Lit::Bool(true)),
                "false" => Tok::Lit(Lit::Bool(false)),
                "null" => Tok::Lit(Lit::Null),
                _ => Tok::Ident(word),
            });
        } else {
            return Err(format!("unexpected character '{c}' at position {i}"));
        }
    }
    Ok(toks)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    schema: &'static Schema,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Ident(w)) => Some(w.as_str()),
            _ => None,
        }
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expect(&mut self, want: Tok, what: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => Err(format!("expected {what}, found {}", describe(&t))),
            None => Err(format!("expected {what}, found the end of the expression")),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, String> {
        let mut left = self.and_expr()?;
        while self.peek_word() == Some("or") {
            self.pos += 1;
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_word() == Some("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_word() == Some("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or_expr()?;
            self.expect(Tok::RParen, "')'")?;
            return Ok(e);
        }
        if let Some(f) = self.peek_word().and_then(|w| match w {
            "contains" => Some(StrFn::Contains),
            "startswith" => Some(StrFn::StartsWith),
            "endswith" => Some(StrFn::EndsWith),
            _ => None,
        }) {
            self.pos += 1;
            self.expect(Tok::LParen, "'(' after the function name")?;
            let a = self.operand()?;
            self.expect(Tok::Comma, "','")?;
            let b = self.operand()?;
            self.expect(Tok::RParen, "')'")?;
            for o in [&a, &b] {
                let t = type_of(o);
                if t != Ty::Str {
                    return Err(format!(
                        "the function '{}' takes string arguments, found {}",
                        fn_name(f),
                        ty_name(t)
                    ));
                }
            }
            return Ok(Expr::Str(f, a, b));
        }
        let left = self.operand()?;
        let op = match self.peek_word() {
            Some("eq") => CmpOp::Eq,
            Some("ne") => CmpOp::Ne,
            Some("gt") => CmpOp::Gt,
            Some("ge") => CmpOp::Ge,
            Some("lt") => CmpOp::Lt,
            Some("le") => CmpOp::Le,
            _ => {
                if type_of(&left) == Ty::Bool && matches!(left, Operand::Prop(_)) {
                    return Ok(Expr::Truthy(left));
                }
                return Err(match self.peek() {
                    Some(t) => format!("expected a comparison operator (eq, ne, gt, ge, lt, le), found {}", describe(t)),
                    None => "expected a comparison operator (eq, ne, gt, ge, lt, le) at the end of the expression".into(),
                });
            }
        };
        self.pos += 1;
        let right = self.operand()?;
        let (lt, rt) = (type_of(&left), type_of(&right));
        let compatible = lt == rt || lt == Ty::Null || rt == Ty::Null;
        if !compatible {
            return Err(format!(
                "a binary operator with incompatible types was detected: found operand types '{}' and '{}' for operator '{}'",
                ty_name(lt),
                ty_name(rt),
                op_name(op)
            ));
        }
        let ordering = !matches!(op, CmpOp::Eq | CmpOp::Ne);
        if ordering && (lt == Ty::Null || rt == Ty::Null || lt == Ty::Bool) {
            return Err(format!(
                "the operator '{}' cannot compare {}",
                op_name(op),
                ty_name(lt)
            ));
        }
        Ok(Expr::Cmp(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.next() {
            Some(Tok::Lit(l)) => Ok(Operand::Lit(l)),
            Some(Tok::Ident(name)) if self.peek() == Some(&Tok::LParen) => {
                let lower = name.as_str();
                if lower != "tolower" && lower != "toupper" {
                    return Err(format!("unknown or unsupported function '{name}'"));
                }
                self.pos += 1;
                let inner = self.operand()?;
                self.expect(Tok::RParen, "')'")?;
                if type_of(&inner) != Ty::Str {
                    return Err(format!("the function '{name}' takes a string argument"));
                }
                Ok(if lower == "tolower" {
                    Operand::ToLower(Box::new(inner))
                } else {
                    Operand::ToUpper(Box::new(inner))
                })
            }
            Some(Tok::Ident(name)) => match self.schema.field(&name) {
                Some(f) if property_type(f).is_some() => Ok(Operand::Prop(f)),
                Some(_) => Err(format!(
                    "the property '{name}' on type '{}' cannot be used in a filter",
                    self.schema.name
                )),
                None => {
                    let hint = self
                        .schema
                        .fields
                        .iter()
                        .find(|f| f.name.eq_ignore_ascii_case(&name))
                        .map(|f| {
                            format!(
                                " (property names are case-sensitive: did you mean '{}'?)",
                                f.name
                            )
                        })
                        .unwrap_or_default();
                    Err(format!(
                        "could not find a property named '{name}' on type '{}'{hint}",
                        self.schema.name
                    ))
                }
            },
            Some(t) => Err(format!(
                "expected a property, literal or function, found {}",
                describe(&t)
            )),
            None => Err(
                "expected a property, literal or function, found the end of the expression".into(),
            ),
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(w) => format!("'{w}'"),
        Tok::Lit(l) => format!("the literal {l:?}"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
    }
}

fn fn_name(f: StrFn) -> &'static str {
    match f {
        StrFn::Contains => "contains",
        StrFn::StartsWith => "startswith",
        StrFn::EndsWith => "endswith",
    }
}

fn op_name(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq",
        CmpOp::Ne => "ne",
        CmpOp::Gt => "gt",
        CmpOp::Ge => "ge",
        CmpOp::Lt => "lt",
        CmpOp::Le => "le",
    }
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Ty::Str => "Edm.String",
        Ty::Num => "Edm.Decimal",
        Ty::Bool => "Edm.Boolean",
        Ty::Guid => "Edm.Guid",
        Ty::Date => "Edm.DateTimeOffset",
        Ty::Null => "null",
    }
}

fn property_type(f: &Field) -> Option<Ty> {
    match &f.kind {
        Kind::Str(_) => Some(Ty::Str),
        Kind::Uuid => Some(Ty::Guid),
        Kind::Bool => Some(Ty::Bool),
        Kind::Int(..) | Kind::Dec { .. } => Some(Ty::Num),
        Kind::Date | Kind::DateTime => Some(Ty::Date),
        Kind::StrList | Kind::Rows(_) | Kind::Object | Kind::Json => None,
    }
}

fn type_of(o: &Operand) -> Ty {
    match o {
        Operand::Prop(f) => property_type(f).unwrap_or(Ty::Null),
        Operand::Lit(Lit::Str(_)) => Ty::Str,
        Operand::Lit(Lit::Num(_)) => Ty::Num,
        Operand::Lit(Lit::Bool(_)) => Ty::Bool,
        Operand::Lit(Lit::Null) => Ty::Null,
        Operand::Lit(Lit::Guid(_)) => Ty::Guid,
        Operand::Lit(Lit::Date(_)) => Ty::Date,
        Operand::ToLower(_) | Operand::ToUpper(_) => Ty::Str,
    }
}

/// Parses and type-checks a `$filter` for one model.
pub fn parse_filter(src: &str, schema: &'static Schema) -> Result<Expr, String> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return Err("the $filter expression is empty".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        schema,
    };
    let e = p.or_expr()?;
    if let Some(t) = p.peek() {
        return Err(format!(
            "unexpected {} after a complete expression",
            describe(t)
        ));
    }
    Ok(e)
}

fn value_of(o: &Operand, row: &Value) -> Lit {
    match o {
        Operand::Lit(l) => l.clone(),
        Operand::Prop(f) => typed(f, row.get(&f.name).unwrap_or(&Value::Null)),
        Operand::ToLower(inner) => match value_of(inner, row) {
            Lit::Str(s) => Lit::Str(s.to_lowercase()),
            other => other,
        },
        Operand::ToUpper(inner) => match value_of(inner, row) {
            Lit::Str(s) => Lit::Str(s.to_uppercase()),
            other => other,
        },
    }
}

fn typed(f: &Field, v: &Value) -> Lit {
    if v.is_null() {
        return Lit::Null;
    }
    match property_type(f) {
        Some(Ty::Str) => v.as_str().map_or(Lit::Null, |s| Lit::Str(s.to_string())),
        Some(Ty::Guid) => v
            .as_str()
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
            .map_or(Lit::Null, Lit::Guid),
        Some(Ty::Bool) => v.as_bool().map_or(Lit::Null, Lit::Bool),
        Some(Ty::Num) => decimal_of(v).map_or(Lit::Null, Lit::Num),
        Some(Ty::Date) => v
            .as_str()
            .and_then(parse_datetime)
            .map_or(Lit::Null, Lit::Date),
        _ => Lit::Null,
    }
}

fn compare(a: &Lit, b: &Lit) -> Option<Ordering> {
    match (a, b) {
        (Lit::Str(x), Lit::Str(y)) => Some(x.cmp(y)),
        (Lit::Num(x), Lit::Num(y)) => Some(x.cmp(y)),
        (Lit::Bool(x), Lit::Bool(y)) => Some(x.cmp(y)),
        (Lit::Guid(x), Lit::Guid(y)) => Some(x.cmp(y)),
        (Lit::Date(x), Lit::Date(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

pub fn eval(e: &Expr, row: &Value) -> bool {
    match e {
        Expr::Or(a, b) => eval(a, row) || eval(b, row),
        Expr::And(a, b) => eval(a, row) && eval(b, row),
        Expr::Not(a) => !eval(a, row),
        Expr::Truthy(o) => value_of(o, row) == Lit::Bool(true),
        Expr::Str(f, a, b) => match (value_of(a, row), value_of(b, row)) {
            (Lit::Str(x), Lit::Str(y)) => match f {
                StrFn::Contains => x.contains(&y),
                StrFn::StartsWith => x.starts_with(&y),
                StrFn::EndsWith => x.ends_with(&y),
            },
            _ => false,
        },
        Expr::Cmp(a, op, b) => {
            let (x, y) = (value_of(a, row), value_of(b, row));
            // Null semantics as in OData: null equals only null, and every
            // ordering comparison with null is false.
            if x == Lit::Null || y == Lit::Null {
                let both = x == Lit::Null && y == Lit::Null;
                return match op {
                    CmpOp::Eq => both,
                    CmpOp::Ne => !both,
                    _ => false,
                };
            }
            let Some(ord) = compare(&x, &y) else {
                return false;
            };
            match op {
                CmpOp::Eq => ord == Ordering::Equal,
                CmpOp::Ne => ord != Ordering::Equal,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
            }
        }
    }
}

/// `$orderby=Name desc, CustomerNumber`.
pub fn parse_orderby(
    src: &str,
    schema: &'static Schema,
) -> Result<Vec<(&'static Field, bool)>, String> {
    let mut keys = Vec::new();
    for part in src.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (name, desc) = match words.as_slice() {
            [name] => (*name, false),
            [name, dir] if dir.eq_ignore_ascii_case("asc") => (*name, false),
            [name, dir] if dir.eq_ignore_ascii_case("desc") => (*name, true),
            _ => {
                return Err(format!(
                    "'{}' is not a valid $orderby clause (expected 'Property [asc|desc]')",
                    part.trim()
                ))
            }
        };
        let field = schema
            .field(name)
            .filter(|f| property_type(f).is_some())
            .ok_or_else(|| {
                format!(
                    "could not find a sortable property named '{name}' on type '{}'",
                    schema.name
                )
            })?;
        keys.push((field, desc));
    }
    Ok(keys)
}

/// Stable sort; nulls sort first ascending, as SQL Server does.
pub fn sort(rows: &mut [Value], keys: &[(&'static Field, bool)]) {
    rows.sort_by(|a, b| {
        for (f, desc) in keys {
            let (x, y) = (
                typed(f, a.get(&f.name).unwrap_or(&Value::Null)),
                typed(f, b.get(&f.name).unwrap_or(&Value::Null)),
            );
            let ord = match (&x, &y) {
                (Lit::Null, Lit::Null) => Ordering::Equal,
                (Lit::Null, _) => Ordering::Less,
                (_, Lit::Null) => Ordering::Greater,
                _ => compare(&x, &y).unwrap_or(Ordering::Equal),
            };
            let ord = if *desc { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
}

#[cfg(test)]
mod tests {
    use super::super::model::schema;
    use super::*;
    use serde_json::json;

    fn matches(filter: &str, row: &Value) -> bool {
        let e =
            parse_filter(filter, schema("CustomerApi")).unwrap_or_else(|e| panic!("{filter}: {e}"));
        eval(&e, row)
    }

    #[test]
    fn escaped_quote_in_literal() {
        let row = json!({"EmailAddress": "o'brien@example.com"});
        assert!(matches("EmailAddress eq 'o''brien@example.com'", &row));
        assert!(!matches("EmailAddress eq 'obrien@example.com'", &row));
    }

    #[test]
    fn guids_bare_and_case_insensitive() {
        let id = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        let row = json!({"TermsOfPaymentId": id});
        assert!(matches(
            &format!("TermsOfPaymentId eq {}", id.to_uppercase()),
            &row
        ));
        assert!(matches(
            "TermsOfPaymentId ne 00000000-0000-0000-0000-000000000000",
            &row
        ));
    }

    #[test]
    fn functions_logic_and_precedence() {
        let row = json!({"Name": "Acme BV", "IsActive": true, "DiscountPercentage": 0.1, "ChangedUtc": "2025-02-01T00:00:00.000Z"});
        assert!(matches("contains(Name,'cme')", &row));
        assert!(!matches("contains(Name,'ACME')", &row));
        assert!(matches("contains(tolower(Name),'acme')", &row));
        assert!(matches(
            "startswith(Name,'Ac') and not endswith(Name,'AB')",
            &row
        ));
        assert!(matches(
            "IsActive eq false or Name eq 'Acme BV' and IsActive",
            &row
        ));
        assert!(!matches(
            "(IsActive eq false or Name eq 'Acme BV') and IsActive eq false",
            &row
        ));
        assert!(matches(
            "DiscountPercentage gt 0.05 and DiscountPercentage le 0.1",
            &row
        ));
        assert!(matches("ChangedUtc gt 2025-01-01T00:00:00Z", &row));
        assert!(matches("ChangedUtc lt 2025-02-01T01:00:00+00:00", &row));
        assert!(matches("EmailAddress eq null", &row));
        assert!(!matches("EmailAddress gt 'a'", &row));
    }

    #[test]
    fn rejects_bad_filters_with_reasons() {
        let err = |f: &str| parse_filter(f, schema("CustomerApi")).unwrap_err();
        assert!(err("Nmae eq 'x'").contains("could not find a property named 'Nmae'"));
        assert!(err("name eq 'x'").contains("did you mean 'Name'"));
        assert!(err("CustomerNumber eq 1001").contains("incompatible types"));
        assert!(err("Name eq 'x").contains("unterminated"));
        assert!(err("Name eq 'x' and").contains("end of the expression"));
        assert!(err("Name = 'x'").contains("unexpected character"));
        assert!(err("(Name eq 'x'").contains("')'"));
        assert!(err("Name eq 'x' 'y'").contains("after a complete expression"));
        assert!(err("substringof('x',Name)").contains("unsupported function"));
        assert!(err("contains(IsActive,'x')").contains("string arguments"));
        assert!(err("").contains("empty"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        #[test]
        fn arbitrary_text_never_panics(src in "\\PC{0,80}") {
            let row = json!({"Name": "x", "IsActive": true});
            if let Ok(e) = parse_filter(&src, schema("CustomerApi")) {
                let _ = eval(&e, &row);
            }
            let _ = parse_orderby(&src, schema("CustomerApi"));
        }

        #[test]
        fn token_soup_never_panics(words in proptest::collection::vec(proptest::sample::select(vec![
            "Name", "IsActive", "DiscountPercentage", "ChangedUtc", "Id", "eq", "ne", "gt", "and", "or", "not",
            "(", ")", ",", "'a''b'", "1.5", "-2", "null", "true", "2025-01-01T00:00:00Z",
            "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "contains", "tolower", "startswith",
        ]), 0..12)) {
            let src = words.join(" ");
            let row = json!({"Name": "x", "IsActive": true, "DiscountPercentage": 0.5});
            if let Ok(e) = parse_filter(&src, schema("CustomerApi")) {
                let _ = eval(&e, &row);
            }
        }
    }

    #[test]
    fn orderby_sorts_with_nulls_first() {
        let mut rows = vec![
            json!({"Name": "b"}),
            json!({"Name": null}),
            json!({"Name": "a"}),
        ];
        sort(
            &mut rows,
            &parse_orderby("Name", schema("CustomerApi")).unwrap(),
        );
        assert_eq!(rows[0]["Name"], Value::Null);
        assert_eq!(rows[1]["Name"], "a");
        sort(
            &mut rows,
            &parse_orderby("Name desc", schema("CustomerApi")).unwrap(),
        );
        assert_eq!(rows[0]["Name"], "b");
        assert!(parse_orderby("Name sideways", schema("CustomerApi")).is_err());
        assert!(parse_orderby("Nope", schema("CustomerApi")).is_err());
    }
}
