//! A typed OData v4 `$filter` builder for eAccounting's list endpoints.
//!
//! Expressions are built from [`field`]s and typed [`Lit`]erals, never from
//! pasted text, so quoting is decided by the type: strings in single quotes
//! with `'` doubled, GUIDs, dates and date-times bare, decimals with their
//! exact digits, booleans and `null` as keywords. [`encode_component`] then
//! percent-encodes the rendered expression for a URL query.
//!
//! ```
//! use flowc::connectors::eaccounting::odata::{field, Lit};
//! let f = field("EmailAddress").tolower().eq(Lit::str("o'brien@example.com"))
//!     .and(field("IsActive").eq(Lit::Bool(true)));
//! assert_eq!(f.render(), "tolower(EmailAddress) eq 'o''brien@example.com' and IsActive eq true");
//! ```

use std::fmt::Write;

use chrono::{DateTime, FixedOffset, NaiveDate};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rust_decimal::Decimal;

use crate::connectors::FilterOp;

/// A literal with its OData type.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Guid(uuid::Uuid),
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
    Decimal(Decimal),
    Int(i64),
    Bool(bool),
    Null,
}

impl Lit {
    pub fn str(s: impl Into<String>) -> Lit {
        Lit::Str(s.into())
    }

    fn render(&self, out: &mut String) {
        match self {
            Lit::Str(s) => {
                out.push('\'');
                out.push_str(&s.replace('\'', "''"));
                out.push('\'');
            }
            Lit::Guid(g) => {
                let _ = write!(out, "{}", g.hyphenated());
            }
            Lit::Date(d) => {
                let _ = write!(out, "{}", d.format("%Y-%m-%d"));
            }
            Lit::DateTime(dt) => out.push_str(&crate::value::format_datetime(dt)),
            Lit::Decimal(d) => {
                // `{}` prints the exact digits, never an exponent.
                let _ = write!(out, "{d}");
            }
            Lit::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Lit::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Lit::Null => out.push_str("null"),
        }
    }
}

/// Something that has a value in a row: a property, a literal, or a function of one.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Field(String),
    Lit(Lit),
    ToLower(Box<Operand>),
}

/// A property of the model. Names are PascalCase identifiers (`EmailAddress`);
/// anything else cannot be expressed and is rejected by [`Filter::validate`].
pub fn field(name: &str) -> Operand {
    Operand::Field(name.to_string())
}

/// True for names OData accepts as a property path (`Name`, `Meta/Page`).
pub fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|seg| {
            let mut chars = seg.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// The OData keyword of a comparison.
fn keyword(op: FilterOp) -> &'static str {
    match op {
        FilterOp::Eq => "eq",
        FilterOp::Ne => "ne",
        FilterOp::Gt => "gt",
        FilterOp::Ge => "ge",
        FilterOp::Lt => "lt",
        FilterOp::Le => "le",
    }
}

impl Operand {
    pub fn tolower(self) -> Operand {
        Operand::ToLower(Box::new(self))
    }
    pub fn cmp(self, op: FilterOp, value: Lit) -> Filter {
        Filter::Cmp(self, op, Operand::Lit(value))
    }
    pub fn eq(self, value: Lit) -> Filter {
        self.cmp(FilterOp::Eq, value)
    }
    pub fn ne(self, value: Lit) -> Filter {
        self.cmp(FilterOp::Ne, value)
    }
    pub fn gt(self, value: Lit) -> Filter {
        self.cmp(FilterOp::Gt, value)
    }
    pub fn ge(self, value: Lit) -> Filter {
        self.cmp(FilterOp::Ge, value)
    }
    pub fn lt(self, value: Lit) -> Filter {
        self.cmp(FilterOp::Lt, value)
    }
    pub fn le(self, value: Lit) -> Filter {
        self.cmp(FilterOp::Le, value)
    }
    pub fn contains(self, text: &str) -> Filter {
        Filter::Call("contains", self, Lit::str(text))
    }
    pub fn startswith(self, text: &str) -> Filter {
        Filter::Call("startswith", self, Lit::str(text))
    }

    fn render(&self, out: &mut String) {
        match self {
            Operand::Field(name) => out.push_str(name),
            Operand::Lit(l) => l.render(out),
            Operand::ToLower(inner) => {
                out.push_str("tolower(");
                inner.render(out);
                out.push(')');
            }
        }
    }

    fn fields<'a>(&'a self, into: &mut Vec<&'a str>) {
        match self {
            Operand::Field(f) => into.push(f),
            Operand::Lit(_) => {}
            Operand::ToLower(inner) => inner.fields(into),
        }
    }
}

/// A boolean `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Cmp(Operand, FilterOp, Operand),
    /// `contains(x,'…')`, `startswith(x,'…')`.
    Call(&'static str, Operand, Lit),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    pub fn and(self, other: Filter) -> Filter {
        Filter::And(Box::new(self), Box::new(other))
    }
    pub fn or(self, other: Filter) -> Filter {
        Filter::Or(Box::new(self), Box::new(other))
    }
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }
    /// All of `filters` (`None` when empty).
    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
        filters.into_iter().reduce(Filter::and)
    }

    /// Every property name is an identifier; returns the first that is not.
    pub fn validate(&self) -> Result<(), String> {
        let mut names = Vec::new();
        self.collect_fields(&mut names);
        match names.into_iter().find(|n| !is_identifier(n)) {
            Some(bad) => Err(format!(
                "`{bad}` is not a property name OData can filter on"
            )),
            None => Ok(()),
        }
    }

    fn collect_fields<'a>(&'a self, into: &mut Vec<&'a str>) {
        match self {
            Filter::Cmp(a, _, b) => {
                a.fields(into);
                b.fields(into);
            }
            Filter::Call(_, a, _) => a.fields(into),
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.collect_fields(into);
                b.collect_fields(into);
            }
            Filter::Not(a) => a.collect_fields(into),
        }
    }

    /// The expression as OData text (not yet URL-encoded).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out, 0);
        out
    }

    /// Precedence: or 1, and 2, not/atoms 3. Parenthesise a child whose
    /// precedence is lower than its parent needs.
    fn precedence(&self) -> u8 {
        match self {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            _ => 3,
        }
    }

    fn render_into(&self, out: &mut String, parent: u8) {
        let own = self.precedence();
        let paren = own < parent;
        if paren {
            out.push('(');
        }
        match self {
            Filter::Cmp(a, op, b) => {
                a.render(out);
                out.push(' ');
                out.push_str(keyword(*op));
                out.push(' ');
                b.render(out);
            }
            Filter::Call(name, a, lit) => {
                out.push_str(name);
                out.push('(');
                a.render(out);
                out.push(',');
                lit.render(out);
                out.push(')');
            }
            Filter::And(a, b) => {
                a.render_into(out, 2);
                out.push_str(" and ");
                b.render_into(out, 2);
            }
            Filter::Or(a, b) => {
                a.render_into(out, 1);
                out.push_str(" or ");
                b.render_into(out, 1);
            }
            Filter::Not(a) => {
                out.push_str("not ");
                // `not` binds tighter than comparisons' neighbours: always parenthesise.
                out.push('(');
                a.render_into(out, 0);
                out.push(')');
            }
        }
        if paren {
            out.push(')');
        }
    }
}

/// Characters that must be percent-encoded in a query component: everything
/// except the RFC 3986 unreserved set. `+`, `&`, `=`, `#`, `%`, `'` and space
/// are all encoded, so no server reads `+` as a space.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one query key or value (UTF-8).
pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// `k1=v1&k2=v2` with both sides encoded.
pub fn query_string(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn decoded(encoded: &str) -> String {
        percent_encoding::percent_decode_str(encoded)
            .decode_utf8()
            .unwrap()
            .into_owned()
    }

    #[test]
    fn awkward_strings_are_quoted_and_encoded() {
        let cases = [
            (
                "o'brien@example.com",
                "EmailAddress eq 'o''brien@example.com'",
            ),
            ("a&b=c", "EmailAddress eq 'a&b=c'"),
            ("100%", "EmailAddress eq '100%'"),
            ("Ångström ☃ 東京", "EmailAddress eq 'Ångström ☃ 東京'"),
            ("#1", "EmailAddress eq '#1'"),
            ("a+b@x.se", "EmailAddress eq 'a+b@x.se'"),
            ("''", "EmailAddress eq ''''''"),
        ];
        for (value, expected) in cases {
            let f = field("EmailAddress").eq(Lit::str(value));
            assert_eq!(f.render(), expected);
            let enc = encode_component(&f.render());
            for bad in ['&', '=', '#', '+', ' ', '\'', '%'] {
                // '%' only appears as the start of an escape.
                if bad == '%' {
                    assert!(enc
                        .split('%')
                        .skip(1)
                        .all(|s| s.len() >= 2 && s[..2].chars().all(|c| c.is_ascii_hexdigit())));
                } else {
                    assert!(!enc.contains(bad), "{enc} contains {bad:?}");
                }
            }
            assert!(enc.is_ascii());
            assert_eq!(decoded(&enc), expected, "round trip");
        }
        assert_eq!(
            encode_component("a+b 100%&#"),
            "a%2Bb%20100%25%26%23",
            "exact encoding"
        );
    }

    #[test]
    fn typed_literals_render_bare_or_exact() {
        let g = uuid::Uuid::from_str("0A1B2C3D-0000-4000-8000-00000000000F").unwrap();
        assert_eq!(
            field("CustomerId").eq(Lit::Guid(g)).render(),
            "CustomerId eq 0a1b2c3d-0000-4000-8000-00000000000f"
        );
        let d = NaiveDate::from_ymd_opt(2025, 1, 31).unwrap();
        assert_eq!(
            field("InvoiceDate").ge(Lit::Date(d)).render(),
            "InvoiceDate ge 2025-01-31"
        );
        let dt = DateTime::parse_from_rfc3339("2025-01-01T10:00:00Z").unwrap();
        assert_eq!(
            field("ChangedUtc").gt(Lit::DateTime(dt)).render(),
            "ChangedUtc gt 2025-01-01T10:00:00Z"
        );
        let price = Decimal::from_str("1234567890.1234567890").unwrap();
        assert_eq!(
            field("NetPrice").le(Lit::Decimal(price)).render(),
            "NetPrice le 1234567890.1234567890"
        );
        assert_eq!(
            field("NetPrice")
                .lt(Lit::Decimal(Decimal::from_str("0.10").unwrap()))
                .render(),
            "NetPrice lt 0.10"
        );
        assert_eq!(field("X").ne(Lit::Null).render(), "X ne null");
        assert_eq!(field("N").eq(Lit::Int(-3)).render(), "N eq -3");
    }

    #[test]
    fn logic_and_functions_parenthesise_by_precedence() {
        let f = field("A")
            .eq(Lit::Int(1))
            .or(field("B").eq(Lit::Int(2)))
            .and(field("C").eq(Lit::Bool(false)));
        assert_eq!(f.render(), "(A eq 1 or B eq 2) and C eq false");
        let f = field("A")
            .eq(Lit::Int(1))
            .and(field("B").eq(Lit::Int(2)))
            .or(field("Name").tolower().contains("o'b").not());
        assert_eq!(
            f.render(),
            "A eq 1 and B eq 2 or not (contains(tolower(Name),'o''b'))"
        );
        assert_eq!(
            field("Number").startswith("SKU-").render(),
            "startswith(Number,'SKU-')"
        );
        assert_eq!(Filter::all(vec![]), None);
        assert!(field("Bad Name").eq(Lit::Int(1)).validate().is_err());
        assert!(field("Name) or (1").eq(Lit::Int(1)).validate().is_err());
        assert!(field("Good_Name1").eq(Lit::Int(1)).validate().is_ok());
    }
}
