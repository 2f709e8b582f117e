//! A session: everything a run of a checked program needs, opened once —
//! the state store, the connections its flows use (services and files), and
//! the program's identity. The CLI opens a session and hands flows to its
//! engine; it parses and prints, nothing more.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Connections, Engine, EngineError, Options};
use crate::check::Checked;
use crate::connectors::file::FileConnector;
use crate::connectors::memory::MemoryConnector;
use crate::connectors::Connector;
use crate::program::{Endpoint, Flow, Mapping, Op, Program};
use crate::state::{SqliteStore, Store};

pub struct Session {
    pub store: Box<dyn Store + Sync>,
    pub connections: Connections,
    /// A fingerprint of the program's text and everything it imports,
    /// stored with every run.
    pub flow_hash: String,
    /// Where the state lives; `None` when it is kept in memory (flows that
    /// only read and write files keep none).
    pub state_dir: Option<PathBuf>,
}

impl Session {
    /// Opens what `flows` need: the state store in `state_dir` when a flow
    /// touches a service (files keep no state, so then none is created),
    /// every connection the flows use, with settings from `env`, and the
    /// files they read and write.
    pub fn open(
        checked: &Checked,
        flows: &[&Flow],
        state_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Session, EngineError> {
        let program = &checked.program;
        let mut connections = Connections::default();
        for flow in flows {
            for i in connections_used(program, flow) {
                if connections.by_index.contains_key(&i) {
                    continue;
                }
                let c = crate::connectors::open(&program.connections[i], program, state_dir, env)?;
                connections.by_index.insert(i, Arc::from(c));
            }
            for endpoint in [&flow.source, &flow.target] {
                if let Some((path, c)) = file_connector(program, endpoint) {
                    connections.files.insert(path, c);
                }
            }
        }
        let services = flows.iter().any(|f| uses_services(f));
        let store: Box<dyn Store + Sync> = if services {
            Box::new(SqliteStore::open(state_dir)?)
        } else {
            Box::new(SqliteStore::open_in_memory()?)
        };
        Ok(Session {
            store,
            connections,
            flow_hash: flow_hash(checked),
            state_dir: services.then(|| state_dir.to_path_buf()),
        })
    }

    /// A session for `flowc test`: one in-memory service per connection (and
    /// one for everything without a connection, files included) and an
    /// in-memory state store, so a test runs the engine exactly as a run does.
    pub fn in_memory(program: &Program) -> Result<Session, EngineError> {
        let mut connections = Connections::default();
        for i in 0..program.connections.len() {
            connections
                .by_index
                .insert(i, Arc::new(memory_service(program, Some(i))));
        }
        connections.fallback = Some(Arc::new(memory_service(program, None)));
        // A file target of a flow without a key keeps what a run would:
        // records appended in order. With a key, a test's `given` records
        // stand for target records that exist already, found by that key.
        for flow in program.flows.iter().filter(|f| f.key.is_none()) {
            if let Endpoint::File { path, .. } = &flow.target {
                connections
                    .files
                    .insert(path.clone(), Arc::new(MemoryConnector::appending()));
            }
        }
        Ok(Session {
            store: Box::new(SqliteStore::open_in_memory()?),
            connections,
            flow_hash: String::new(),
            state_dir: None,
        })
    }

    pub fn engine<'a>(
        &'a self,
        program: &'a Program,
        flow: &'a Flow,
        options: Options,
    ) -> Engine<'a> {
        Engine::new(
            program,
            flow,
            &*self.store,
            self.connections.clone(),
            options,
        )
    }
}

/// Does this flow touch a service (and so keep state)?
pub fn uses_services(flow: &Flow) -> bool {
    matches!(flow.source, Endpoint::Resource { .. })
        || matches!(flow.target, Endpoint::Resource { .. })
}

/// An in-memory service holding the resources of one connection (or of no
/// connection), each keeping its ids in its schema's key field.
fn memory_service(program: &Program, connection: Option<usize>) -> MemoryConnector {
    let ids: HashMap<String, Arc<str>> = program
        .schemas
        .iter()
        .filter(|s| s.connection == connection)
        .filter_map(|s| {
            let resource = s.resource.clone().unwrap_or_else(|| s.name.clone());
            Some((resource.to_string(), s.key.clone()?))
        })
        .collect();
    MemoryConnector::with_id_fields(ids)
}

fn file_connector(program: &Program, endpoint: &Endpoint) -> Option<(PathBuf, Arc<dyn Connector>)> {
    let Endpoint::File {
        path,
        display,
        format,
        schema,
    } = endpoint
    else {
        return None;
    };
    let record = schema
        .as_ref()
        .and_then(|name| program.schemas.iter().find(|s| s.name == *name))
        .map(|s| s.record.clone());
    let c = FileConnector::new(path.clone(), display.clone(), *format, record);
    Some((path.clone(), Arc::new(c)))
}

/// Every connection a flow reads or writes: source, target and upserts.
pub fn connections_used(program: &Program, flow: &Flow) -> Vec<usize> {
    fn walk(program: &Program, m: &Mapping, out: &mut HashSet<usize>) {
        for op in m.common.iter().chain(&m.on_create).chain(&m.on_update) {
            match op {
                Op::Upsert(u) => {
                    out.extend(program.schemas[u.schema].connection);
                    walk(program, &u.mapping, out);
                }
                Op::Each(e) => walk(program, &e.body, out),
                _ => {}
            }
        }
    }
    let mut out = HashSet::new();
    for ep in [&flow.source, &flow.target] {
        if let Endpoint::Resource {
            connection: Some(c),
            ..
        } = ep
        {
            out.insert(*c);
        }
    }
    walk(program, &flow.mapping, &mut out);
    for schema in program.lookups(flow).schemas {
        out.extend(program.schemas[schema].connection);
    }
    let mut out: Vec<usize> = out.into_iter().collect();
    out.sort();
    out
}

/// A stable fingerprint of the program's text and everything it imports.
pub fn flow_hash(checked: &Checked) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for i in 0..checked.sources.len() {
        h.update(
            checked
                .sources
                .get(crate::source_map::FileId(i as u32))
                .text
                .as_bytes(),
        );
    }
    hex::encode(&h.finalize()[..8])
}
