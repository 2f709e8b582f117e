//! The running server as the dashboard sees it: serve's implementation of
//! [`dashboard::Backend`] — every configured flow with its last run, next
//! run and health, the state folder, and retrying a dead letter under the
//! flow's lock, in the flow's own session.

use std::path::Path;
use std::sync::Arc;

use super::dashboard::{Backend, FlowStatus, Health};
use super::{lock, Server};
use crate::engine::retry::{retry, Letters};
use crate::state::Store;

#[derive(Clone)]
pub struct ServeBackend(pub Arc<Server>);

impl Backend for ServeBackend {
    fn flows(&self) -> Vec<FlowStatus> {
        let server = &self.0;
        server
            .flows
            .values()
            .map(|slot| {
                let next_run = *lock(&slot.next_run);
                let mut status = FlowStatus::of(&server.store, &slot.name, next_run)
                    .unwrap_or_else(|e| FlowStatus {
                        name: slot.name.clone(),
                        last_run: None,
                        next_run,
                        health: Health::Failing(format!("state store: {e}")),
                    });
                // A last run that went well says nothing of credentials
                // refused since, or of runs that keep reading nothing.
                let firing = server.alerts.firing(&slot.name);
                if status.health == Health::Ok && !firing.is_empty() {
                    let titles: Vec<&str> = firing.iter().map(|c| c.title()).collect();
                    status.health = Health::Failing(titles.join("; "));
                }
                status
            })
            .collect()
    }

    fn state_dir(&self) -> &Path {
        &self.0.state_dir
    }

    fn retry_dead_letter(&self, id: i64) -> Result<String, String> {
        let server = &self.0;
        let letter = server
            .store
            .dead_letter(id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!("there is no dead letter #{id} (it was retried, dropped or purged)")
            })?;
        let slot = server.flows.get(&letter.flow).ok_or_else(|| {
            format!(
                "flow `{}` is not served here; retry it with `flowc dlq retry`",
                letter.flow
            )
        })?;
        // Never beside a scheduled or webhook run of the same flow.
        let _busy = slot.busy.blocking_lock();
        let loaded = &server.files[slot.file];
        let program = &loaded.checked.program;
        let retried = retry(
            program,
            &loaded.session,
            &program.flows[slot.index],
            Letters::One(id),
        )
        .map_err(|e| crate::engine::engine_diagnostic(&e).message)?;
        match retried.still_dead {
            0 => Ok(retried.summary()),
            _ => Err(retried.summary()),
        }
    }
}
