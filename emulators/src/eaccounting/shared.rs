//! State shared by every request of one emulator: the company's data, the
//! identity server, the rate windows (whose clock is the emulator's clock),
//! fault injection and the request counters.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::identity::Identity;
use super::store::Store;
use crate::faults::Faults;
use crate::ratelimit::MinuteWindows;

pub(crate) struct Shared {
    /// Where the API is mounted, lower case (`/v2`).
    pub api_base: String,
    pub rate_limit: u32,
    pub store: Mutex<Store>,
    pub identity: Mutex<Identity>,
    pub limits: MinuteWindows,
    pub faults: Faults,
    pub counters: Mutex<BTreeMap<String, u64>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Handlers never leave the data half-written on panic (they build the
    // new entity first, then swap it in), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// The emulator clock, as time since the epoch; tests move it forward.
    pub fn clock(&self) -> Duration {
        self.limits.now()
    }

    pub fn now(&self) -> DateTime<Utc> {
        let d = self.clock();
        DateTime::from_timestamp(d.as_secs() as i64, d.subsec_nanos()).unwrap_or_default()
    }
}
