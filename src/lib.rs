//! flowc: a declarative sync language and engine.
//!
//! Data flows one way: text → [`syntax`] (AST) → [`check`] (checked program)
//! → [`eval`] (records) → plan → writes.

pub mod check;
pub mod diag;
pub mod emulators;
pub mod fmt;
pub mod program;
pub mod source;
pub mod stdlib;
pub mod syntax;
pub mod value;
