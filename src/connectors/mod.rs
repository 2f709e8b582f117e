//! Connectors: the only code that knows where records live and how they
//! are encoded on the wire or on disk. The engine and the interpreter talk
//! to every service through [`Connector`].

pub mod ccvshop;
pub mod eaccounting;
pub mod error;
pub mod file;
pub mod http;
pub mod memory;
pub mod settings;

pub use error::{ConnectorError, ErrorClass};
pub use http::CallStats;
pub use settings::Settings;

use crate::value::{Record, Value};

/// A comparison pushed down to the service where it can filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: String,
    pub op: FilterOp,
    pub value: Value,
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
}

/// The result of a successful list: how many pages and records were read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListStats {
    pub pages: u64,
    pub records: u64,
}

pub trait Connector: Send + Sync {
    /// "ccvshop", "eaccounting", "file", "memory".
    fn kind(&self) -> &'static str;

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

    /// Calls made so far.
    fn stats(&self) -> CallStats;

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

/// Opens the connector a connection names, with its settings resolved
/// against `env`; tokens and other local state live in `state_dir`.
pub fn open(
    connection: &crate::program::Connection,
    _program: &crate::program::Program,
    state_dir: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Box<dyn Connector>, ConnectorError> {
    let settings = Settings::resolve(connection, env)?;
    match &*connection.connector {
        "ccvshop" => Ok(Box::new(ccvshop::CcvShopConnector::from_settings(
            &settings,
        )?)),
        "eaccounting" => Ok(Box::new(eaccounting::EaccountingConnector::from_settings(
            &settings, state_dir,
        )?)),
        other => Err(ConnectorError::new(
            ErrorClass::Config,
            format!(
                "connection `{}` uses connector `{other}`, which flowc cannot open",
                connection.name
            ),
        )),
    }
}
