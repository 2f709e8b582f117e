//! Run-wide indexes of a resource by one field (customers by e-mail,
//! articles by number, drafts by reference): one paged read the first time a
//! record is looked up, then every lookup costs no call. Concurrent first
//! users wait for that one read. Upserts compare keys as a person compares
//! them ([`natural_text`]: no case, no surrounding spaces), so a customer
//! stored as `Ann@Example.com` is found by `ann@example.com`; a flow's own
//! key also tells an exact match from one in another case (see `keys`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::keys::Normaliser;
use crate::connectors::{Connector, ConnectorError, Filter, FilterOp, ListQuery};
use crate::value::{natural_text, Record, Value};

/// The records of a resource by one field's value (as text, put through a
/// key's [`Normaliser`]): the first record holding each value, exactly and
/// as [`natural_text`].
#[derive(Default)]
struct Index {
    exact: HashMap<String, Record>,
    natural: HashMap<String, Record>,
}

type Cell = Arc<OnceLock<Result<Arc<Index>, ConnectorError>>>;
/// A resource's records once read; a failed read is not kept, so the next
/// lookup reads again (a service's hiccup must not fail the whole run).
type ListCell = Arc<Mutex<Option<Arc<Vec<Value>>>>>;

/// A record found by a flow's key.
pub(super) enum Found {
    /// Its field holds the key.
    Exact(Record),
    /// Its field holds the key in another case (or spacing) only.
    OtherCase(Record),
}

#[derive(Default)]
pub(super) struct Indexes {
    /// (connector, resource, field, normaliser) → index.
    cells: Mutex<HashMap<(usize, String, String, String), Cell>>,
    /// (connector, resource, filters) → the records, for lookups by natural key.
    lists: Mutex<HashMap<(usize, String, String), ListCell>>,
}

/// Two connectors may both have an `orders` resource: tell them apart.
fn identity(connector: &dyn Connector) -> usize {
    connector as *const dyn Connector as *const () as usize
}

impl Indexes {
    /// The record of `resource` whose `field` (a dotted path) holds `value`,
    /// compared as [`natural_text`].
    pub(super) fn find(
        &self,
        connector: &dyn Connector,
        resource: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<Record>, ConnectorError> {
        let index = self.index(connector, resource, field, &Normaliser::default())?;
        Ok(index.natural.get(&natural_text(value)).cloned())
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
            .natural
            .get(&natural_text(value))
            .cloned()
            .map(Found::OtherCase))
    }

    /// The records of `resource`, those the service returns for the number
    /// and flag values of `wanted` (every record when there are none), read
    /// once per run per distinct set of values.
    pub(super) fn records(
        &self,
        connector: &dyn Connector,
        resource: &str,
        wanted: &[(Arc<str>, Value)],
    ) -> Result<Arc<Vec<Value>>, ConnectorError> {
        // Numbers and flags filter as the lookup compares them; text is
        // compared the way a person does (case, spacing), which a service's
        // `==` may not: it is matched here only.
        let filters: Vec<Filter> = wanted
            .iter()
            .filter(|(_, value)| matches!(value, Value::Num(_) | Value::Bool(_)))
            .map(|(field, value)| Filter {
                field: field.to_string(),
                op: FilterOp::Eq,
                value: value.clone(),
            })
            .collect();
        let described = format!("{filters:?}");
        let cell = super::lock(&self.lists)
            .entry((identity(connector), resource.to_string(), described))
            .or_default()
            .clone();
        // Held while reading: concurrent first lookups wait for one read.
        let mut records = super::lock(&cell);
        if let Some(all) = &*records {
            return Ok(all.clone());
        }
        let mut all = Vec::new();
        let query = ListQuery {
            filters,
            ..ListQuery::default()
        };
        connector.list(resource, &query, &mut |v| {
            all.push(v);
            Ok(true)
        })?;
        let all = Arc::new(all);
        *records = Some(all.clone());
        Ok(all)
    }

    fn index(
        &self,
        connector: &dyn Connector,
        resource: &str,
        field: &str,
        normaliser: &Normaliser,
    ) -> Result<Arc<Index>, ConnectorError> {
        let cell = super::lock(&self.cells)
            .entry((
                identity(connector),
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
                index
                    .natural
                    .entry(natural_text(&k))
                    .or_insert_with(|| r.clone());
                index.exact.entry(k).or_insert_with(|| r.clone());
            }
        }
        Ok(true)
    })?;
    Ok(Arc::new(index))
}
