//! The eAccounting models as data: one [`Schema`] per API model, written in
//! `model/schemas.txt` and read once.
//! The emulator validates write bodies with it ([`check`]), shapes every
//! response with it ([`Schema::complete`]) and type-checks `$filter` and
//! `$orderby` against it; flowc's tests compare it with
//! `stdlib/eaccounting.flow`.

mod check;
mod load;

pub use check::{check, Problems};

use serde_json::{Map, Value};

use crate::models::{self, Catalogue, Model};

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A string of at most this many UTF-16 code units, as .NET's
    /// `StringLength` counts; `None` when no maximum is documented.
    Str(Option<usize>),
    Uuid,
    Bool,
    Int(i64, i64),
    Dec {
        min: Option<i64>,
        max: Option<i64>,
        scale: Option<u32>,
    },
    /// A business date; accepts `YYYY-MM-DD` or an ISO 8601 date-time.
    Date,
    /// A timestamp the server sets (`…Utc`).
    DateTime,
    StrList,
    /// Rows of the model of that name.
    Rows(String),
    /// An embedded object the server fills (read-only).
    Object,
    /// An array of small objects kept as sent (labels, persons, barcodes).
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub kind: Kind,
    pub required: bool,
    pub read_only: bool,
}

models::named!(Field);

/// One API model (`CustomerApi`): its properties in wire order.
pub type Schema = Model<Field>;

/// The models of `schemas.txt`, read on first use.
pub static SCHEMAS: Catalogue<Field> = Catalogue::new(
    "eaccounting/model/schemas.txt",
    include_str!("schemas.txt"),
    load::field,
);

pub fn schema(name: &str) -> &'static Schema {
    SCHEMAS.get(name)
}

impl Schema {
    /// Builds the response shape: every property in model order, `null` (or
    /// `[]` for row arrays) where unset.
    pub fn complete(&self, mut values: Map<String, Value>) -> Value {
        let mut out = Map::new();
        for f in &self.fields {
            let v = values.remove(&f.name).unwrap_or(match f.kind {
                Kind::Rows(_) => Value::Array(vec![]),
                _ => Value::Null,
            });
            out.insert(f.name.clone(), v);
        }
        Value::Object(out)
    }

    /// The most a string property may hold, if it is a string with a maximum.
    pub fn max_len(&self, name: &str) -> Option<usize> {
        match self.field(name).map(|f| &f.kind) {
            Some(Kind::Str(max)) => *max,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_file_reads_and_rows_resolve() {
        assert!(SCHEMAS.all().len() >= 22);
        for s in SCHEMAS.all() {
            for f in &s.fields {
                if let Kind::Rows(rows) = &f.kind {
                    assert!(
                        SCHEMAS.all().iter().any(|r| &r.name == rows),
                        "{}.{}",
                        s.name,
                        f.name
                    );
                }
                assert!(!(f.required && f.read_only), "{}.{}", s.name, f.name);
                let twice = s.fields.iter().filter(|g| g.name == f.name).count() > 1;
                assert!(!twice, "{}.{} twice", s.name, f.name);
            }
        }
    }

    #[test]
    fn groups_stand_in_for_their_fields() {
        for name in [
            "CustomerInvoiceDraftApi",
            "OrderApi",
            "QuoteApi",
            "CustomerApi",
        ] {
            assert_eq!(
                schema(name).max_len("DeliveryPostalCode"),
                Some(10),
                "{name}"
            );
        }
        assert_eq!(
            schema("CustomerApi").max_len("DeliveryCustomerName"),
            Some(100)
        );
        assert_eq!(schema("OrderApi").max_len("DeliveryCustomerName"), Some(50));
    }
}
