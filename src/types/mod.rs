//! Static types. The checker knows what every expression can hold, so it
//! can say before a run that a value may be missing, too long or of the
//! wrong kind for the field it is mapped onto.

pub mod validate;

use std::fmt;
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::source_map::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Unknown (untyped input): accepted everywhere, checked at run time.
    Any,
    /// The type of `fail(...)`: never produces a value.
    Never,
    Null,
    Bool,
    Int,
    Decimal,
    /// `max` is the longest the string can be, when known, counted in `units`.
    Str {
        max: Option<u32>,
        units: LengthUnit,
    },
    Uuid,
    Date,
    DateTime,
    /// One of these exact strings.
    Enum(Arc<[Arc<str>]>),
    List(Box<Type>),
    Record(Arc<RecordType>),
}

/// Why a value may be missing: the diagnostic differs for each.
#[derive(Debug, Clone, PartialEq)]
pub enum Missing {
    /// An optional field (`x?` in its schema), read at `span`.
    OptionalField { name: Arc<str>, span: Span },
    /// A table lookup without a default row.
    LookupMiss { table: Arc<str>, span: Span },
    /// `null`, `?.`, or a function that can return nothing.
    Other { span: Span },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Type {
    pub kind: Kind,
    pub missing: Option<Missing>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldType {
    pub name: Arc<str>,
    pub ty: Type,
    pub optional: bool,
    pub readonly: bool,
    pub range: Option<(Decimal, Decimal)>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordType {
    /// The schema's qualified name (`ccvshop.orders`) when it has one.
    pub name: Option<Arc<str>>,
    pub fields: Vec<FieldType>,
    /// An open record accepts fields beyond those listed (record literals are closed).
    pub open: bool,
    /// How the service counts the length of its strings (`string(N)`).
    pub units: LengthUnit,
}

/// How a service counts a string's length: what `string(N)`, `truncate`,
/// `length` and the max-length checks count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LengthUnit {
    /// Unicode scalar values (Rust's `char`s, Python's `len`).
    #[default]
    Chars,
    /// UTF-16 code units (.NET, Java, JavaScript): a character outside the
    /// Basic Multilingual Plane, such as an emoji, counts two.
    Utf16,
}

impl LengthUnit {
    /// Whether `s` is at most `max` units long. Neither unit counts more
    /// than a string's UTF-8 bytes, so a short string needs no counting.
    #[inline]
    pub fn fits(self, s: &str, max: usize) -> bool {
        s.len() <= max || self.length(s) <= max
    }

    pub fn length(self, s: &str) -> usize {
        match self {
            LengthUnit::Chars => s.chars().count(),
            LengthUnit::Utf16 => s.encode_utf16().count(),
        }
    }
    pub fn of_char(self, c: char) -> usize {
        match self {
            LengthUnit::Chars => 1,
            LengthUnit::Utf16 => c.len_utf16(),
        }
    }
    /// "characters", "UTF-16 code units"
    pub fn name(self) -> &'static str {
        match self {
            LengthUnit::Chars => "characters",
            LengthUnit::Utf16 => "UTF-16 code units",
        }
    }
    /// The word a flow writes: `chars`, `utf16`.
    pub fn keyword(self) -> &'static str {
        match self {
            LengthUnit::Chars => "chars",
            LengthUnit::Utf16 => "utf16",
        }
    }
    pub fn from_keyword(s: &str) -> Option<LengthUnit> {
        match s {
            "chars" | "characters" => Some(LengthUnit::Chars),
            "utf16" => Some(LengthUnit::Utf16),
            _ => None,
        }
    }
    /// The longest a string of at most `max` of `from`'s units can be in these units.
    pub fn convert_max(self, max: u32, from: LengthUnit) -> u32 {
        match (from, self) {
            (LengthUnit::Chars, LengthUnit::Utf16) => max.saturating_mul(2),
            _ => max,
        }
    }
}

impl RecordType {
    pub fn field(&self, name: &str) -> Option<&FieldType> {
        self.fields.iter().find(|f| &*f.name == name)
    }
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| &*f.name)
    }
    pub fn display_name(&self) -> String {
        self.name
            .as_deref()
            .map(str::to_string)
            .unwrap_or_else(|| "the record".to_string())
    }
}

impl Type {
    pub const fn of(kind: Kind) -> Type {
        Type {
            kind,
            missing: None,
        }
    }
    pub const ANY: Type = Type::of(Kind::Any);
    pub const BOOL: Type = Type::of(Kind::Bool);
    pub const INT: Type = Type::of(Kind::Int);
    pub const DECIMAL: Type = Type::of(Kind::Decimal);
    pub const DATE: Type = Type::of(Kind::Date);
    pub const DATETIME: Type = Type::of(Kind::DateTime);
    pub const NEVER: Type = Type::of(Kind::Never);
    pub fn string() -> Type {
        Type::of(Kind::Str {
            max: None,
            units: LengthUnit::Chars,
        })
    }
    /// A string of at most `max` characters.
    pub fn string_max(max: Option<u32>) -> Type {
        Type::string_max_in(max, LengthUnit::Chars)
    }
    /// A string of at most `max` of `units`.
    pub fn string_max_in(max: Option<u32>, units: LengthUnit) -> Type {
        Type::of(Kind::Str { max, units })
    }
    pub fn list(elem: Type) -> Type {
        Type::of(Kind::List(Box::new(elem)))
    }
    pub fn maybe(mut self, why: Missing) -> Type {
        if self.missing.is_none() {
            self.missing = Some(why);
        }
        self
    }
    pub fn present(mut self) -> Type {
        self.missing = None;
        self
    }
    pub fn is_any(&self) -> bool {
        matches!(self.kind, Kind::Any)
    }
    pub fn is_numeric(&self) -> bool {
        matches!(
            self.kind,
            Kind::Int | Kind::Decimal | Kind::Any | Kind::Never
        )
    }
    pub fn is_stringy(&self) -> bool {
        matches!(
            self.kind,
            Kind::Str { .. } | Kind::Uuid | Kind::Enum(_) | Kind::Any | Kind::Never
        )
    }
    /// The longest its text can be, in characters.
    pub fn max_len(&self) -> Option<u32> {
        self.max_len_in(LengthUnit::Chars)
    }

    /// The longest its text can be, counted in `units`.
    pub fn max_len_in(&self, units: LengthUnit) -> Option<u32> {
        match &self.kind {
            Kind::Str { max, units: from } => max.map(|m| units.convert_max(m, *from)),
            Kind::Uuid => Some(36),
            Kind::Enum(items) => items.iter().map(|s| units.length(s) as u32).max(),
            Kind::Int => Some(20),
            Kind::Decimal => Some(30),
            Kind::Bool => Some(5),
            Kind::Date => Some(10),
            Kind::DateTime => Some(35),
            Kind::Null => Some(4),
            _ => None,
        }
    }

    /// The smallest type holding values of both (for `if`, `??`, table rows).
    pub fn join(&self, other: &Type) -> Type {
        let kind = match (&self.kind, &other.kind) {
            (Kind::Never, k) | (k, Kind::Never) => k.clone(),
            (Kind::Null, k) | (k, Kind::Null) => {
                let mut t = Type::of(k.clone());
                if !matches!(k, Kind::Null) {
                    t.missing = Some(Missing::Other {
                        span: Span::default(),
                    });
                }
                t.missing = t.missing.or(self.missing.clone()).or(other.missing.clone());
                return t;
            }
            (a, b) if a == b => a.clone(),
            (Kind::Int, Kind::Decimal) | (Kind::Decimal, Kind::Int) => Kind::Decimal,
            (
                Kind::Enum(_) | Kind::Str { .. } | Kind::Uuid,
                Kind::Enum(_) | Kind::Str { .. } | Kind::Uuid,
            ) => {
                let units = match (&self.kind, &other.kind) {
                    (Kind::Str { units, .. }, _) | (_, Kind::Str { units, .. }) => *units,
                    _ => LengthUnit::Chars,
                };
                Kind::Str {
                    max: self
                        .max_len_in(units)
                        .zip(other.max_len_in(units))
                        .map(|(a, b)| a.max(b)),
                    units,
                }
            }
            (Kind::List(a), Kind::List(b)) => Kind::List(Box::new(a.join(b))),
            // Records with the same fields (two record literals of one
            // shape): each field joined.
            (Kind::Record(a), Kind::Record(b))
                if a.fields.len() == b.fields.len()
                    && a.fields
                        .iter()
                        .zip(&b.fields)
                        .all(|(x, y)| x.name == y.name) =>
            {
                Kind::Record(Arc::new(RecordType {
                    name: a.name.clone(),
                    fields: a
                        .fields
                        .iter()
                        .zip(&b.fields)
                        .map(|(x, y)| {
                            let ty = x.ty.join(&y.ty);
                            FieldType {
                                optional: x.optional || y.optional || ty.missing.is_some(),
                                ty: ty.present(),
                                ..x.clone()
                            }
                        })
                        .collect(),
                    open: a.open || b.open,
                    units: a.units,
                }))
            }
            _ => Kind::Any,
        };
        Type {
            kind,
            missing: self.missing.clone().or(other.missing.clone()),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if self.missing.is_some() && !matches!(self.kind, Kind::Null) {
            f.write_str("?")?;
        }
        Ok(())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Any => f.write_str("any"),
            Kind::Never => f.write_str("never"),
            Kind::Null => f.write_str("null"),
            Kind::Bool => f.write_str("bool"),
            Kind::Int => f.write_str("int"),
            Kind::Decimal => f.write_str("decimal"),
            Kind::Str { max: Some(n), .. } => write!(f, "string({n})"),
            Kind::Str { max: None, .. } => f.write_str("string"),
            Kind::Uuid => f.write_str("uuid"),
            Kind::Date => f.write_str("date"),
            Kind::DateTime => f.write_str("datetime"),
            Kind::Enum(items) => {
                let parts: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
                f.write_str(&parts.join(" | "))
            }
            Kind::List(t) => write!(f, "list<{t}>"),
            Kind::Record(r) => match &r.name {
                Some(n) => f.write_str(n),
                None => f.write_str("record"),
            },
        }
    }
}

/// Why a value cannot go where it is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    Kind,
    TooLong { max: u32, have: Option<u32> },
}

/// Can a value of type `from` be stored where `to` is expected?
/// Missing-ness is judged separately by the caller.
pub fn assignable(from: &Type, to: &Type) -> Result<(), Mismatch> {
    let ok = match (&from.kind, &to.kind) {
        (Kind::Any | Kind::Never, _) | (_, Kind::Any) => true,
        (Kind::Null, _) => true,
        (a, b) if a == b => true,
        (Kind::Int, Kind::Decimal) => true,
        (
            Kind::Str { .. } | Kind::Enum(_) | Kind::Uuid,
            Kind::Str {
                max: Some(max),
                units,
            },
        ) => {
            return match from.max_len_in(*units) {
                Some(have) if have <= *max => Ok(()),
                have => Err(Mismatch::TooLong { max: *max, have }),
            }
        }
        (Kind::Str { .. } | Kind::Enum(_) | Kind::Uuid, Kind::Str { max: None, .. }) => true,
        (Kind::Str { .. }, Kind::Uuid | Kind::Enum(_)) => true,
        (Kind::Enum(a), Kind::Enum(b)) => a.iter().all(|x| b.contains(x)),
        (Kind::Uuid, Kind::Enum(_)) => false,
        // Dates may arrive as ISO strings from JSON and as values from date().
        (Kind::Str { .. }, Kind::Date | Kind::DateTime) => true,
        // A date is a moment at midnight UTC; a moment is not a date: which
        // day it falls on depends on the offset, so that takes date(x).
        (Kind::Date, Kind::DateTime) => true,
        (Kind::List(a), Kind::List(b)) => return assignable(a, b),
        (Kind::Record(_), Kind::Record(_)) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Mismatch::Kind)
    }
}
