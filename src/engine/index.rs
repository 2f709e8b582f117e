//! Run-wide indexes of a resource by one field (customers by e-mail,
//! articles by number, drafts by reference): one paged read the first time a
//! record is looked up, then every lookup costs no call. Concurrent first
//! users wait for that one read. Keys are compared as a person compares
//! them ([`natural_text`]: no case, no surrounding spaces), so a customer
//! stored as `Ann@Example.com` is found by `ann@example.com`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::connectors::{Connector, ConnectorError, ListQuery};
use crate::value::{natural_text, Record, Value};

/// Field value (as [`natural_text`]) → the first record holding it.
type Index = Arc<HashMap<String, Record>>;
type Cell = Arc<OnceLock<Result<Index, ConnectorError>>>;
/// A resource's records once read; a failed read is not kept, so the next
/// lookup reads again (a service's hiccup must not fail the whole run).
type ListCell = Arc<Mutex<Option<Arc<Vec<Value>>>>>;

#[derive(Default)]
pub(super) struct Indexes {
    /// (connector, resource, field) → index.
    cells: Mutex<HashMap<(usize, String, String), Cell>>,
    /// (connector, resource) → every record, for lookups by natural key.
    lists: Mutex<HashMap<(usize, String), ListCell>>,
}

/// Two connectors may both have an `orders` resource: tell them apart.
fn identity(connector: &dyn Connector) -> usize {
    connector as *const dyn Connector as *const () as usize
}

impl Indexes {
    /// The record of `resource` whose `field` (a dotted path) holds `value`.
    pub(super) fn find(
        &self,
        connector: &dyn Connector,
        resource: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<Record>, ConnectorError> {
        let cell = super::lock(&self.cells)
            .entry((identity(connector), resource.to_string(), field.to_string()))
            .or_default()
            .clone();
        let index = cell
            .get_or_init(|| read_index(connector, resource, field))
            .clone()?;
        Ok(index.get(&natural_text(value)).cloned())
    }

    /// Every record of `resource`, read once per run.
    pub(super) fn records(
        &self,
        connector: &dyn Connector,
        resource: &str,
    ) -> Result<Arc<Vec<Value>>, ConnectorError> {
        let cell = super::lock(&self.lists)
            .entry((identity(connector), resource.to_string()))
            .or_default()
            .clone();
        // Held while reading: concurrent first lookups wait for one read.
        let mut records = super::lock(&cell);
        if let Some(all) = &*records {
            return Ok(all.clone());
        }
        let mut all = Vec::new();
        connector.list(resource, &ListQuery::default(), &mut |v| {
            all.push(v);
            Ok(true)
        })?;
        let all = Arc::new(all);
        *records = Some(all.clone());
        Ok(all)
    }
}

fn read_index(
    connector: &dyn Connector,
    resource: &str,
    field: &str,
) -> Result<Index, ConnectorError> {
    let path: Vec<Arc<str>> = field.split('.').map(Arc::from).collect();
    let mut map = HashMap::new();
    connector.list(resource, &ListQuery::default(), &mut |v| {
        if let Some(r) = v.as_record() {
            if let Some(k) = r.get_path(&path).and_then(Value::to_text) {
                map.entry(natural_text(&k)).or_insert_with(|| r.clone());
            }
        }
        Ok(true)
    })?;
    Ok(Arc::new(map))
}
