//! Setting up an installation: `flowc init` writes the shipped CCV Shop →
//! eAccounting flows, their settings and a `flowc.toml` from a few answers;
//! `flowc doctor` checks such a set-up against the live services. The
//! command line asks the questions and prints; the work is here.

pub mod doctor;
pub mod init;
pub mod shipped;
