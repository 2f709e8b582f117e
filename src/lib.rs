//! flowc: a declarative sync language and engine.
//!
//! Data flows one way: text → [`syntax`] (AST) → [`check`] (checked program)
//! → [`eval`] (records) → plan → writes.

pub mod connectors;
pub mod emulators;
