//! A run that stopped as a whole, as a diagnostic: what the CLI prints
//! and what `flowc serve` logs and alerts with.

use super::EngineError;
use crate::diag::{codes, Diagnostic};
use crate::state::StateError;

pub fn state_diagnostic(e: &StateError) -> Diagnostic {
    Diagnostic::new(&codes::E0010, format!("state store: {e}"))
}

pub fn engine_diagnostic(e: &EngineError) -> Diagnostic {
    match e {
        EngineError::Connector(e) => e.diagnostic(),
        EngineError::State(e) => state_diagnostic(e),
        EngineError::Unresolved(d) => (**d).clone(),
    }
}
