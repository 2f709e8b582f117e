//! Resolving a connection's settings when it is opened: literals from the
//! flow, values from the environment (`env("NAME")`) or from files
//! (`file("path")`). Secrets are wrapped so that they never print.

use std::collections::HashMap;
use std::fmt;

use super::error::{ConnectorError, ErrorClass};
use crate::program::{Connection, SettingValue};

/// A value that must not appear in logs, diagnostics or snapshots.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The only way to read it: at the point of use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Settings of one connection, resolved.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub connection: String,
    values: HashMap<String, Secret>,
    /// Where each value came from, for error messages ("environment variable X").
    origins: HashMap<String, String>,
}

impl Settings {
    /// Resolves every setting of `connection`, with `env` as the environment.
    pub fn resolve(
        connection: &Connection,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConnectorError> {
        let mut s = Settings {
            connection: connection.name.to_string(),
            ..Settings::default()
        };
        for (name, value) in &connection.settings {
            let (v, origin) = match value {
                SettingValue::Literal(v) => (v.to_text(), "the flow".to_string()),
                SettingValue::Env { name: var, default } => (
                    env(var)
                        .filter(|v| !v.is_empty())
                        .or_else(|| default.as_deref().map(str::to_string)),
                    format!("environment variable {var}"),
                ),
                SettingValue::File(path) => match std::fs::read_to_string(path) {
                    Ok(text) => (
                        Some(text.trim().to_string()),
                        format!("file {}", path.display()),
                    ),
                    Err(e) => {
                        return Err(ConnectorError::new(
                            ErrorClass::Config,
                            format!(
                                "connection `{}`: cannot read `{name}` from {}: {e}",
                                connection.name,
                                path.display()
                            ),
                        ))
                    }
                },
            };
            s.origins.insert(name.to_string(), origin);
            if let Some(v) = v {
                s.values.insert(name.to_string(), Secret(v));
            }
        }
        Ok(s)
    }

    /// Settings given directly (tests, the sandbox).
    pub fn from_pairs(connection: &str, pairs: &[(&str, &str)]) -> Settings {
        Settings {
            connection: connection.to_string(),
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Secret(v.to_string())))
                .collect(),
            origins: pairs
                .iter()
                .map(|(k, _)| (k.to_string(), "the caller".to_string()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(Secret::expose)
    }

    pub fn secret(&self, name: &str) -> Option<Secret> {
        self.values.get(name).cloned()
    }

    /// A setting that must be present, with an error that says where it was looked for.
    pub fn require(&self, name: &str) -> Result<&str, ConnectorError> {
        self.get(name).ok_or_else(|| {
            let origin = self
                .origins
                .get(name)
                .cloned()
                .unwrap_or_else(|| "the connection block".to_string());
            ConnectorError::new(
                ErrorClass::Config,
                format!(
                    "connection `{}` needs `{name}`, but {origin} gives no value",
                    self.connection
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn secrets_never_print_and_missing_values_name_their_source() {
        let conn = Connection {
            name: Arc::from("shop"),
            connector: Arc::from("ccvshop"),
            settings: vec![
                (
                    Arc::from("url"),
                    SettingValue::Env {
                        name: Arc::from("SHOP_URL"),
                        default: Some(Arc::from("http://x")),
                    },
                ),
                (
                    Arc::from("secret_key"),
                    SettingValue::Env {
                        name: Arc::from("SHOP_SECRET"),
                        default: None,
                    },
                ),
            ],
        };
        let env = |k: &str| (k == "SHOP_SECRET").then(|| "hunter2".to_string());
        let s = Settings::resolve(&conn, &env).unwrap();
        assert_eq!(s.get("url"), Some("http://x"));
        assert!(!format!("{s:?}").contains("hunter2"));
        let none = |_: &str| None;
        let s = Settings::resolve(&conn, &none).unwrap();
        let err = s.require("secret_key").unwrap_err();
        assert!(
            err.message.contains("environment variable SHOP_SECRET"),
            "{}",
            err.message
        );
    }
}
