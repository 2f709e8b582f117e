//! A service in memory behind the [`Connector`](super::Connector) trait:
//! what `flowc test` reads and writes (seeded with a test's `given`
//! records), and what engine tests use when they need exact control (e.g. a
//! create that is applied but whose response is lost).

use std::collections::HashMap;
use std::sync::Arc;

use crate::value::{Record, Value};

/// A service in memory behind the [`Connector`](super::Connector) trait: for
/// engine tests that need exact control (e.g. a create that is applied but
/// whose response is lost).
pub struct MemoryConnector {
    inner: std::sync::Mutex<MemoryService>,
    stats: super::http::StatsCell,
    /// Resource → the field that holds a record's id (default `Id`).
    id_fields: HashMap<String, Arc<str>>,
    /// Stands in for a file: records have no identity and are appended.
    appends: bool,
    /// Tells this service apart from every other one in the process.
    identity: u64,
}

/// Numbers memory services, so that no two share learned ids.
static SERVICES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[derive(Default)]
struct MemoryService {
    resources: HashMap<String, Vec<Record>>,
    next_id: u64,
    /// The next N creates are applied but answer with an unknown outcome.
    lose_create_responses: u32,
    /// The next N searches (`find`) fail with a server error.
    failing_finds: u32,
    /// What [`Connector::company`](super::Connector::company) answers.
    company: Option<String>,
}

impl Default for MemoryConnector {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryConnector {
    pub fn new() -> Self {
        MemoryConnector {
            inner: std::sync::Mutex::new(MemoryService::default()),
            stats: Default::default(),
            id_fields: HashMap::new(),
            appends: false,
            identity: SERVICES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// A file in memory: what a flow writes to a file target is appended to
    /// the resource `appended`, in order.
    pub fn appending() -> Self {
        MemoryConnector {
            appends: true,
            ..Self::new()
        }
    }

    /// A service whose resources keep their ids in the given fields.
    pub fn with_id_fields(id_fields: HashMap<String, Arc<str>>) -> Self {
        MemoryConnector {
            id_fields,
            ..Self::new()
        }
    }

    fn id_field(&self, resource: &str) -> Arc<str> {
        self.id_fields
            .get(resource)
            .cloned()
            .unwrap_or_else(|| Arc::from("Id"))
    }

    fn id_of(&self, resource: &str, record: &Record) -> Option<String> {
        record
            .get(&self.id_field(resource))
            .and_then(Value::to_text)
    }

    fn service(&self) -> std::sync::MutexGuard<'_, MemoryService> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn seed(&self, resource: &str, records: Vec<Record>) {
        self.service()
            .resources
            .entry(resource.to_string())
            .or_default()
            .extend(records);
    }

    pub fn records(&self, resource: &str) -> Vec<Record> {
        self.service()
            .resources
            .get(resource)
            .cloned()
            .unwrap_or_default()
    }

    pub fn lose_create_responses(&self, n: u32) {
        self.service().lose_create_responses = n;
    }

    /// Makes the next `n` searches fail as a service in trouble would.
    pub fn fail_finds(&self, n: u32) {
        self.service().failing_finds = n;
    }

    /// Signs in to another company (its data stays: tests put what they need).
    pub fn set_company(&self, company: Option<&str>) {
        self.service().company = company.map(str::to_string);
    }

    /// Forgets every record of `resource` (a company emptied, a record deleted by hand).
    pub fn clear(&self, resource: &str) {
        self.service().resources.remove(resource);
    }
}

/// Keys match across representations: 1001 finds "1001".
fn same_key(a: &Value, b: &Value) -> bool {
    a == b || (a.to_text().is_some() && a.to_text() == b.to_text())
}

fn matches_filter(r: &Record, f: &super::Filter) -> bool {
    use super::FilterOp::*;
    let path: Vec<Arc<str>> = f.field.split('.').map(Arc::from).collect();
    let Some(v) = r.get_path(&path) else {
        return false;
    };
    let ord = crate::value::parse::datetime_of(v)
        .zip(crate::value::parse::datetime_of(&f.value))
        .map(|(a, b)| a.cmp(&b))
        .or_else(|| v.compare(&f.value));
    match f.op {
        Eq => same_key(v, &f.value),
        Ne => !same_key(v, &f.value),
        Lt => ord == Some(std::cmp::Ordering::Less),
        Le => ord.is_some_and(|o| o.is_le()),
        Gt => ord == Some(std::cmp::Ordering::Greater),
        Ge => ord.is_some_and(|o| o.is_ge()),
    }
}

impl super::Connector for MemoryConnector {
    fn spec(&self) -> &'static super::ConnectorSpec {
        &SPEC
    }

    fn list(
        &self,
        resource: &str,
        query: &super::ListQuery,
        each: &mut dyn FnMut(Value) -> Result<bool, super::ConnectorError>,
    ) -> Result<super::ListStats, super::ConnectorError> {
        self.stats.call(&format!("GET {resource}"));
        let records: Vec<Record> = self
            .records(resource)
            .into_iter()
            .filter(|r| query.filters.iter().all(|f| matches_filter(r, f)))
            .collect();
        let mut stats = super::ListStats {
            pages: 1,
            records: 0,
        };
        for r in records {
            stats.records += 1;
            if !each(Value::record(r))? {
                break;
            }
        }
        Ok(stats)
    }

    fn get(&self, resource: &str, id: &str) -> Result<Option<Value>, super::ConnectorError> {
        self.stats.call(&format!("GET {resource}/{{id}}"));
        Ok(self
            .records(resource)
            .into_iter()
            .find(|r| self.id_of(resource, r).as_deref() == Some(id))
            .map(Value::record))
    }

    fn find(
        &self,
        resource: &str,
        field: &str,
        value: &Value,
    ) -> Result<Vec<Value>, super::ConnectorError> {
        self.stats.call(&format!("GET {resource}"));
        {
            let mut service = self.service();
            if service.failing_finds > 0 {
                service.failing_finds -= 1;
                return Err(super::ConnectorError::new(
                    super::ErrorClass::Server,
                    format!("searching {resource} failed"),
                )
                .with_status(503));
            }
        }
        let f = super::Filter {
            field: field.to_string(),
            op: super::FilterOp::Eq,
            value: value.clone(),
        };
        Ok(self
            .records(resource)
            .into_iter()
            .filter(|r| matches_filter(r, &f))
            .map(Value::record)
            .collect())
    }

    fn create(&self, resource: &str, record: &Record) -> Result<Value, super::ConnectorError> {
        self.stats.call(&format!("POST {resource}"));
        let mut service = self.service();
        let mut stored = record.clone();
        let id_field = self.id_field(resource);
        // A record that brings its id (a test's `given` record) keeps it.
        if stored.get(&id_field).is_none() {
            service.next_id += 1;
            stored.insert(
                id_field,
                Value::str(&format!("00000000-0000-4000-8000-{:012}", service.next_id)),
            );
        }
        service
            .resources
            .entry(resource.to_string())
            .or_default()
            .push(stored.clone());
        if service.lose_create_responses > 0 {
            service.lose_create_responses -= 1;
            return Err(super::ConnectorError::new(
                super::ErrorClass::Connection,
                "connection reset after sending",
            )
            .unknown_outcome());
        }
        Ok(Value::record(stored))
    }

    fn update(
        &self,
        resource: &str,
        id: &str,
        changes: &Record,
        _current: Option<&Record>,
    ) -> Result<Value, super::ConnectorError> {
        self.stats.call(&format!("PUT {resource}/{{id}}"));
        let mut service = self.service();
        let list = service.resources.entry(resource.to_string()).or_default();
        let id_field = self.id_field(resource);
        let Some(r) = list
            .iter_mut()
            .find(|r| r.get(&id_field).and_then(Value::to_text).as_deref() == Some(id))
        else {
            return Err(super::ConnectorError::new(
                super::ErrorClass::NotFound,
                format!("{resource} {id} does not exist"),
            )
            .with_status(404));
        };
        for (k, v) in changes.iter() {
            r.insert(k.clone(), v.clone());
        }
        Ok(Value::record(r.clone()))
    }

    fn stats(&self) -> super::CallStats {
        self.stats.snapshot()
    }

    fn target_identity(&self) -> String {
        format!("memory #{}", self.identity)
    }

    fn company(&self) -> Result<Option<String>, super::ConnectorError> {
        Ok(self.service().company.clone())
    }

    fn appender(&self) -> Option<&dyn super::Appender> {
        self.appends.then_some(self as &dyn super::Appender)
    }
}

/// The resource an appending memory connector writes to.
pub const APPENDED: &str = "appended";

impl super::Appender for MemoryConnector {
    fn start(&self) -> Result<(), super::ConnectorError> {
        self.service().resources.remove(APPENDED);
        Ok(())
    }

    fn encode(&self, record: &Record) -> String {
        crate::value::json::to_string(&Value::record(record.clone()))
    }

    fn append(&self, encoded: &str) -> Result<(), super::ConnectorError> {
        let record = crate::value::json::parse(encoded)
            .ok()
            .and_then(|v| v.as_record().cloned())
            .unwrap_or_default();
        self.seed(APPENDED, vec![record]);
        Ok(())
    }

    fn finish(&self) -> Result<u64, super::ConnectorError> {
        Ok(self.records(APPENDED).len() as u64)
    }
}

pub static SPEC: super::ConnectorSpec = super::ConnectorSpec {
    name: "memory",
    doc: "An empty service in memory that forgets everything when flowc exits: for trying flows and for tests",
    settings: &[],
    schema_module: None,
    id_field: Some("Id"),
    auth_help: "the memory connector has no credentials",
    sign_in_probe: None,
    open: open_memory,
    auth: None,
    sandbox: None,
};

fn open_memory(
    _: &super::OpenContext<'_>,
) -> Result<Box<dyn super::Connector>, super::ConnectorError> {
    Ok(Box::new(MemoryConnector::new()))
}
