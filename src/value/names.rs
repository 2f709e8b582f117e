//! Sets of field names, hashed with FNV-1a instead of the standard SipHash:
//! names are short, a run asks such a set about every field of every record
//! (which fields a flow reads, to skip the others while decoding), and
//! SipHash was 5% of a mapping profile. Field names come from flows and
//! schemas, not from an attacker choosing collisions.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// FNV-1a over the bytes written.
#[derive(Default)]
pub struct FnvHasher(u64);

impl Hasher for FnvHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FnvBuild = BuildHasherDefault<FnvHasher>;

/// A set of field names.
pub type NameSet = HashSet<Arc<str>, FnvBuild>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_set_finds_what_it_holds_and_nothing_else() {
        let set: NameSet = ["id", "rows", "billing"]
            .into_iter()
            .map(Arc::from)
            .collect();
        assert!(set.contains("rows"));
        assert!(!set.contains("row"));
        assert!(!set.contains(""));
    }
}
