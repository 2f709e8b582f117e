//! The decisions of a run as a list: what `flowc plan` prints and what a
//! `test` block's expectations are compared with.

use super::payload::Change;
use crate::value::Record;

/// The id a planned-but-not-created record stands in with (`flowc plan`).
pub(super) const PLANNED_ID: &str = "00000000-0000-0000-0000-000000000000";

/// What the engine decided for one record: the flow's own target record, or
/// a related record (customer, article) written on the way.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlanEntry {
    /// The source record (`orders id=1001`).
    pub source: String,
    /// create | update | unchanged | skip | fail
    pub action: &'static str,
    /// The resource written (`eaccounting.customers`).
    pub resource: String,
    pub target_id: Option<String>,
    #[serde(serialize_with = "ser_changes")]
    pub changes: Vec<Change>,
    pub reason: Option<String>,
    /// What is (or would be) sent: the create or the update payload.
    #[serde(skip)]
    pub payload: Option<Record>,
    /// A related record (an upsert) rather than the flow's target record.
    pub related: bool,
}

fn ser_changes<S: serde::Serializer>(changes: &[Change], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(changes.len()))?;
    for c in changes {
        seq.serialize_element(&serde_json::json!({"field": c.field, "from": c.from, "to": c.to}))?;
    }
    seq.end()
}

/// A plan as text: one line per decision, then its field changes.
/// Related records found unchanged are left out: they are the common case
/// and say nothing the reader needs.
pub fn render(entries: &[PlanEntry]) -> String {
    let mut out = String::new();
    for entry in entries
        .iter()
        .filter(|e| !(e.related && e.action == "unchanged"))
    {
        let target = match &entry.target_id {
            Some(id) => format!("{} {id}", entry.resource),
            None => entry.resource.clone(),
        };
        let reason = entry
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<9} {target}  (source {}){reason}\n",
            entry.action, entry.source
        ));
        for c in &entry.changes {
            match &c.from {
                Some(from) => {
                    out.push_str(&format!("            {}: {from} → {}\n", c.field, c.to))
                }
                None => out.push_str(&format!("            {}: {}\n", c.field, c.to)),
            }
        }
    }
    out
}
