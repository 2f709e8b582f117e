//! Connectors: the only code that knows where records live and how they
//! are encoded on the wire or on disk. The engine and the interpreter talk
//! to every service through [`Connector`].

pub mod ccvshop;
pub mod eaccounting;
pub mod error;
pub mod file;
pub mod http;
pub mod memory;
pub mod redact;
pub mod registry;
pub mod settings;

pub use error::{ConnectorError, ErrorClass};
pub use http::CallStats;
pub use registry::{ConnectorSpec, OpenContext};
pub use settings::Settings;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::program::{Connection, Program};
use crate::types::RecordType;
use crate::value::{Record, Value};

/// A comparison pushed down to the service where it can filter: the one
/// operator type of every connector (OData's `eq`…`le` are its keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl FilterOp {
    /// Whether `a op b` holds when `a` compares to `b` as `ord` (`None`:
    /// the two do not compare, so only `Ne` holds).
    pub fn holds(self, ord: Option<Ordering>) -> bool {
        match self {
            FilterOp::Eq => ord == Some(Ordering::Equal),
            FilterOp::Ne => ord != Some(Ordering::Equal),
            FilterOp::Lt => ord == Some(Ordering::Less),
            FilterOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
            FilterOp::Gt => ord == Some(Ordering::Greater),
            FilterOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: String,
    pub op: FilterOp,
    pub value: Value,
}

impl Filter {
    /// Applied by flowc to a record the service returned, for a filter it
    /// could not push down. A missing field equals only a missing value.
    pub fn matches(&self, record: &Value) -> bool {
        if record.as_record().is_none() {
            return false;
        }
        let have = field_at(record, &self.field).unwrap_or(&Value::Absent);
        let ord = if have.is_missing() && self.value.is_missing() {
            Some(Ordering::Equal)
        } else {
            have.compare(&self.value)
        };
        self.op.holds(ord)
    }
}

/// The value at a dotted path of a record (`customer.email`).
pub(crate) fn field_at<'v>(record: &'v Value, path: &str) -> Option<&'v Value> {
    let mut current = record;
    for part in path.split('.') {
        current = current.as_record()?.get(part)?;
    }
    Some(current)
}

/// Sorts records by a field as `compare` orders its values; missing values
/// first, ties keep their order.
pub(crate) fn sort_by_field(
    records: &mut [Value],
    field: &str,
    desc: bool,
    compare: fn(&Value, &Value) -> Option<Ordering>,
) {
    records.sort_by(|a, b| {
        let (x, y) = (
            field_at(a, field).unwrap_or(&Value::Absent),
            field_at(b, field).unwrap_or(&Value::Absent),
        );
        let o = match (x.is_missing(), y.is_missing()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => compare(x, y).unwrap_or(Ordering::Equal),
        };
        if desc {
            o.reverse()
        } else {
            o
        }
    });
}

/// What to read from a resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// All must hold. A connector pushes down what its API supports and
    /// applies the rest itself, so the result is the same either way.
    pub filters: Vec<Filter>,
    /// A field name; `-field` for descending.
    pub order_by: Option<String>,
    /// Records per page; `None` lets the connector choose (usually the maximum).
    pub page_size: Option<u32>,
    /// The top-level fields the reader uses (`None`: it may use any). A
    /// connector fetches optional sub-resources (CCV Shop's `expand=`) only
    /// when a reader names them here.
    pub reads: Option<Vec<String>>,
}

/// The result of a successful list: how many pages and records were read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListStats {
    pub pages: u64,
    pub records: u64,
}

pub trait Connector: Send + Sync {
    /// The connector's entry in the [`registry`].
    fn spec(&self) -> &'static ConnectorSpec;

    /// "ccvshop", "eaccounting", "file", "memory".
    fn kind(&self) -> &'static str {
        self.spec().name
    }

    /// Streams every record of `resource` matching `query`, page by page.
    /// `each` returns `Ok(false)` to stop early.
    fn list(
        &self,
        resource: &str,
        query: &ListQuery,
        each: &mut dyn FnMut(Value) -> Result<bool, ConnectorError>,
    ) -> Result<ListStats, ConnectorError>;

    /// One record by id; `Ok(None)` when it does not exist.
    fn get(&self, resource: &str, id: &str) -> Result<Option<Value>, ConnectorError>;

    /// The records whose `field` equals `value` (an e-mail, an SKU, a reference).
    fn find(
        &self,
        resource: &str,
        field: &str,
        value: &Value,
    ) -> Result<Vec<Value>, ConnectorError>;

    /// Creates a record and returns it as the service stored it (with its id).
    fn create(&self, resource: &str, record: &Record) -> Result<Value, ConnectorError>;

    /// Writes `changes` onto record `id` and returns the stored record.
    /// `current` is the record as last read: services whose update replaces
    /// the whole record (eAccounting's PUT) merge `changes` into it.
    fn update(
        &self,
        resource: &str,
        id: &str,
        changes: &Record,
        current: Option<&Record>,
    ) -> Result<Value, ConnectorError>;

    /// Deletes record `id`; `Ok(false)` when it did not exist. Only for
    /// what flowc manages itself (`flowc webhooks remove`): flows never delete.
    fn delete(&self, resource: &str, id: &str) -> Result<bool, ConnectorError> {
        let _ = id;
        Err(ConnectorError::new(
            ErrorClass::Validation,
            format!(
                "{}: records of `{resource}` cannot be deleted by flowc",
                self.kind()
            ),
        ))
    }

    /// Calls made so far.
    fn stats(&self) -> CallStats;

    /// The service this connection talks to, as the state store names it:
    /// connector and address. Two connections (or flows) that reach the same
    /// service must answer the same, so that learned ids and reservations of
    /// records being created are shared between them.
    fn target_identity(&self) -> String {
        self.kind().to_string()
    }

    /// Which of the service's companies (administrations) the credentials
    /// reach, as a stable fingerprint; `None` when the address alone names
    /// the data (a shop). Ids learned under another company are checked
    /// against the service before they are used.
    fn company(&self) -> Result<Option<String>, ConnectorError> {
        Ok(None)
    }

    /// Reads records for the engine, in order. Services hand over decoded
    /// records (this default); a file hands NDJSON lines over undecoded, so
    /// that the engine's workers decode them on every core.
    fn read(
        &self,
        resource: &str,
        query: &ListQuery,
        each: &mut dyn FnMut(ReadItem) -> bool,
    ) -> Result<(), ConnectorError> {
        let mut position = 0;
        self.list(resource, query, &mut |record| {
            position += 1;
            Ok(each(ReadItem {
                position,
                raw: Raw::Record(record),
            }))
        })?;
        Ok(())
    }

    /// A target whose records have no identity (a file): the engine appends
    /// every mapped record, in input order, and looks nothing up.
    fn appender(&self) -> Option<&dyn Appender> {
        None
    }
}

/// One record as read, with its position in the source (1-based).
pub struct ReadItem {
    pub position: usize,
    pub raw: Raw,
}

/// A record as a connector read it.
pub enum Raw {
    Record(Value),
    /// One JSON object's bytes, not decoded yet.
    Json(Vec<u8>),
    /// Why this record could not be read (the others still are).
    Unreadable(String),
}

/// Writing to a target whose records have no identity. `encode` runs on the
/// engine's workers; `append` only copies bytes, in input order.
pub trait Appender: Send + Sync {
    /// Opens (truncating) the output; called once before the first record.
    fn start(&self) -> Result<(), ConnectorError>;
    fn encode(&self, record: &Record) -> String;
    fn append(&self, encoded: &str) -> Result<(), ConnectorError>;
    /// Completes the output (closing brackets, flushing); returns the count written.
    fn finish(&self) -> Result<u64, ConnectorError>;
}

/// Signs in with one small read: the first record of the connector's
/// [`ConnectorSpec::sign_in_probe`] resource (`None` when it has none or
/// the resource is empty). Credentials the service refuses are an
/// [`ErrorClass::Auth`] error.
pub fn sign_in_probe(c: &dyn Connector) -> Result<Option<Value>, ConnectorError> {
    let Some(resource) = c.spec().sign_in_probe else {
        return Ok(None);
    };
    let mut found = None;
    let query = ListQuery {
        page_size: Some(1),
        ..ListQuery::default()
    };
    c.list(resource, &query, &mut |v| {
        found = Some(v);
        Ok(false)
    })?;
    Ok(found)
}

/// Opens a connection of a checked program with the connector its spec
/// names: settings resolved against `env`, tokens kept under `state_dir`,
/// and the record types of the connection's resources.
pub fn open(
    connection: &Connection,
    program: &Program,
    state_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Box<dyn Connector>, ConnectorError> {
    let spec = registry::spec(&connection.connector).ok_or_else(|| {
        ConnectorError::new(
            ErrorClass::Config,
            format!(
                "connection `{}` uses connector `{}`, which flowc cannot open; connectors are {}",
                connection.name,
                connection.connector,
                registry::quoted_names(registry::REGISTRY.iter().copied())
            ),
        )
    })?;
    let settings = Settings::resolve(spec, connection, env)?;
    // Schemas name their connection by its place in the program; a
    // connection that is not one of the program's (a test's) has none.
    let schemas = program
        .connections
        .iter()
        .position(|c| std::ptr::eq(c, connection))
        .map(|index| schemas_of(program, index))
        .unwrap_or_default();
    (spec.open)(&OpenContext {
        connection,
        settings: &settings,
        state_dir,
        schemas: &schemas,
    })
}

/// The record types of connection `index`'s resources (resource name →
/// type). The first schema of a resource wins.
pub fn schemas_of(program: &Program, index: usize) -> HashMap<String, Arc<RecordType>> {
    let mut out = HashMap::new();
    for s in &program.schemas {
        if let (Some(resource), Some(c)) = (&s.resource, s.connection) {
            if c == index {
                out.entry(resource.to_string())
                    .or_insert_with(|| s.record.clone());
            }
        }
    }
    out
}
