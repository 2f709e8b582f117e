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
            eval::validate::validate(&request.payload.create, &request.schema.record, true)
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
