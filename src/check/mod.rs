//! AST → checked program. Resolves names across modules, infers types, and
//! reports every problem it finds with a code, a span and a fix.

pub mod types;
