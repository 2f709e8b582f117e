//! CCV Shop's resources as data: every field a GET answers (and the few a
//! write takes that a GET does not show), with its type, its maximum length
//! and which writes may set it. The fields are written in
//! `model/resources.txt`, read once.
//!
//! This is the one description of the wire format inside the emulator:
//! responses are put in shape by [`Resource::render`], write bodies are
//! checked by [`Resource::check_write`] and stored by [`Resource::apply`].
//! flowc's tests compare it with `stdlib/ccvshop.flow`, so the emulator and
//! flowc's schemas cannot drift apart unnoticed.

mod check;
mod load;

pub use check::Method;

use chrono::SecondsFormat;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::ccvshop::signing::parse_x_date;
use crate::models::{self, Catalogue, Model};

/// What a field holds on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    /// A string of at most `max` characters, when a maximum is documented.
    Str {
        max: Option<usize>,
    },
    Int,
    /// A JSON number, read exactly (money, quantities, percentages).
    Decimal,
    Bool,
    /// A UTC ISO 8601 timestamp.
    DateTime,
    /// An embedded object: the resource of that name.
    Object(String),
    /// A JSON array whose items have this type.
    List(Box<Type>),
    /// Anything: the docs do not describe the shape.
    Any,
}

/// Which writes take a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    Never,
    Post,
    Patch,
    Both,
}

/// What a write must respect beyond the type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    None,
    /// An integer within these inclusive bounds.
    Range(i64, i64),
    /// An id: a positive integer.
    Id,
    /// A number of at least zero (prices, counts, weights).
    NonNegative,
    /// A string with something else than spaces in it.
    NonEmpty,
}

/// Where a generic write puts a field in the emulator's typed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// Under its own name.
    Same,
    /// Under another name (writes say `active`, the record says `is_active`).
    As(String),
    /// The resource's own code takes it (rows, customers, notes).
    Custom,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    /// A GET may answer `null` here.
    pub nullable: bool,
    /// A GET answers it; `false` for write-only fields such as `active`.
    pub read: bool,
    pub writes: Writes,
    /// The type a write must send, when it differs from what GET answers
    /// (`orderrows` is a link on GET but a list of rows on POST).
    pub input: Option<Type>,
    pub bound: Bound,
    /// A POST must send it.
    pub required: bool,
    /// A write may send `null` to clear it.
    pub clearable: bool,
    pub store: Store,
    /// Said when a write sends this field but may not (`is_active` → `active`).
    pub hint: Option<String>,
}

impl Field {
    /// The type a write must send.
    pub fn input_type(&self) -> &Type {
        self.input.as_ref().unwrap_or(&self.ty)
    }

    pub fn writable_by(&self, method: Method) -> bool {
        matches!(
            (self.writes, method),
            (Writes::Both, _) | (Writes::Post, Method::Post) | (Writes::Patch, Method::Patch)
        )
    }
}

models::named!(Field);

/// One resource (or embedded object): its name (the one flowc's schema
/// module uses, where it has one) and its fields in wire order.
pub type Resource = Model<Field>;

/// The resources of `resources.txt`, read on first use.
pub static RESOURCES: Catalogue<Field> = Catalogue::new(
    "ccvshop/model/resources.txt",
    include_str!("resources.txt"),
    load::field,
);

pub fn resource(name: &str) -> &'static Resource {
    RESOURCES.get(name)
}

impl Resource {
    /// The fields a GET answers.
    pub fn read_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.read)
    }

    /// A response in model order. Each field comes from the `computed`
    /// parts a handler renders, else from the stored `record` under the
    /// same name, else it is `null`, as the real API writes every field.
    /// What the model does not list is not shown (record-only fields such
    /// as an order's notes), and a computed name it does not list is a bug
    /// in the emulator, caught in debug builds.
    pub fn render<T: Serialize, const N: usize>(&self, record: &T, computed: [Value; N]) -> Value {
        let mut values = match serde_json::to_value(record) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for part in computed {
            let Value::Object(m) = part else { continue };
            debug_assert!(
                m.keys().all(|k| self.field(k).is_some_and(|f| f.read)),
                "{} renders fields its model does not list: {:?}",
                self.name,
                m.keys()
                    .filter(|k| self.field(k).is_none())
                    .collect::<Vec<_>>()
            );
            values.extend(m);
        }
        let mut out = Map::new();
        for f in self.read_fields() {
            let value = values.remove(&f.name).unwrap_or(Value::Null);
            out.insert(f.name.clone(), shaped(f, value));
        }
        Value::Object(out)
    }
}

/// Embedded objects are shaped by their own model; timestamps are written
/// as the docs show them, to the second with a `Z`.
fn shaped(f: &Field, value: Value) -> Value {
    match (&f.ty, value) {
        (Type::Object(inner), Value::Object(m)) => resource(inner).render(&(), [Value::Object(m)]),
        (Type::Object(inner), Value::Null) if !f.nullable => resource(inner).render(&(), []),
        (Type::DateTime, Value::String(s)) => match parse_x_date(&s) {
            Some(d) => Value::String(d.to_rfc3339_opts(SecondsFormat::Secs, true)),
            None => Value::String(s),
        },
        (_, v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_model_file_reads_and_every_type_resolves() {
        assert!(RESOURCES.all().len() > 20);
        fn resolves(ty: &Type) -> bool {
            match ty {
                Type::Object(name) => RESOURCES.all().iter().any(|r| &r.name == name),
                Type::List(item) => resolves(item),
                _ => true,
            }
        }
        for r in RESOURCES.all() {
            for f in &r.fields {
                assert!(resolves(&f.ty), "{}.{}", r.name, f.name);
                assert!(
                    f.input.as_ref().is_none_or(resolves),
                    "{}.{}",
                    r.name,
                    f.name
                );
                assert!(
                    r.fields.iter().filter(|g| g.name == f.name).count() == 1,
                    "{}.{} twice",
                    r.name,
                    f.name
                );
            }
        }
    }

    #[test]
    fn render_fills_nulls_in_model_order_and_shapes_embedded_objects() {
        assert_eq!(resource("link").render(&(), []), json!({ "href": null }));
        let info = resource("personalinfo").render(&(), [json!({ "email": "a@b.nl" })]);
        assert_eq!(info["email"], json!("a@b.nl"));
        assert!(info["billingaddress"].is_object(), "never null");
        assert!(info["billingaddress"]["fax"].is_null());
        assert!(
            info["deliveryaddress"].get("fax").is_none(),
            "no fax on delivery"
        );
    }

    #[test]
    fn delivery_address_is_billing_without_names_and_fax() {
        let names =
            |r: &str| -> Vec<&str> { resource(r).fields.iter().map(|f| f.name.as_str()).collect() };
        let billing = names("billingaddress");
        let delivery = names("deliveryaddress");
        let dropped: Vec<_> = billing.iter().filter(|n| !delivery.contains(n)).collect();
        assert_eq!(dropped, [&"first_name", &"last_name", &"fax"]);
    }
}
