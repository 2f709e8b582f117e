//! flowc: a declarative sync language and engine.
//!
//! Data flows one way: text → [`syntax`] (AST) → [`check`] (checked
//! [`program`]) → [`eval`] (records) → plan → writes through [`connectors`].

// Diagnostics are large, but they are returned once per problem, never in a
// hot loop; boxing them everywhere would only add noise.
#![allow(clippy::result_large_err)]

pub mod check;
pub mod cli;
pub mod connectors;
pub mod diag;
pub mod engine;
pub mod eval;

pub mod fmt;
pub mod functions;
pub mod program;
pub mod serve;
pub mod setup;
pub mod shipped;
pub mod source_map;
pub mod state;
pub mod syntax;
pub mod types;
pub mod value;
