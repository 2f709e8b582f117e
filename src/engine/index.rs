//! Run-wide indexes of a resource by one field (customers by e-mail,
//! articles by number, drafts by reference): one paged read the first time a
//! record is looked up, then every lookup costs no call. Concurrent first
//! users wait for that one read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::keys::{folded, Normaliser};
use crate::connectors::{Connector, ConnectorError, ListQuery};
use crate::value::{Record, Value};

/// The records of a resource by one field's value (as text, put through a
/// key's [`Normaliser`]): the first record holding each value, and each
/// value trimmed and in lower case.
#[derive(Default)]
struct Index {
    exact: HashMap<String, Record>,
    folded: HashMap<String, Record>,
}

type Cell = Arc<OnceLock<Result<Arc<Index>, ConnectorError>>>;

/// A record found by its key.
pub(super) enum Found {
    /// Its field holds the key.
    Exact(Record),
    /// Its field holds the key in another case only.
    OtherCase(Record),
}

#[derive(Default)]
pub(super) struct Indexes {
    /// (connector, resource, field, normaliser) → index.
    cells: Mutex<HashMap<(usize, String, String, String), Cell>>,
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
        let index = self.index(connector, resource, field, &Normaliser::default())?;
        Ok(index.exact.get(value).cloned())
    }

    /// The record a flow's key names: one whose `field`, put through the
    /// key's normaliser, is `value`; else one that holds it in another case.
    pub(super) fn find_key(
        &self,
        connector: &dyn Connector,
        resource: &str,
        field: &str,
        normaliser: &Normaliser,
        value: &str,
    ) -> Result<Option<Found>, ConnectorError> {
        let index = self.index(connector, resource, field, normaliser)?;
        if let Some(r) = index.exact.get(value) {
            return Ok(Some(Found::Exact(r.clone())));
        }
        Ok(index
            .folded
            .get(&folded(value))
            .cloned()
            .map(Found::OtherCase))
    }

    fn index(
        &self,
        connector: &dyn Connector,
        resource: &str,
        field: &str,
        normaliser: &Normaliser,
    ) -> Result<Arc<Index>, ConnectorError> {
        // Two connectors may both have an `orders` resource: tell them apart.
        let identity = connector as *const dyn Connector as *const () as usize;
        let cell = super::lock(&self.cells)
            .entry((
                identity,
                resource.to_string(),
                field.to_string(),
                normaliser.name(),
            ))
            .or_default()
            .clone();
        cell.get_or_init(|| read_index(connector, resource, field, normaliser))
            .clone()
    }
}

fn read_index(
    connector: &dyn Connector,
    resource: &str,
    field: &str,
    normaliser: &Normaliser,
) -> Result<Arc<Index>, ConnectorError> {
    let path: Vec<Arc<str>> = field.split('.').map(Arc::from).collect();
    let mut index = Index::default();
    connector.list(resource, &ListQuery::default(), &mut |v| {
        if let Some(r) = v.as_record() {
            if let Some(k) = r.get_path(&path).and_then(Value::to_text) {
                let k = normaliser.apply(&k);
                index.folded.entry(folded(&k)).or_insert_with(|| r.clone());
                index.exact.entry(k).or_insert_with(|| r.clone());
            }
        }
        Ok(true)
    })?;
    Ok(Arc::new(index))
}
