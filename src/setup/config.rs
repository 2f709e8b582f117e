//! `flowc.toml`: what `flowc serve` keeps current. `flowc init` writes it
//! and `flowc doctor` reads it; this is the part of it they need (the flows,
//! the state folder, the public address and each flow's schedule and
//! webhooks). `flowc serve` reads the whole file; keys this reader does not
//! know (alerts, listen address) are left to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diag::{codes, Diagnostic};

/// The file's name, beside the flows folder.
pub const FILE: &str = "flowc.toml";

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Config {
    /// .flow files or folders, relative to the file.
    pub flows: Vec<String>,
    /// The state folder, relative to the file.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub serve: Serve,
    /// One table per flow name; a flow without one is not scheduled.
    #[serde(default)]
    pub flow: BTreeMap<String, FlowTable>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Serve {
    #[serde(default)]
    pub listen: Option<String>,
    /// The address CCV Shop delivers webhooks to.
    #[serde(default)]
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct FlowTable {
    #[serde(default)]
    pub every: Option<String>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub jitter: Option<String>,
    /// CCV Shop events that trigger this flow for the record they name.
    #[serde(default)]
    pub webhooks: Vec<String>,
}

/// A read `flowc.toml` and the folder its paths are relative to.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub config: Config,
}

impl Loaded {
    fn base(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The flows' paths, resolved against the file's folder.
    pub fn flow_paths(&self) -> Vec<PathBuf> {
        self.config
            .flows
            .iter()
            .map(|p| self.base().join(p))
            .collect()
    }

    /// The state folder: the file's `state`, else `FLOWC_STATE`, else
    /// `.flowc` beside the file (as `flowc run` keeps it beside a flow).
    pub fn state_dir(&self, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
        match (
            &self.config.state,
            env("FLOWC_STATE").filter(|s| !s.is_empty()),
        ) {
            (Some(dir), _) => self.base().join(dir),
            (None, Some(dir)) => PathBuf::from(dir),
            (None, None) => self.base().join(".flowc"),
        }
    }
}

/// Reads and checks `path`.
pub fn load(path: &Path) -> Result<Loaded, Diagnostic> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::new(
            &codes::E0010,
            format!("cannot read {}: {e}", path.display()),
        )
        .help("write one with `flowc init`, or pass `--config PATH`")
    })?;
    let config = parse(&text).map_err(|why| {
        Diagnostic::new(&codes::E0603, format!("{}: {why}", path.display()))
            .help("see the flowc.toml section of docs/cli.md (`flowc init` writes a valid one)")
    })?;
    Ok(Loaded {
        path: path.to_path_buf(),
        config,
    })
}

/// Parses the text of a `flowc.toml` and checks what it says of schedules.
pub fn parse(text: &str) -> Result<Config, String> {
    let config: Config = toml::from_str(text).map_err(|e| e.message().to_string())?;
    if config.flows.is_empty() {
        return Err("`flows` names no .flow file or folder".into());
    }
    for (name, table) in &config.flow {
        match (&table.every, &table.cron) {
            (Some(every), None) => {
                humantime::parse_duration(every)
                    .map_err(|e| format!("[flow.{name}] every = \"{every}\": {e}"))?;
            }
            (None, Some(_)) => {}
            _ => {
                return Err(format!(
                    "[flow.{name}] needs exactly one of `every` and `cron`"
                ))
            }
        }
    }
    Ok(config)
}

/// A TOML string literal.
pub fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML array of strings on one line.
pub fn quoted_list(items: &[&str]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| quoted(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_shared_schema_and_tolerates_keys_it_leaves_to_serve() {
        let c = parse(
            r#"
flows = ["flows/ccvshop-eaccounting"]
state = ".flowc"
[serve]
listen = "127.0.0.1:8480"
public_url = "https://sync.example.com"
[flow.orders]
every = "15m"
jitter = "1m"
webhooks = ["orders.created"]
[flow.stock]
cron = "0 */15 * * * *"
[alerts]
webhook = "https://chat.example.com/hook"
"#,
        )
        .unwrap();
        assert_eq!(c.flow["orders"].webhooks, ["orders.created"]);
        assert_eq!(
            c.serve.public_url.as_deref(),
            Some("https://sync.example.com")
        );
        assert_eq!(c.flow["stock"].cron.as_deref(), Some("0 */15 * * * *"));
    }

    #[test]
    fn refuses_what_cannot_be_scheduled() {
        let both = "flows = [\"a.flow\"]\n[flow.a]\nevery = \"1m\"\ncron = \"* * * * * *\"\n";
        assert!(parse(both).unwrap_err().contains("exactly one"));
        let bad = "flows = [\"a.flow\"]\n[flow.a]\nevery = \"often\"\n";
        assert!(parse(bad).unwrap_err().contains("often"));
        assert!(parse("flows = []").unwrap_err().contains("names no"));
    }

    #[test]
    fn state_folder_is_relative_to_the_file() {
        let loaded = Loaded {
            path: PathBuf::from("/srv/shop/flowc.toml"),
            config: Config::default(),
        };
        let none = |_: &str| None;
        assert_eq!(loaded.state_dir(&none), PathBuf::from("/srv/shop/.flowc"));
        let env = |k: &str| (k == "FLOWC_STATE").then(|| "/var/flowc".to_string());
        assert_eq!(loaded.state_dir(&env), PathBuf::from("/var/flowc"));
    }
}
