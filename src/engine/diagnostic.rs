//! A run that stopped as a whole, as a diagnostic: what the CLI prints
//! and what `flowc serve` logs and alerts with.

use super::EngineError;
use crate::connectors::{ConnectorError, ErrorClass};
use crate::diag::{codes, Diagnostic};
use crate::state::StateError;

pub fn state_diagnostic(e: &StateError) -> Diagnostic {
    Diagnostic::new(&codes::E0010, format!("state store: {e}"))
}

pub fn engine_diagnostic(e: &EngineError) -> Diagnostic {
    match e {
        EngineError::Connector(e) => connector_diagnostic(e),
        EngineError::State(e) => state_diagnostic(e),
        EngineError::Unresolved(d) => (**d).clone(),
    }
}

pub fn connector_diagnostic(e: &ConnectorError) -> Diagnostic {
    let code = match e.class {
        ErrorClass::Config | ErrorClass::Auth => &codes::E0402,
        _ => &codes::E0010,
    };
    let mut d = Diagnostic::new(code, e.to_string());
    match e.class {
        ErrorClass::Config => {
            d = d.help(
                "set the connection's environment variables (docs/connectors/README.md); \
                 to try everything without credentials, run `flowc sandbox`",
            )
        }
        ErrorClass::Io => d = d.help("check that the file exists and its folder is writable"),
        _ => {}
    }
    if let Some(body) = &e.body {
        d = d.note(format!(
            "the service answered: {}",
            body.chars().take(300).collect::<String>()
        ));
    }
    d
}
