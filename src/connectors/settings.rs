//! Resolving a connection's settings when it is opened: literals from the
//! flow, values from the environment (`env("NAME")`) or from files
//! (`file("path")`). Secrets are wrapped so that they never print.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;

use super::error::{ConnectorError, ErrorClass};
use super::registry::{self, ConnectorSpec, SettingSpec};
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

/// Settings of one connection, resolved. Only the settings its connector
/// declares can be given or read, and every read is recorded, so a test can
/// hold each connector's declarations to what its code reads.
pub struct Settings {
    pub connection: String,
    spec: &'static ConnectorSpec,
    values: HashMap<String, Secret>,
    /// Where each value came from, for error messages ("environment variable X").
    origins: HashMap<String, String>,
    read: Mutex<BTreeSet<String>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are `Secret`s: their Debug never shows them.
        f.debug_struct("Settings")
            .field("connection", &self.connection)
            .field("connector", &self.spec.name)
            .field("values", &self.values)
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Resolves every setting of `connection`, with `env` as the environment.
    pub fn resolve(
        spec: &'static ConnectorSpec,
        connection: &Connection,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConnectorError> {
        let mut s = Settings::empty(spec, &connection.name);
        for (name, value) in &connection.settings {
            s.declared(name)?;
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

    /// Settings given directly (tests, the sandbox). Names the connector
    /// does not declare are refused like in a connection.
    pub fn from_pairs(
        spec: &'static ConnectorSpec,
        connection: &str,
        pairs: &[(&str, &str)],
    ) -> Result<Settings, ConnectorError> {
        let mut s = Settings::empty(spec, connection);
        for (k, v) in pairs {
            s.declared(k)?;
            s.values.insert(k.to_string(), Secret(v.to_string()));
            s.origins.insert(k.to_string(), "the caller".to_string());
        }
        Ok(s)
    }

    fn empty(spec: &'static ConnectorSpec, connection: &str) -> Settings {
        Settings {
            connection: connection.to_string(),
            spec,
            values: HashMap::new(),
            origins: HashMap::new(),
            read: Mutex::new(BTreeSet::new()),
        }
    }

    fn declared(&self, name: &str) -> Result<&'static SettingSpec, ConnectorError> {
        self.spec.setting(name).ok_or_else(|| {
            ConnectorError::new(
                ErrorClass::Config,
                format!(
                    "connection `{}`: connector \"{}\" has no setting `{name}`",
                    self.connection, self.spec.name
                ),
            )
        })
    }

    /// The names read so far, declared or not (a read of an undeclared name
    /// answers nothing; the registry test reports it).
    pub fn names_read(&self) -> BTreeSet<String> {
        self.read.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
        let spec = self.spec.setting(name)?;
        self.values.get(name).map(Secret::expose).or(spec.default)
    }

    /// The value, or the connector's default for it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.value(name)
    }

    pub fn secret(&self, name: &str) -> Option<Secret> {
        self.value(name).map(Secret::new)
    }

    /// Where `name`'s value came from, for error messages; `otherwise` when
    /// the connection does not give it.
    fn origin<'s>(&'s self, name: &str, otherwise: &'s str) -> &'s str {
        self.origins.get(name).map_or(otherwise, String::as_str)
    }

    /// A setting that must be present, with an error that says where it was looked for.
    pub fn require(&self, name: &str) -> Result<&str, ConnectorError> {
        self.value(name).ok_or_else(|| {
            ConnectorError::new(
                ErrorClass::Config,
                format!(
                    "connection `{}` needs `{name}`, but {} gives no value",
                    self.connection,
                    self.origin(name, "the connection block")
                ),
            )
        })
    }

    /// A setting read as its declared type; the error names where the bad value came from.
    fn typed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConnectorError> {
        let Some(text) = self.value(name) else {
            return Ok(None);
        };
        parse(text).map(Some).map_err(|why| {
            ConnectorError::new(
                ErrorClass::Config,
                format!(
                    "connection `{}`: `{name}` (from {}) {why}",
                    self.connection,
                    self.origin(name, "the default")
                ),
            )
        })
    }

    /// A `number` setting.
    pub fn number(&self, name: &str) -> Result<Option<u64>, ConnectorError> {
        self.typed(name, registry::parse_number)
    }

    /// A `bool` setting.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ConnectorError> {
        self.typed(name, registry::parse_bool)
    }

    /// A `url` setting.
    pub fn url(&self, name: &str) -> Result<Option<url::Url>, ConnectorError> {
        self.typed(name, registry::parse_url)
    }

    /// A service's address (`https url`), or the connector's default for it.
    pub fn service_url(&self, name: &str) -> Result<Option<url::Url>, ConnectorError> {
        self.typed(name, registry::parse_service_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::{ccvshop, eaccounting};
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
        let s = Settings::resolve(&ccvshop::SPEC, &conn, &env).unwrap();
        assert_eq!(s.get("url"), Some("http://x"));
        assert!(!format!("{s:?}").contains("hunter2"));
        let none = |_: &str| None;
        let s = Settings::resolve(&ccvshop::SPEC, &conn, &none).unwrap();
        let err = s.require("secret_key").unwrap_err();
        assert!(
            err.message.contains("environment variable SHOP_SECRET"),
            "{}",
            err.message
        );
    }

    #[test]
    fn undeclared_names_are_refused_and_reads_are_recorded() {
        let err = Settings::from_pairs(&ccvshop::SPEC, "shop", &[("secretkey", "x")]).unwrap_err();
        assert_eq!(err.class, ErrorClass::Config);
        assert!(
            err.message.contains("has no setting `secretkey`"),
            "{}",
            err.message
        );
        let s = Settings::from_pairs(&eaccounting::SPEC, "books", &[("page_size", "50")]).unwrap();
        assert_eq!(s.number("page_size").unwrap(), Some(50));
        // Unset: the declared default.
        assert_eq!(s.number("timeout_secs").unwrap(), Some(60));
        // Not declared: nothing, but the read is on record.
        assert_eq!(s.get("redirect_port"), None);
        let read: Vec<String> = s.names_read().into_iter().collect();
        assert_eq!(read, ["page_size", "redirect_port", "timeout_secs"]);
    }

    #[test]
    fn typed_reads_name_the_origin_of_a_bad_value() {
        let s = Settings::from_pairs(&ccvshop::SPEC, "shop", &[("verify_responses", "perhaps")])
            .unwrap();
        let err = s.flag("verify_responses").unwrap_err();
        assert_eq!(err.class, ErrorClass::Config);
        assert!(
            err.message
                .contains("`verify_responses` (from the caller) must be true or false"),
            "{}",
            err.message
        );
        let s = Settings::from_pairs(&ccvshop::SPEC, "shop", &[]).unwrap();
        assert_eq!(s.flag("verify_responses").unwrap(), Some(false));
        assert_eq!(s.url("url").unwrap(), None);
    }
}
