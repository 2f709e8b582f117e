//! An in-memory target: what `flowc test` writes to. It behaves like a
//! service that finds records by a field, creates them with a new id, and
//! updates them in place, and it records every write for assertions.

use std::collections::HashMap;
use std::sync::Arc;

use crate::eval::{self, Payload, Resolver, UpsertRequest};
use crate::program::Schema;
use crate::value::{Record, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum WriteKind {
    Create,
    Update,
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct Write {
    pub kind: WriteKind,
    pub schema: Arc<str>,
    /// What was sent (the create or update payload).
    pub payload: Record,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    records: HashMap<Arc<str>, Vec<Record>>,
    pub writes: Vec<Write>,
    next_id: u64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, schema: &str, record: Record) {
        self.records
            .entry(Arc::from(schema))
            .or_default()
            .push(record);
    }

    pub fn find(&self, schema: &str, field: &[Arc<str>], value: &Value) -> Option<usize> {
        self.records
            .get(schema)?
            .iter()
            .position(|r| r.get_path(field).is_some_and(|v| same_key(v, value)))
    }

    pub fn get(&self, schema: &str, index: usize) -> Option<&Record> {
        self.records.get(schema)?.get(index)
    }

    /// Creates or updates by `field == value`; returns the stored record.
    pub fn upsert(
        &mut self,
        schema: &Schema,
        field: &[Arc<str>],
        value: &Value,
        payload: &Payload,
    ) -> Record {
        match self.find(&schema.name, field, value) {
            Some(i) => {
                let list = self.records.get_mut(&schema.name).expect("found above");
                let current = &mut list[i];
                let before = current.clone();
                for (k, v) in payload.update.iter() {
                    current.insert(k.clone(), v.clone());
                }
                let kind = if *current == before {
                    WriteKind::Unchanged
                } else {
                    WriteKind::Update
                };
                self.writes.push(Write {
                    kind,
                    schema: schema.name.clone(),
                    payload: payload.update.clone(),
                });
                current.clone()
            }
            None => {
                let mut stored = payload.create.clone();
                if let Some(key) = &schema.key {
                    if stored.get(key).is_none() {
                        self.next_id += 1;
                        stored.insert(
                            key.clone(),
                            Value::str(&format!("00000000-0000-4000-8000-{:012}", self.next_id)),
                        );
                    }
                }
                self.writes.push(Write {
                    kind: WriteKind::Create,
                    schema: schema.name.clone(),
                    payload: payload.create.clone(),
                });
                self.insert(&schema.name, stored.clone());
                stored
            }
        }
    }
}

/// Keys match across representations: 1001 finds "1001".
fn same_key(a: &Value, b: &Value) -> bool {
    a == b || (a.to_text().is_some() && a.to_text() == b.to_text())
}

impl Resolver for MemoryStore {
    fn upsert(&mut self, request: UpsertRequest<'_>) -> eval::Result<Value> {
        if let Err(mut e) =
            crate::types::validate::validate(&request.payload.create, &request.schema.record, true)
                .map_err(eval::EvalError::from)
        {
            e.message = format!("{}: {}", request.schema.name, e.message);
            return Err(e);
        }
        let stored = MemoryStore::upsert(
            self,
            request.schema,
            request.match_field,
            &request.match_value,
            &request.payload,
        );
        Ok(Value::record(stored))
    }
}

/// A service in memory behind the [`Connector`](super::Connector) trait: for
/// engine tests that need exact control (e.g. a create that is applied but
/// whose response is lost).
pub struct MemoryConnector {
    inner: std::sync::Mutex<MemoryService>,
    stats: super::http::StatsCell,
}

#[derive(Default)]
struct MemoryService {
    resources: HashMap<String, Vec<Record>>,
    next_id: u64,
    /// The next N creates are applied but answer with an unknown outcome.
    lose_create_responses: u32,
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
        }
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
            .find(|r| r.get("Id").and_then(Value::to_text).as_deref() == Some(id))
            .map(Value::record))
    }

    fn find(
        &self,
        resource: &str,
        field: &str,
        value: &Value,
    ) -> Result<Vec<Value>, super::ConnectorError> {
        self.stats.call(&format!("GET {resource}"));
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
        service.next_id += 1;
        let mut stored = record.clone();
        stored.insert(
            "Id",
            Value::str(&format!("00000000-0000-4000-8000-{:012}", service.next_id)),
        );
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
        let Some(r) = list
            .iter_mut()
            .find(|r| r.get("Id").and_then(Value::to_text).as_deref() == Some(id))
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
}

pub static SPEC: super::ConnectorSpec = super::ConnectorSpec {
    name: "memory",
    doc: "An empty service in memory that forgets everything when flowc exits: for trying flows and for tests",
    settings: &[],
    schema_module: None,
    id_field: "Id",
    auth_help: "the memory connector has no credentials",
    open: open_memory,
    auth: None,
};

fn open_memory(
    _: &super::OpenContext<'_>,
) -> Result<Box<dyn super::Connector>, super::ConnectorError> {
    Ok(Box::new(MemoryConnector::new()))
}
