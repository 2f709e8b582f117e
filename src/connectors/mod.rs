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
}

/// Opens the connector a connection names, with its settings resolved
/// against `env` (`FLOWC_STATE` gives the state directory, default `.flowc`).
pub fn open(
    connection: &crate::program::Connection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Box<dyn Connector>, ConnectorError> {
    let settings = Settings::resolve(connection, env)?;
    let state_dir = env("FLOWC_STATE")
        .filter(|s| !s.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(".flowc"));
    match &*connection.connector {
        "ccvshop" => Ok(Box::new(ccvshop::CcvShopConnector::from_settings(
            &settings,
        )?)),
        "eaccounting" => Ok(Box::new(eaccounting::EaccountingConnector::from_settings(
            &settings, &state_dir,
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
