//! `flowc.toml`: which flows `flowc serve` keeps current, when, on which
//! webhooks, and whom it tells when something breaks; see docs/serve.md.
//! The one reader of the file: `flowc init` reads back what it wrote and
//! `flowc doctor` reads what it checks through it.
//!
//! Every problem is a diagnostic (E0603) pointing at the smallest culprit
//! in the file: the value, or the key when the value is fine but the key is
//! not wanted there.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::schedule::Schedule;
use crate::diag::{codes, Diagnostic};
use crate::source_map::{FileId, SourceMap, Span};

/// The file's name, beside the flows folder.
pub const FILE: &str = "flowc.toml";

/// Where `flowc serve` listens unless told otherwise: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8480";

/// A loaded `flowc.toml`, paths resolved against its folder.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// .flow files or folders.
    pub flows: Vec<PathBuf>,
    /// The state folder, when the file names one.
    pub state: Option<PathBuf>,
    pub listen: SocketAddr,
    /// Where the shop delivers webhooks (`flowc webhooks install`).
    pub public_url: Option<url::Url>,
    /// Scheduled flows, by name.
    pub flow: BTreeMap<String, FlowConfig>,
    pub alerts: Option<AlertsConfig>,
    /// The file's text, for diagnostics found after loading (a flow name
    /// that no .flow file declares).
    pub sources: SourceMap,
}

#[derive(Debug, Clone)]
pub struct FlowConfig {
    pub name: String,
    /// The `[flow.NAME]` header, for diagnostics about the flow itself.
    pub span: Span,
    pub schedule: Schedule,
    pub jitter: Duration,
    /// CCV Shop events that trigger a sync of the record they name.
    pub webhooks: Vec<(String, Span)>,
    /// Automatic retries after a failed run before an alert goes out.
    pub retries: u32,
    /// How soon a failed run is retried.
    pub retry_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this machine.
    None,
}

#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub webhook: Option<url::Url>,
    pub email_to: Vec<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_from: Option<String>,
    pub smtp_security: SmtpSecurity,
    pub zero_records_runs: u32,
    pub period: Duration,
    /// How often serve signs in to every service between runs (`None`:
    /// `sign_in_check = "off"`).
    pub sign_in_check: Option<Duration>,
}

/// How often serve checks the sign-ins unless `[alerts]` says otherwise.
pub const SIGN_IN_CHECK: Duration = Duration::from_secs(3600);

impl Config {
    /// How often serve signs in to every service between runs, so that
    /// credentials that stopped working alert before a run needs them.
    pub fn sign_in_check(&self) -> Option<Duration> {
        self.alerts
            .as_ref()
            .map_or(Some(SIGN_IN_CHECK), |a| a.sign_in_check)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    flows: Spanned<Vec<Spanned<String>>>,
    state: Option<Spanned<String>>,
    serve: Option<RawServe>,
    #[serde(default)]
    flow: BTreeMap<Spanned<String>, RawFlow>,
    alerts: Option<RawAlerts>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServe {
    listen: Option<Spanned<String>>,
    public_url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    every: Option<Spanned<String>>,
    cron: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    #[serde(default)]
    webhooks: Vec<Spanned<String>>,
    retries: Option<u32>,
    retry_after: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    webhook: Option<Spanned<String>>,
    #[serde(default)]
    email_to: Vec<Spanned<String>>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_from: Option<Spanned<String>>,
    smtp_security: Option<Spanned<String>>,
    zero_records_runs: Option<Spanned<u32>>,
    period: Option<Spanned<String>>,
    sign_in_check: Option<Spanned<String>>,
}

/// The CCV Shop events a flow can be triggered by: those that name a
/// record that still exists (a deleted one cannot be read again).
pub const TRIGGER_EVENTS: &[&str] = &[
    "orders.created",
    "orders.updated",
    "orders.updated.ispaid",
    "orders.updated.status",
    "orders.updated.trackandtrace",
    "products.created",
    "products.updated",
    "categories.created",
    "categories.updated",
];

/// A loading error: the diagnostic and the sources it points into.
#[derive(Debug)]
pub struct ConfigError {
    pub diagnostic: Box<Diagnostic>,
    pub sources: SourceMap,
}

impl From<Diagnostic> for ConfigError {
    /// A problem found outside the file (a flow it names does not check).
    fn from(d: Diagnostic) -> Self {
        ConfigError {
            diagnostic: Box::new(d),
            sources: SourceMap::new(),
        }
    }
}

impl Config {
    /// The state folder: the file's `state`, else `FLOWC_STATE`, else
    /// `.flowc` beside the file (as `flowc run` keeps it beside a flow).
    pub fn state_dir(&self, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
        if let Some(dir) = &self.state {
            return dir.clone();
        }
        if let Some(dir) = env("FLOWC_STATE").filter(|s| !s.is_empty()) {
            return PathBuf::from(dir);
        }
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(".flowc")
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::source_map::read_text(path).map_err(|e| ConfigError {
            diagnostic: Box::new(
                Diagnostic::new(
                    &codes::E0010,
                    format!("cannot read {}: {e}", path.display()),
                )
                .help("pass the configuration with --config, or write one with `flowc init`"),
            ),
            sources: SourceMap::new(),
        })?;
        Config::parse(path, &text)
    }

    /// Parses `text` as the file at `path` (relative paths resolve beside it).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut sources = SourceMap::new();
        let file = sources.add(
            path.display().to_string(),
            Some(path.to_path_buf()),
            text.to_string(),
        );
        let fail = |d: Diagnostic, sources: &SourceMap| ConfigError {
            diagnostic: Box::new(d),
            sources: sources.clone(),
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let mut d = Diagnostic::new(&codes::E0603, toml_message(&e));
            if let Some(range) = e.span() {
                d = d.at(span(file, range), "here");
            }
            fail(
                d.help("see docs/serve.md for every key flowc.toml takes"),
                &sources,
            )
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        build(raw, dir, path, file)
            .map_err(|d| fail(d, &sources))
            .map(|mut c| {
                c.sources = sources.clone();
                c
            })
    }

    /// The diagnostic for a `[flow.NAME]` table whose flow no .flow file declares.
    pub fn unknown_flow(&self, flow: &FlowConfig, known: &[&str]) -> Diagnostic {
        Diagnostic::new(
            &codes::E0603,
            format!(
                "flowc.toml schedules flow `{}`, which none of the .flow files declares",
                flow.name
            ),
        )
        .at(flow.span, "no such flow")
        .help_typo(
            &flow.name,
            known.iter().copied(),
            format!("the flows are: {}", known.join(", ")),
        )
    }

    /// The diagnostic for a webhook event the flow's source cannot be re-read on.
    pub fn wrong_event(&self, event: &(String, Span), resource: &str) -> Diagnostic {
        Diagnostic::new(
            &codes::E0603,
            format!(
                "event `{}` names no record of `{resource}`, which this flow reads",
                event.0
            ),
        )
        .at(event.1, "not an event of this flow's source")
        .help(format!(
            "list only `{resource}.…` events here, e.g. `{resource}.created` or `{resource}.updated`"
        ))
    }
}

fn span(file: FileId, r: Range<usize>) -> Span {
    Span::new(file, r.start, r.end)
}

/// toml's message without its own rendering of the excerpt (the
/// diagnostic shows the excerpt).
fn toml_message(e: &toml::de::Error) -> String {
    format!("flowc.toml: {}", e.message().trim())
}

fn build(raw: Raw, dir: &Path, path: &Path, file: FileId) -> Result<Config, Diagnostic> {
    let at = |s: Range<usize>| span(file, s);
    let bad = |s: Range<usize>, message: String, help: &str| {
        Diagnostic::new(&codes::E0603, message)
            .at(at(s), "here")
            .help(help.to_string())
    };
    if raw.flows.get_ref().is_empty() {
        return Err(bad(
            raw.flows.span(),
            "flowc.toml lists no flows".into(),
            "name .flow files or folders, e.g. flows = [\"flows/ccvshop-eaccounting\"]",
        ));
    }
    let flows = raw
        .flows
        .into_inner()
        .into_iter()
        .map(|f| dir.join(f.get_ref()))
        .collect();
    let (listen, public_url) = match raw.serve {
        None => (DEFAULT_LISTEN.parse().expect("a valid address"), None),
        Some(serve) => {
            let listen = match serve.listen {
                None => DEFAULT_LISTEN.parse().expect("a valid address"),
                Some(l) => l.get_ref().parse::<SocketAddr>().map_err(|e| {
                    bad(
                        l.span(),
                        format!("listen = `{}` is not an address and port: {e}", l.get_ref()),
                        "write e.g. listen = \"127.0.0.1:8480\" (loopback) or \"0.0.0.0:8480\" (every interface)",
                    )
                })?,
            };
            let public_url = serve
                .public_url
                .map(|u| http_url(&u, "public_url", &bad))
                .transpose()?;
            (listen, public_url)
        }
    };
    let mut scheduled = BTreeMap::new();
    for (name, f) in raw.flow {
        let header = at(name.span());
        let name = name.into_inner();
        let schedule = match (&f.every, &f.cron) {
            (Some(every), None) => Schedule::Every(duration(every, &bad)?),
            (None, Some(cron)) => Schedule::cron(cron.get_ref()).map_err(|e| {
                bad(
                    cron.span(),
                    format!("cron = `{}` is not a cron expression: {e}", cron.get_ref()),
                    "write six fields, seconds first: cron = \"0 */15 * * * *\" runs every 15 minutes",
                )
            })?,
            (Some(_), Some(cron)) => {
                return Err(bad(
                    cron.span(),
                    format!("flow `{name}` has both `every` and `cron`"),
                    "keep exactly one of the two",
                ))
            }
            (None, None) => {
                return Err(Diagnostic::new(
                    &codes::E0603,
                    format!("flow `{name}` has no schedule"),
                )
                .at(header, "needs `every` or `cron`")
                .help("add every = \"15m\" or cron = \"0 */15 * * * *\""))
            }
        };
        if let Schedule::Every(d) = schedule {
            if d.is_zero() {
                let every = f.every.as_ref().expect("every is set");
                return Err(bad(
                    every.span(),
                    "a flow cannot run every 0 seconds".into(),
                    "write a positive interval, e.g. every = \"15m\"",
                ));
            }
        }
        let mut webhooks = Vec::new();
        for event in f.webhooks {
            if !TRIGGER_EVENTS.contains(&event.get_ref().as_str()) {
                let d = Diagnostic::new(
                    &codes::E0603,
                    format!(
                        "`{}` is not a CCV Shop event flowc can sync on",
                        event.get_ref()
                    ),
                )
                .at(at(event.span()), "unknown event")
                .help_typo(
                    event.get_ref(),
                    TRIGGER_EVENTS.iter().copied(),
                    format!("events: {}", TRIGGER_EVENTS.join(", ")),
                );
                return Err(d);
            }
            webhooks.push((event.get_ref().clone(), at(event.span())));
        }
        let jitter = f
            .jitter
            .as_ref()
            .map(|j| duration(j, &bad))
            .transpose()?
            .unwrap_or_default();
        let retry_after = f
            .retry_after
            .as_ref()
            .map(|r| duration(r, &bad))
            .transpose()?
            .unwrap_or(Duration::from_secs(30));
        scheduled.insert(
            name.clone(),
            FlowConfig {
                name,
                span: header,
                schedule,
                jitter,
                webhooks,
                retries: f.retries.unwrap_or(1),
                retry_after,
            },
        );
    }
    let alerts = raw.alerts.map(|a| alerts(a, &bad)).transpose()?;
    Ok(Config {
        path: path.to_path_buf(),
        flows,
        state: raw.state.map(|s| dir.join(s.get_ref())),
        listen,
        public_url,
        flow: scheduled,
        alerts,
        sources: SourceMap::new(),
    })
}

type Bad<'a> = dyn Fn(Range<usize>, String, &str) -> Diagnostic + 'a;

fn duration(text: &Spanned<String>, bad: &Bad<'_>) -> Result<Duration, Diagnostic> {
    humantime::parse_duration(text.get_ref().trim()).map_err(|e| {
        bad(
            text.span(),
            format!("`{}` is not a duration ({e})", text.get_ref()),
            "write e.g. 90s, 15m, 2h or 1d",
        )
    })
}

fn http_url(text: &Spanned<String>, key: &str, bad: &Bad<'_>) -> Result<url::Url, Diagnostic> {
    match url::Url::parse(text.get_ref()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        Ok(_) | Err(_) => Err(bad(
            text.span(),
            format!("{key} = `{}` is not an http(s) address", text.get_ref()),
            "write a whole address, e.g. \"https://sync.example.com\"",
        )),
    }
}

fn alerts(a: RawAlerts, bad: &Bad<'_>) -> Result<AlertsConfig, Diagnostic> {
    let webhook = a
        .webhook
        .as_ref()
        .map(|u| http_url(u, "webhook", bad))
        .transpose()?;
    let mut email_to = Vec::new();
    for to in &a.email_to {
        if !to.get_ref().contains('@') {
            return Err(bad(
                to.span(),
                format!("`{}` is not an e-mail address", to.get_ref()),
                "write e.g. email_to = [\"ops@example.com\"]",
            ));
        }
        email_to.push(to.get_ref().clone());
    }
    if !email_to.is_empty() && (a.smtp_host.is_none() || a.smtp_from.is_none()) {
        let first = &a.email_to[0];
        return Err(bad(
            first.span(),
            "alerts go by e-mail, but smtp_host or smtp_from is missing".into(),
            "add smtp_host = \"smtp.example.com\" and smtp_from = \"flowc@example.com\" to [alerts]",
        ));
    }
    let port = a.smtp_port.unwrap_or(587);
    let smtp_security = match a.smtp_security.as_ref().map(|s| s.get_ref().as_str()) {
        None if port == 465 => SmtpSecurity::Tls,
        None | Some("starttls") => SmtpSecurity::StartTls,
        Some("tls") => SmtpSecurity::Tls,
        Some("none") => SmtpSecurity::None,
        Some(other) => {
            let s = a.smtp_security.as_ref().expect("set");
            return Err(bad(
                s.span(),
                format!("smtp_security = `{other}` is not one of starttls, tls, none"),
                "starttls (port 587) or tls (port 465); none only for a relay on this machine",
            ));
        }
    };
    let zero_records_runs = match &a.zero_records_runs {
        Some(n) if *n.get_ref() == 0 => {
            return Err(bad(
                n.span(),
                "zero_records_runs must be at least 1".into(),
                "e.g. zero_records_runs = 5 alerts after five runs in a row read nothing",
            ))
        }
        Some(n) => *n.get_ref(),
        None => 5,
    };
    let period = a
        .period
        .as_ref()
        .map(|p| duration(p, bad))
        .transpose()?
        .unwrap_or(Duration::from_secs(3600));
    let sign_in_check = match &a.sign_in_check {
        None => Some(SIGN_IN_CHECK),
        Some(s) if s.get_ref().trim() == "off" => None,
        Some(s) => match duration(s, bad)? {
            d if d < Duration::from_secs(1) => {
                return Err(bad(
                    s.span(),
                    format!("sign_in_check = `{}` is shorter than a second", s.get_ref()),
                    "e.g. sign_in_check = \"1h\" signs in hourly; \"off\" never between runs",
                ))
            }
            d => Some(d),
        },
    };
    Ok(AlertsConfig {
        webhook,
        email_to,
        smtp_host: a.smtp_host,
        smtp_port: port,
        smtp_from: a.smtp_from.map(|s| s.into_inner()),
        smtp_security,
        zero_records_runs,
        period,
        sign_in_check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN_EXAMPLE: &str = r#"
flows = ["flows/ccvshop-eaccounting"]
state = ".flowc"

[serve]
listen = "127.0.0.1:8480"
public_url = "https://sync.example.com"

[flow.orders]
every = "15m"
jitter = "1m"
webhooks = ["orders.created", "orders.updated.ispaid", "orders.updated.status"]

[flow.products]
cron = "0 */15 * * * *"

[alerts]
webhook = "https://chat.example.com/hook"
email_to = ["ops@example.com"]
smtp_host = "smtp.example.com"
smtp_port = 587
smtp_from = "flowc@example.com"
zero_records_runs = 5
period = "1h"
sign_in_check = "6h"
"#;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("/srv/shop/flowc.toml"), text).map_err(|e| {
            let d = &e.diagnostic;
            let at = d
                .primary
                .as_ref()
                .map(|l| text[l.span.start as usize..l.span.end as usize].to_string());
            format!("{} at {:?}", d.message, at)
        })
    }

    #[test]
    fn the_shared_example_loads() {
        let c = parse(PLAN_EXAMPLE).unwrap();
        assert_eq!(
            c.flows,
            [PathBuf::from("/srv/shop/flows/ccvshop-eaccounting")]
        );
        assert_eq!(c.state, Some(PathBuf::from("/srv/shop/.flowc")));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8480");
        let orders = &c.flow["orders"];
        assert_eq!(orders.schedule, Schedule::Every(Duration::from_secs(900)));
        assert_eq!(orders.jitter, Duration::from_secs(60));
        assert_eq!(orders.webhooks.len(), 3);
        assert!(matches!(c.flow["products"].schedule, Schedule::Cron(_)));
        assert_eq!(c.sign_in_check(), Some(Duration::from_secs(6 * 3600)));
        let alerts = c.alerts.unwrap();
        assert_eq!(alerts.smtp_security, SmtpSecurity::StartTls);
        assert_eq!(alerts.period, Duration::from_secs(3600));
    }

    #[test]
    fn the_sign_in_check_is_hourly_unless_set_and_can_be_off() {
        let base = "flows = [\"f.flow\"]\n";
        assert_eq!(parse(base).unwrap().sign_in_check(), Some(SIGN_IN_CHECK));
        let with = |v: &str| parse(&format!("{base}[alerts]\nsign_in_check = \"{v}\"\n"));
        assert_eq!(with("off").unwrap().sign_in_check(), None);
        assert_eq!(
            with("90s").unwrap().sign_in_check(),
            Some(Duration::from_secs(90))
        );
        assert!(with("10ms").unwrap_err().contains("shorter than a second"));
        assert!(with("soon").unwrap_err().contains("is not a duration"));
    }

    #[test]
    fn the_state_folder_is_the_files_then_the_environments_then_beside_the_file() {
        let none = |_: &str| None;
        let env = |k: &str| (k == "FLOWC_STATE").then(|| "/var/flowc".to_string());
        let c = parse("flows = [\"a.flow\"]").unwrap();
        assert_eq!(c.state_dir(&none), PathBuf::from("/srv/shop/.flowc"));
        assert_eq!(c.state_dir(&env), PathBuf::from("/var/flowc"));
        let c = parse("flows = [\"a.flow\"]\nstate = \"data\"").unwrap();
        assert_eq!(c.state_dir(&env), PathBuf::from("/srv/shop/data"));
    }

    #[test]
    fn defaults_are_loopback_and_no_alerts() {
        let c = parse("flows = [\"a.flow\"]").unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert!(c.listen.ip().is_loopback());
        assert!(c.alerts.is_none() && c.flow.is_empty() && c.state.is_none());
    }

    #[test]
    fn each_mistake_points_at_its_value() {
        let cases = [
            (
                "flows = [\"a.flow\"]\n[flow.x]\nevery = \"soon\"",
                "\"soon\"",
            ),
            (
                "flows = [\"a.flow\"]\n[flow.x]\ncron = \"every day\"",
                "\"every day\"",
            ),
            (
                "flows = [\"a.flow\"]\n[flow.x]\nevery = \"1m\"\ncron = \"* * * * * *\"",
                "\"* * * * * *\"",
            ),
            (
                "flows = [\"a.flow\"]\n[flow.x]\nevery = \"1m\"\nwebhooks = [\"orders.paid\"]",
                "\"orders.paid\"",
            ),
            (
                "flows = [\"a.flow\"]\n[serve]\nlisten = \"localhost\"",
                "\"localhost\"",
            ),
            (
                "flows = [\"a.flow\"]\n[alerts]\nemail_to = [\"ops\"]",
                "\"ops\"",
            ),
            (
                "flows = [\"a.flow\"]\n[alerts]\nemail_to = [\"ops@x.nl\"]",
                "\"ops@x.nl\"",
            ),
            ("flows = []", "[]"),
        ];
        for (text, culprit) in cases {
            let err = parse(text).unwrap_err();
            assert!(
                err.ends_with(&format!("at Some({culprit:?})")),
                "{text}: {err}"
            );
        }
        let err = parse("flows = [\"a.flow\"]\n[flow.x]\njitter = \"1m\"").unwrap_err();
        assert!(
            err.contains("no schedule") && err.ends_with("at Some(\"x\")"),
            "{err}"
        );
        let err = parse("flows = [\"a.flow\"]\nlisten = \"1\"").unwrap_err();
        assert!(err.contains("unknown field `listen`"), "{err}");
    }
}
