//! Recognising flowc's own writes when another flow reads them back, so that
//! two flows that sync one kind of record in opposite directions (products
//! from the shop to the books and back) do not write each other's changes
//! back and forth.
//!
//! * **What flowc wrote.** After every write (a flow's target or an upsert),
//!   the engine keeps, per record written, a hash of each field the write
//!   changed, as the service stored it: the fields sent, and the fields the
//!   service derived from them (eAccounting's `NetPrice` from a `GrossPrice`).
//!   Fields of earlier writes that still hold what flowc wrote are kept too.
//! * **What a flow last read.** For each source record a flow processes, the
//!   engine keeps a hash of each field the flow reads (`flowc check` knows
//!   which), once the record is done.
//! * **An echo** is a source record whose fields the flow reads changed, since
//!   the flow last read it, only into values flowc itself wrote there. (For a
//!   record the flow never read: one flowc created — its fields the service
//!   sets itself aside, which it may show otherwise when read than when it
//!   answered the create (CCV's expanded sub-resources) — or one flowc wrote
//!   every field the flow reads of.) Mapping it again could only send back what came from the
//!   other side, or worse, a value a round trip changed (a price rounded to
//!   cents in one direction and back, a name shortened to 50 characters) or
//!   an older state of a record that has changed since: an echo is skipped,
//!   with a reason, and stays one until the record changes again. A change
//!   made by anyone else in any field the flow reads is not an echo, and is
//!   written as usual.
//!
//! Both are kept in the state store beside the ledger, as what flowc learned
//! about a record (hashes only, no data): the echoes per service, resource
//! and record id, the reads per flow (`flowc state reset` forgets both with
//! the flow that wrote or read them).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::state::{Learned, StateError, Store, TargetKey};
use crate::value::{Record, Value};

/// Field name → hash of its value.
type Hashes = BTreeMap<String, String>;

/// Where the echoes of one service's resource are kept, beside the ids
/// learned for it.
fn echo_resource(resource: &str) -> String {
    format!("echo:{resource}")
}

/// Kept with what a flow read of a record it skipped as an echo.
const ECHO_MARK: &str = "~echo";

/// Kept with the fields flowc wrote to a record it created.
const CREATED_MARK: &str = "~created";

/// A value's hash: equal for equal values (`12.5` and `12.50` alike).
fn hash_value(v: &Value) -> String {
    fn feed(h: &mut Sha256, v: &Value) {
        match v {
            Value::Num(d) => h.update(format!("n{}", d.normalize()).as_bytes()),
            Value::Record(r) => {
                h.update(b"{");
                for (k, x) in r.iter().filter(|(_, x)| !matches!(x, Value::Absent)) {
                    h.update(k.as_bytes());
                    h.update(b":");
                    feed(h, x);
                    h.update(b",");
                }
                h.update(b"}");
            }
            Value::List(items) => {
                h.update(b"[");
                for x in items.iter() {
                    feed(h, x);
                    h.update(b",");
                }
                h.update(b"]");
            }
            Value::Absent | Value::Null => h.update(b"null"),
            other => {
                h.update(b"s");
                h.update(other.to_text().unwrap_or_default().as_bytes());
            }
        }
    }
    let mut h = Sha256::new();
    feed(&mut h, v);
    hex::encode(&h.finalize()[..6])
}

/// Field hashes as the state store keeps a record's payload hashes.
fn encode(id: &str, hashes: &Hashes) -> Learned {
    Learned {
        id: id.to_string(),
        company: None,
        payloads: hashes.iter().map(|(f, h)| format!("{f}={h}")).collect(),
    }
}

fn decode(learned: Learned) -> Hashes {
    learned
        .payloads
        .iter()
        .filter_map(|pair| pair.split_once('='))
        .map(|(f, h)| (f.to_string(), h.to_string()))
        .collect()
}

/// What the store holds at `at`, as field hashes.
fn hashes_at(store: &(dyn Store + Sync), at: TargetKey<'_>) -> Result<Option<Hashes>, StateError> {
    Ok(store.learned(at)?.map(decode))
}

fn field(record: &Record, name: &str) -> Value {
    record.get(name).cloned().unwrap_or(Value::Absent)
}

/// A write flowc made, for [`note_write`]: `sent` onto record `id` of
/// `resource` at `service` (its target identity), by `flow`.
pub(super) struct Written<'w> {
    pub flow: &'w str,
    pub service: &'w str,
    pub resource: &'w str,
    pub id: &'w str,
    pub sent: &'w Record,
}

/// Notes a write flowc made; the record was `before` (`None`: created) and
/// is `after` now.
pub(super) fn note_write(
    store: &(dyn Store + Sync),
    w: &Written,
    before: Option<&Record>,
    after: &Record,
) -> Result<(), StateError> {
    let resource = echo_resource(w.resource);
    let at = TargetKey {
        target: w.service,
        resource: &resource,
        key: w.id,
    };
    let sent = w.sent;
    let mut hashes: Hashes = hashes_at(store, at)?.unwrap_or_default();
    // Earlier writes count as long as their values are still there.
    hashes.retain(|f, h| f == CREATED_MARK || hash_value(&field(after, f)) == *h);
    if before.is_none() {
        hashes.insert(CREATED_MARK.to_string(), String::new());
    }
    let changed = after.iter().filter(|(name, value)| {
        sent.get(name).is_some_and(|v| !matches!(v, Value::Absent))
            || before.is_none_or(|b| hash_value(&field(b, name)) != hash_value(value))
    });
    for (name, value) in changed {
        hashes.insert(name.to_string(), hash_value(value));
    }
    store.learn(w.flow, at, &encode(w.id, &hashes))
}

/// What a flow reads of its source records, and what it last read of each.
pub(super) struct Reads<'e> {
    pub store: &'e (dyn Store + Sync),
    pub flow: &'e str,
    /// The source's service (connector) and resource.
    pub service: &'e str,
    pub resource: &'e str,
    /// `None`: the flow reads the whole record.
    pub fields: Option<&'e crate::value::names::NameSet>,
    /// The fields of the source the service sets itself (`readonly`).
    pub readonly: &'e HashSet<Arc<str>>,
}

/// One source record as the flow reads it now.
pub(super) struct Seen {
    hashes: Hashes,
    before: Option<Hashes>,
}

impl Seen {
    /// Whether the flow skipped this record as an echo when it last read it.
    fn was_echo(&self) -> bool {
        self.before
            .as_ref()
            .is_some_and(|b| b.contains_key(ECHO_MARK))
    }
}

impl Reads<'_> {
    /// The fields of `record` the flow reads, hashed, with what it read before.
    pub(super) fn see(&self, key: &str, record: &Record) -> Result<Seen, StateError> {
        let hashes = match self.fields {
            Some(fields) => fields
                .iter()
                .map(|f| (f.to_string(), hash_value(&field(record, f))))
                .collect(),
            None => record
                .iter()
                .map(|(f, v)| (f.to_string(), hash_value(v)))
                .collect(),
        };
        let before = hashes_at(self.store, self.read_at(key, &self.read_target()))?;
        Ok(Seen { hashes, before })
    }

    /// Why the record is an echo of flowc's own writes, if it is one.
    pub(super) fn echo(&self, id: &str, seen: &Seen) -> Result<Option<String>, StateError> {
        let changed: Vec<&String> = seen
            .hashes
            .iter()
            .filter(|(f, h)| seen.before.as_ref().is_none_or(|b| b.get(*f) != Some(*h)))
            .map(|(f, _)| f)
            .collect();
        if changed.is_empty() {
            return Ok(seen.was_echo().then(|| {
                format!(
                    "still holds what flowc wrote to this {} record: its own write, not a change to sync",
                    self.resource
                )
            }));
        }
        let resource = echo_resource(self.resource);
        let at = TargetKey {
            target: self.service,
            resource: &resource,
            key: id,
        };
        let Some(written) = hashes_at(self.store, at)? else {
            return Ok(None);
        };
        // Read for the first time, a record flowc created is judged by the
        // fields a write can set.
        let changed: Vec<&String> = match seen.before {
            None if written.contains_key(CREATED_MARK) => changed
                .into_iter()
                .filter(|f| !self.readonly.contains(f.as_str()))
                .collect(),
            _ => changed,
        };
        let echoed = changed
            .iter()
            .all(|f| written.get(*f) == seen.hashes.get(*f));
        Ok(echoed.then(|| {
            let fields: Vec<&str> = changed.iter().map(|f| f.as_str()).collect();
            format!(
                "holds what flowc wrote to this {} record ({}): its own write read back, not a change to sync",
                self.resource,
                fields.join(", ")
            )
        }))
    }

    /// Remembers what the flow read of a record it is done with, and
    /// whether it was an echo.
    pub(super) fn done(&self, key: &str, seen: &Seen, echo: bool) -> Result<(), StateError> {
        let same = seen.before.as_ref().is_some_and(|b| {
            b.len() == seen.hashes.len() + usize::from(seen.was_echo())
                && seen.hashes.iter().all(|(f, h)| b.get(f) == Some(h))
        });
        if same && seen.was_echo() == echo {
            return Ok(());
        }
        let mut hashes = seen.hashes.clone();
        if echo {
            hashes.insert(ECHO_MARK.to_string(), String::new());
        }
        let target = self.read_target();
        self.store
            .learn(self.flow, self.read_at(key, &target), &encode(key, &hashes))
    }

    /// Where what this flow read is kept: a "target" of its own.
    fn read_target(&self) -> String {
        format!("read by flow {} of {}", self.flow, self.service)
    }

    fn read_at<'k>(&'k self, key: &'k str, target: &'k str) -> TargetKey<'k> {
        TargetKey {
            target,
            resource: self.resource,
            key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SqliteStore;
    use crate::value::json::parse;

    /// A write by flow "w" to `(service, resource, id)`.
    fn wrote(
        store: &SqliteStore,
        (service, resource, id): (&str, &str, &str),
        sent: &Record,
        before: Option<&Record>,
        after: &Record,
    ) {
        let w = Written {
            flow: "w",
            service,
            resource,
            id,
            sent,
        };
        note_write(store, &w, before, after).unwrap();
    }

    fn record(json: &str) -> Record {
        parse(json).unwrap().as_record().unwrap().clone()
    }

    #[test]
    fn equal_values_hash_alike_and_the_text_round_trips() {
        assert_eq!(
            hash_value(&parse("12.5").unwrap()),
            hash_value(&parse("12.50").unwrap())
        );
        assert_ne!(
            hash_value(&parse("\"12.5\"").unwrap()),
            hash_value(&parse("{\"a\":12.5}").unwrap())
        );
        let h: Hashes = [
            ("a".to_string(), "01".to_string()),
            ("b".into(), "02".into()),
        ]
        .into();
        assert_eq!(decode(encode("a", &h)), h);
    }

    #[test]
    fn a_change_flowc_wrote_is_an_echo_and_anyone_elses_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let fields: crate::value::names::NameSet = ["Name", "Price", "Active"]
            .into_iter()
            .map(Arc::from)
            .collect();
        let readonly = HashSet::new();
        let reads = Reads {
            store: &store,
            flow: "back",
            service: "books",
            resource: "articles",
            fields: Some(&fields),
            readonly: &readonly,
        };
        let v1 = record(r#"{"Id":"a","Name":"Bike","Price":10,"Active":true,"Stock":1}"#);
        // Read once: nothing was written by flowc, nothing is an echo.
        let seen = reads.see("a", &v1).unwrap();
        assert_eq!(reads.echo("a", &seen).unwrap(), None);
        reads.done("a", &seen, false).unwrap();
        // Another flow writes the price; the service derives nothing else.
        let v2 = record(r#"{"Id":"a","Name":"Bike","Price":12,"Active":true,"Stock":1}"#);
        let sent = record(r#"{"Price":12.00}"#);
        wrote(&store, ("books", "articles", "a"), &sent, Some(&v1), &v2);
        let seen = reads.see("a", &v2).unwrap();
        let why = reads.echo("a", &seen).unwrap().expect("an echo");
        assert!(
            why.contains("articles record") && why.contains("Price"),
            "{why}"
        );
        reads.done("a", &seen, true).unwrap();
        // Read again unchanged, it is still flowc's own write.
        let seen = reads.see("a", &v2).unwrap();
        let why = reads.echo("a", &seen).unwrap().expect("still an echo");
        assert!(why.contains("still holds"), "{why}");
        reads.done("a", &seen, true).unwrap();
        // A person renames it and flowc writes the stock: the name is news.
        let v3 = record(r#"{"Id":"a","Name":"Bicycle","Price":12,"Active":true,"Stock":1}"#);
        let v4 = record(r#"{"Id":"a","Name":"Bicycle","Price":12,"Active":true,"Stock":5}"#);
        wrote(
            &store,
            ("books", "articles", "a"),
            &record(r#"{"Stock":5}"#),
            Some(&v3),
            &v4,
        );
        let seen = reads.see("a", &v4).unwrap();
        assert_eq!(reads.echo("a", &seen).unwrap(), None);
        reads.done("a", &seen, false).unwrap();
        // Nothing the flow reads changed: not an echo either (the ledger decides).
        let seen = reads.see("a", &v4).unwrap();
        assert_eq!(reads.echo("a", &seen).unwrap(), None);
    }

    #[test]
    fn a_record_flowc_created_is_an_echo_the_first_time_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let made = record(r#"{"id":7,"name":"Bike","price":12.10,"photos":{"href":"x"}}"#);
        wrote(
            &store,
            ("shop", "products", "7"),
            &record(r#"{"name":"Bike"}"#),
            None,
            &made,
        );
        let fields: crate::value::names::NameSet = ["name", "price", "photos"]
            .into_iter()
            .map(Arc::from)
            .collect();
        let readonly: HashSet<Arc<str>> = ["photos"].map(Arc::from).into();
        let reads = Reads {
            store: &store,
            flow: "products",
            service: "shop",
            resource: "products",
            fields: Some(&fields),
            readonly: &readonly,
        };
        // Read back, the service shows the photos expanded: still an echo.
        let read =
            record(r#"{"id":7,"name":"Bike","price":12.10,"photos":{"href":"x","collection":[]}}"#);
        let seen = reads.see("7", &read).unwrap();
        assert!(reads.echo("7", &seen).unwrap().is_some());
        // A record flowc only partly wrote, never read before, is not.
        let other = record(r#"{"id":8,"name":"Car","price":9}"#);
        let before = record(r#"{"id":8,"name":"Car","price":8}"#);
        wrote(
            &store,
            ("shop", "products", "8"),
            &record(r#"{"price":9}"#),
            Some(&before),
            &other,
        );
        let seen = reads.see("8", &other).unwrap();
        assert_eq!(reads.echo("8", &seen).unwrap(), None);
    }
}
