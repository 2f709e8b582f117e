//! The registry of connectors. Everything flowc knows about one connector —
//! its settings, its built-in schema module, the field that holds a record's
//! id, how to open it and how to sign in to it — is one [`ConnectorSpec`],
//! exported by the connector's own module (`connectors::ccvshop::SPEC`). The
//! checker, the module loader, `flowc auth`, the engine and
//! `docs/connectors/` all read it from here, so they cannot disagree.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::error::ConnectorError;
use super::settings::Settings;
use super::{ccvshop, eaccounting, file, memory, Connector};
use crate::program::Connection;
use crate::types::RecordType;

/// Every connector flowc can open, in the order the docs list them.
pub static REGISTRY: &[&ConnectorSpec] = &[
    &ccvshop::SPEC,
    &eaccounting::SPEC,
    &file::SPEC,
    &memory::SPEC,
];

/// The connector called `name` (`connector "…"` in a connection).
pub fn spec(name: &str) -> Option<&'static ConnectorSpec> {
    REGISTRY.iter().copied().find(|s| s.name == name)
}

/// The connectors `flowc sandbox` can start locally.
pub fn with_sandbox() -> impl Iterator<Item = (&'static ConnectorSpec, SandboxHook)> {
    REGISTRY.iter().filter_map(|s| Some((*s, s.sandbox?)))
}

/// The connectors that `flowc auth <name>` can sign in to.
pub fn with_auth() -> impl Iterator<Item = &'static ConnectorSpec> {
    REGISTRY.iter().copied().filter(|s| s.auth.is_some())
}

/// `"a", "b"` for help texts.
pub fn quoted_names(specs: impl Iterator<Item = &'static ConnectorSpec>) -> String {
    specs
        .map(|s| format!("\"{}\"", s.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a connector needs to know about one connection to open it.
pub struct OpenContext<'a> {
    pub connection: &'a Connection,
    /// The connection's settings, resolved against the environment.
    pub settings: &'a Settings,
    /// Where flowc keeps state for this flow; connectors keep tokens under it.
    pub state_dir: &'a Path,
    /// The record types of the connection's resources (resource name → type),
    /// from the checked program: for validating writes and typing filters.
    pub schemas: &'a HashMap<String, Arc<RecordType>>,
}

/// What an interactive sign-in gets from `flowc auth <name>`.
pub struct AuthContext<'a> {
    pub settings: &'a Settings,
    /// Tokens are stored under it, where the connector looks for them.
    pub state_dir: &'a Path,
    /// Open the sign-in page in a browser, besides printing its address.
    pub open_browser: bool,
    /// How long to wait for the user to finish signing in.
    pub timeout: Duration,
    /// Where to tell the user what to do.
    pub out: &'a mut dyn Write,
}

/// How long `flowc auth` waits for the user to finish signing in.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(300);

pub type OpenFn = fn(&OpenContext<'_>) -> Result<Box<dyn Connector>, ConnectorError>;
pub type SandboxHook = fn(&SandboxOptions) -> std::io::Result<SandboxService>;

/// What `flowc sandbox` asks of a connector's emulator.
#[derive(Debug, Clone, Copy)]
pub struct SandboxOptions {
    /// Orders and products of a generated shop (services that hold them);
    /// no orders: the demo data.
    pub orders: usize,
    pub products: usize,
    pub seed: u64,
    /// Added to every request, to feel a real service's round trips.
    pub latency: Duration,
    /// Deliver the webhooks registered in the service (to loopback only).
    pub webhooks: bool,
}

/// A connector's service running locally for `flowc sandbox`; it stops
/// when this is dropped.
pub struct SandboxService {
    /// One line: what runs where.
    pub description: String,
    /// The settings of the connector's built-in connection, as the
    /// environment variables a user would export to reach it.
    pub env: Vec<(String, String)>,
    /// One line on what the service holds now, when it is worth showing.
    pub summary: Box<dyn Fn() -> Option<String> + Send + Sync>,
}
pub type AuthHook = fn(AuthContext<'_>) -> Result<(), ConnectorError>;

/// One connector.
pub struct ConnectorSpec {
    /// What a connection writes after `connector`.
    pub name: &'static str,
    /// One line for the docs and help texts.
    pub doc: &'static str,
    pub settings: &'static [SettingSpec],
    /// The built-in module with the connector's schemas and its default
    /// connection: (import path, text).
    pub schema_module: Option<(&'static str, &'static str)>,
    /// The field of a stored record that holds its id, for schemas that name
    /// no `key`; `None` when records have no id (a file's).
    pub id_field: Option<&'static str>,
    /// What to tell a user whose credentials were refused.
    pub auth_help: &'static str,
    /// A resource every sign-in may list: one record of it proves the
    /// credentials work (`flowc doctor`, and `flowc serve` between runs).
    /// `None`: nothing to sign in to.
    pub sign_in_probe: Option<&'static str>,
    pub open: OpenFn,
    /// The interactive sign-in behind `flowc auth <name>`, for connectors
    /// whose credentials come from one.
    pub auth: Option<AuthHook>,
    /// A local emulator of the service, for `flowc sandbox` (built with the
    /// default `sandbox` feature).
    pub sandbox: Option<SandboxHook>,
}

impl ConnectorSpec {
    pub fn setting(&self, name: &str) -> Option<&'static SettingSpec> {
        self.settings.iter().find(|s| s.name == name)
    }
}

impl std::fmt::Debug for ConnectorSpec {
    // The module text and the function pointers say nothing useful in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorSpec")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("schema_module", &self.schema_module.map(|(path, _)| path))
            .field("id_field", &self.id_field)
            .field("auth", &self.auth.is_some())
            .field("sandbox", &self.sandbox.is_some())
            .finish_non_exhaustive()
    }
}

/// One setting of a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingSpec {
    pub name: &'static str,
    pub ty: SettingType,
    /// A connection must give it (settings with a default never are).
    pub required: bool,
    /// Only `env(…)` or `file(…)` may give it (E0401), and it never prints.
    pub secret: bool,
    /// The value when the connection gives none.
    pub default: Option<&'static str>,
    /// One line for the docs.
    pub doc: &'static str,
}

impl SettingSpec {
    /// An optional, non-secret setting without a default; the `const fn`s
    /// below adjust it, so a spec reads as one line per setting.
    pub const fn new(name: &'static str, ty: SettingType, doc: &'static str) -> Self {
        SettingSpec {
            name,
            ty,
            required: false,
            secret: false,
            default: None,
            doc,
        }
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }
}

/// What kind of text a setting holds. Every setting arrives as text (from
/// the flow, the environment or a file); the type says how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    Text,
    /// An absolute `http` or `https` URL.
    Url,
    /// The address of a service that credentials are sent to: `https`, or
    /// plain `http` only on this machine (loopback), where nothing crosses
    /// a network.
    ServiceUrl,
    /// A whole number, 0 or more.
    Number,
    /// `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`).
    Bool,
}

impl SettingType {
    pub fn name(self) -> &'static str {
        match self {
            SettingType::Text => "text",
            SettingType::Url => "url",
            SettingType::ServiceUrl => "https url",
            SettingType::Number => "number",
            SettingType::Bool => "bool",
        }
    }

    /// Why `text` is not a value of this type, if it is not.
    pub fn check(self, text: &str) -> Result<(), String> {
        match self {
            SettingType::Text => Ok(()),
            SettingType::Url => parse_url(text).map(drop),
            SettingType::ServiceUrl => parse_service_url(text).map(drop),
            SettingType::Number => parse_number(text).map(drop),
            SettingType::Bool => parse_bool(text).map(drop),
        }
    }
}

pub(crate) fn parse_number(text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("must be a whole number, not {text:?}"))
}

pub(crate) fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("must be true or false, not {text:?}")),
    }
}

pub(crate) fn parse_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("is not a URL ({e}): {text:?}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("must be an http(s) URL with a host, not {text:?}"));
    }
    Ok(url)
}

/// A [`SettingType::ServiceUrl`]: secrets and tokens never travel over plain
/// HTTP to another machine.
pub(crate) fn parse_service_url(text: &str) -> Result<url::Url, String> {
    let url = parse_url(text)?;
    if url.scheme() == "https" || is_loopback(&url) {
        return Ok(url);
    }
    Err(format!(
        "must start with https:// ({text:?} would send credentials unencrypted); plain http:// is accepted only for this machine (localhost, 127.0.0.1, [::1])"
    ))
}

/// Whether `url` points at this machine.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_specs_are_consistent() {
        let mut names = std::collections::HashSet::new();
        for spec in REGISTRY {
            assert!(names.insert(spec.name), "{} twice", spec.name);
            assert!(!spec.doc.is_empty() && !spec.auth_help.is_empty());
            let mut settings = std::collections::HashSet::new();
            for s in spec.settings {
                assert!(settings.insert(s.name), "{}.{} twice", spec.name, s.name);
                assert!(
                    s.name != "connector",
                    "`connector` names the connector itself"
                );
                assert!(
                    !(s.required && s.default.is_some()),
                    "{}.{}: a setting with a default is never missing",
                    spec.name,
                    s.name
                );
                if let Some(d) = s.default {
                    assert_eq!(s.ty.check(d), Ok(()), "{}.{} default", spec.name, s.name);
                }
            }
            if let Some((path, text)) = spec.schema_module {
                assert_eq!(path, format!("stdlib/{}.flow", spec.name));
                assert!(text.contains(&format!("connector \"{}\"", spec.name)));
            }
        }
        assert_eq!(spec("eaccounting").and_then(|s| s.id_field), Some("Id"));
        assert_eq!(spec("ccvshop").and_then(|s| s.id_field), Some("id"));
        assert_eq!(spec("file").map(|s| s.id_field), Some(None));
        assert!(spec("nope").is_none());
    }

    /// A value of `ty` that every connector accepts at open (port 0: never contacted, and
    /// a listener on it takes any free port).
    fn sample(ty: SettingType) -> &'static str {
        match ty {
            SettingType::Text => "sample.ndjson",
            SettingType::Url | SettingType::ServiceUrl => "http://127.0.0.1:0/sample",
            SettingType::Number => "5",
            SettingType::Bool => "true",
        }
    }

    /// The checker accepts exactly the declared settings, so a setting the
    /// code reads without declaring it could never be given, and one it
    /// declares without reading would be accepted and silently ignored.
    #[test]
    fn every_connector_reads_exactly_the_settings_it_declares() {
        let state = tempfile::tempdir().unwrap();
        for spec in REGISTRY {
            let pairs: Vec<(&str, &str)> = spec
                .settings
                .iter()
                .map(|s| (s.name, sample(s.ty)))
                .collect();
            let settings = Settings::from_pairs(spec, spec.name, &pairs).unwrap();
            let connection = Connection {
                name: Arc::from(spec.name),
                connector: Arc::from(spec.name),
                settings: vec![],
            };
            let opened = (spec.open)(&OpenContext {
                connection: &connection,
                settings: &settings,
                state_dir: state.path(),
                schemas: &HashMap::new(),
            });
            // Opening must get through every read: an early error would hide later ones.
            let opened = opened.unwrap_or_else(|e| panic!("{} does not open: {e}", spec.name));
            assert!(std::ptr::eq(opened.spec(), *spec), "{}", spec.name);
            assert_eq!(opened.kind(), spec.name);
            if let Some(auth) = spec.auth {
                // With no time to wait the sign-in stops after reading its settings
                // and listening; the outcome is a timeout, not a sign-in.
                let mut out = Vec::new();
                let outcome = auth(AuthContext {
                    settings: &settings,
                    state_dir: state.path(),
                    open_browser: false,
                    timeout: Duration::ZERO,
                    out: &mut out,
                });
                let err = outcome.expect_err("nobody signed in");
                assert!(err.message.contains("no answer"), "{}: {err}", spec.name);
            }
            let declared: std::collections::BTreeSet<String> =
                spec.settings.iter().map(|s| s.name.to_string()).collect();
            let read = settings.names_read();
            let undeclared: Vec<&String> = read.difference(&declared).collect();
            let unread: Vec<&String> = declared.difference(&read).collect();
            assert!(
                undeclared.is_empty(),
                "connector {} reads settings it does not declare: {undeclared:?}",
                spec.name
            );
            assert!(
                unread.is_empty(),
                "connector {} declares settings nothing reads: {unread:?}",
                spec.name
            );
        }
    }

    #[test]
    fn setting_types_accept_what_they_document() {
        assert!(SettingType::Url.check("https://shop.example.nl/").is_ok());
        assert!(SettingType::ServiceUrl
            .check("https://shop.example.nl/")
            .is_ok());
        for local in [
            "http://127.0.0.1:8080/",
            "http://localhost/x",
            "http://[::1]:9/",
        ] {
            assert!(SettingType::ServiceUrl.check(local).is_ok(), "{local}");
        }
        let err = SettingType::ServiceUrl
            .check("http://shop.example.nl/")
            .unwrap_err();
        assert!(
            err.contains("https://") && err.contains("unencrypted"),
            "{err}"
        );
        assert!(SettingType::ServiceUrl.check("http://10.0.0.1/").is_err());
        assert!(SettingType::Url.check("ftp://x").is_err());
        assert!(SettingType::Url.check("shop.example.nl").is_err());
        assert!(SettingType::Number.check(" 250 ").is_ok());
        assert!(SettingType::Number.check("-1").is_err());
        assert!(SettingType::Number.check("2.5").is_err());
        assert_eq!(parse_bool("Yes"), Ok(true));
        assert_eq!(parse_bool("off"), Ok(false));
        assert!(SettingType::Bool.check("perhaps").is_err());
        assert!(SettingType::Text.check("").is_ok());
    }
}
