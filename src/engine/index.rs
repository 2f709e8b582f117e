//! Run-wide indexes of a resource by one field (customers by e-mail,
//! articles by number, drafts by reference): one paged read the first time a
//! record is looked up, then every lookup costs no call. Concurrent first
//! users wait for that one read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::connectors::{Connector, ConnectorError, ListQuery};
use crate::value::{Record, Value};

/// Field value (as text) → the first record holding it.
type Index = Arc<HashMap<String, Record>>;
type Cell = Arc<OnceLock<Result<Index, ConnectorError>>>;

#[derive(Default)]
pub(super) struct Indexes {
    /// (connector, resource, field) → index.
    cells: Mutex<HashMap<(usize, String, String), Cell>>,
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
        // Two connectors may both have an `orders` resource: tell them apart.
        let identity = connector as *const dyn Connector as *const () as usize;
        let cell = super::lock(&self.cells)
            .entry((identity, resource.to_string(), field.to_string()))
            .or_default()
            .clone();
        let index = cell
            .get_or_init(|| read_index(connector, resource, field))
            .clone()?;
        Ok(index.get(value).cloned())
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
                map.entry(k).or_insert_with(|| r.clone());
            }
        }
        Ok(true)
    })?;
    Ok(Arc::new(map))
}
