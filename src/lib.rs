//! flowc: a declarative sync language and engine.
//!
//! Data flows one way: text → [`syntax`] (AST) → [`check`] (checked program)
//! → [`eval`] (records) → plan → writes.

pub mod emulators;
pub mod diag;
pub mod source;
pub mod syntax;
pub mod value;
pub mod check;
pub mod program;
pub mod stdlib;
pub mod fmt;
