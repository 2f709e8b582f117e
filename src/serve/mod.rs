//! `flowc serve`: the long-running process that keeps flows current.

pub mod dashboard;
