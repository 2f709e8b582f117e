//! `flowc doctor`: checks a set-up (a `flowc.toml` and the flows it names)
//! against the live services, one check after the other, each either fine
//! or a list of problems, every problem a diagnostic with a code and its
//! fix. Nothing is written to the services; the eAccounting sign-in is
//! refreshed in the state folder as any run does (its refresh token
//! rotates, so it must be kept where `flowc run` and `flowc serve` find it).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::check::Checked;
use crate::connectors::settings::Settings;
use crate::connectors::{self, registry, Connector, ConnectorError, ListQuery};
use crate::diag::{codes, Diagnostic};
use crate::engine::{existing_help, Connections, Engine, Options};
use crate::eval::find::{describe_existing, describe_wanted, find, Found};
use crate::program::{Endpoint, Flow};
use crate::serve::config::{Config, ConfigError};
use crate::source_map::Span;
use crate::state::SqliteStore;
use crate::value::Value;

/// CCV Shop refuses a request whose `x-date` is more than this far from
/// its own clock (ccvshop-api.md §1.1).
pub const CCV_CLOCK_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// One check and how it went.
#[derive(Debug)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Outcome {
    Ok(String),
    /// Each problem, with the index of the checked program whose source
    /// text its spans point into.
    Problems(Vec<(Diagnostic, Option<usize>)>),
    /// Not checked, and why (nothing to check, or an earlier check failed).
    Skipped(String),
}

/// Everything doctor found.
#[derive(Default)]
pub struct Report {
    pub checks: Vec<Check>,
    /// The checked flow files; problems point into their sources.
    pub programs: Vec<Checked>,
}

impl Report {
    pub fn healthy(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Problems(_)))
    }

    fn ok(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Outcome::Ok(detail.into()));
    }

    fn problems(&mut self, name: &'static str, problems: Vec<(Diagnostic, Option<usize>)>) {
        self.push(name, Outcome::Problems(problems));
    }

    fn skipped(&mut self, name: &'static str, why: impl Into<String>) {
        self.push(name, Outcome::Skipped(why.into()));
    }

    fn push(&mut self, name: &'static str, outcome: Outcome) {
        self.checks.push(Check { name, outcome });
    }
}

/// The set-up to check: each program with its flows that are on, and the
/// services they use, opened once (by connection name).
struct Setup {
    config: Config,
    state: std::path::PathBuf,
    /// (program index, names of its flows that are on)
    on: Vec<(usize, Vec<Arc<str>>)>,
    services: BTreeMap<String, Service>,
}

struct Service {
    kind: &'static str,
    /// The address whose clock is compared, when the settings give one.
    url: Option<String>,
    opened: Result<Arc<dyn Connector>, ConnectorError>,
}

/// Checks the set-up `config` describes; `Err` only when the file itself
/// cannot be read (exit 2), every other problem is in the report.
pub fn run(
    config_path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Report, ConfigError> {
    let mut report = Report::default();
    let Some((setup, company)) = sign_in(config_path, env, &mut report)? else {
        return Ok(report);
    };
    check_scopes(&setup, &mut report);
    check_company(&setup, company.as_ref(), &mut report);
    check_settings(&setup, &mut report);
    check_webhooks(&setup, &mut report);
    check_clock(&setup, &mut report);
    Ok(report)
}

/// Only the first checks: the flows, and signing in to every service
/// (`flowc init` after writing a set-up).
pub fn connections(
    config_path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Report, ConfigError> {
    let mut report = Report::default();
    sign_in(config_path, env, &mut report)?;
    Ok(report)
}

/// The flows and the sign-in; `None` when the flows do not check.
fn sign_in(
    config_path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut Report,
) -> Result<Option<(Setup, Option<Value>)>, ConfigError> {
    let config = Config::load(config_path)?;
    let Some(setup) = check_flows(config, env, report)? else {
        report.skipped("connections", "the flows must check first");
        return Ok(None);
    };
    let company = check_connections(&setup, report);
    Ok(Some((setup, company)))
}

// ------------------------------------------------------------ flows

/// Checks the flow files and that every scheduled flow exists and is on;
/// opens the services the flows that are on use.
fn check_flows(
    config: Config,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut Report,
) -> Result<Option<Setup>, Diagnostic> {
    let files = crate::check::flow_files(&config.flows).map_err(|why| {
        Diagnostic::new(
            &codes::E0603,
            format!("{}: `flows`: {why}", config.path.display()),
        )
        .help("name .flow files or folders relative to flowc.toml")
    })?;
    let mut problems = Vec::new();
    let mut on = Vec::new();
    for file in files
        .iter()
        .filter(|f| !f.to_string_lossy().ends_with(".test.flow"))
    {
        let checked = crate::check::check_path(file)?;
        let index = report.programs.len();
        problems.extend(
            checked
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| (d.clone(), Some(index))),
        );
        let mut names = Vec::new();
        for flow in &checked.program.flows {
            match crate::engine::flow_is_on(&checked.program, flow) {
                Ok(true) => names.push(flow.name.clone()),
                Ok(false) => {}
                Err(why) => problems.push((
                    Diagnostic::new(&codes::E0905, format!("flow {}: {why}", flow.name))
                        .at(flow.span, "its `when`"),
                    Some(index),
                )),
            }
        }
        on.push((index, names));
        report.programs.push(checked);
    }
    let all_on: Vec<&str> = on
        .iter()
        .flat_map(|(_, n)| n.iter().map(|s| &**s))
        .collect();
    for name in config.flow.keys() {
        if !all_on.contains(&name.as_str()) {
            let defined = report
                .programs
                .iter()
                .any(|c| c.program.flows.iter().any(|f| *f.name == **name));
            let why = if defined {
                "is off: its `when` is false with these settings"
            } else {
                "is defined in none of the flow files"
            };
            problems.push((
                Diagnostic::new(
                    &codes::E0603,
                    format!(
                        "{}: [flow.{name}] schedules a flow that {why}",
                        config.path.display()
                    ),
                )
                .help(format!(
                    "schedule one of the flows that are on: {}",
                    all_on.join(", ")
                )),
                None,
            ));
        }
    }
    let unscheduled: Vec<&str> = all_on
        .iter()
        .copied()
        .filter(|n| !config.flow.contains_key(*n))
        .collect();
    if !problems.is_empty() {
        let broken = problems
            .iter()
            .any(|(d, i)| i.is_some() && d.code.id != "E0603");
        report.problems("flows", problems);
        if broken {
            return Ok(None);
        }
    } else {
        let mut detail = format!(
            "{} file{} check; scheduled: {}",
            report.programs.len(),
            if report.programs.len() == 1 { "" } else { "s" },
            config.flow.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        if !unscheduled.is_empty() {
            detail.push_str(&format!(
                "; on but not scheduled: {}",
                unscheduled.join(", ")
            ));
        }
        report.ok("flows", detail);
    }
    let state = config.state_dir(env);
    let mut services = BTreeMap::new();
    for (index, names) in &on {
        let program = &report.programs[*index].program;
        for flow in program.flows.iter().filter(|f| names.contains(&f.name)) {
            for c in crate::engine::connections_used(program, flow) {
                let connection = &program.connections[c];
                if services.contains_key(&*connection.name) {
                    continue;
                }
                let Some(spec) = registry::spec(&connection.connector) else {
                    continue;
                };
                let url = Settings::resolve(spec, connection, env).ok().and_then(|s| {
                    ["url", "api_url"]
                        .iter()
                        .find_map(|n| s.get(n).map(str::to_string))
                });
                let opened =
                    crate::connectors::open(connection, program, &state, env).map(Arc::from);
                services.insert(
                    connection.name.to_string(),
                    Service {
                        kind: spec.name,
                        url,
                        opened,
                    },
                );
            }
        }
    }
    Ok(Some(Setup {
        config,
        state,
        on,
        services,
    }))
}

// ------------------------------------------------------------ connections

/// Signs in to every service with one small read; returns eAccounting's
/// company settings when it answered.
fn check_connections(setup: &Setup, report: &mut Report) -> Option<Value> {
    let mut problems = Vec::new();
    let mut fine = Vec::new();
    let mut company = None;
    for (name, service) in &setup.services {
        let probe = service.opened.clone().and_then(|c| {
            let first = connectors::sign_in_probe(&*c)?;
            if service.kind == "eaccounting" {
                company = first;
            }
            Ok(())
        });
        match probe {
            Ok(()) => fine.push(format!(
                "{name} ({})",
                service.url.as_deref().unwrap_or(service.kind)
            )),
            Err(e) => problems.push((credentials_problem(name, service.kind, &e), None)),
        }
    }
    if problems.is_empty() {
        report.ok("connections", format!("signed in to {}", fine.join(", ")));
    } else {
        report.problems("connections", problems);
    }
    company
}

fn credentials_problem(name: &str, kind: &str, e: &ConnectorError) -> Diagnostic {
    let d = e.diagnostic();
    let d = Diagnostic {
        message: format!("connection {name}: {}", d.message),
        ..d
    };
    if d.help.is_some() {
        return d;
    }
    let spec = registry::spec(kind)
        .map(|s| s.auth_help)
        .unwrap_or_default();
    d.help(if spec.is_empty() {
        "check the connection's credentials in the environment (docs/connectors/README.md)"
            .to_string()
    } else {
        spec.to_string()
    })
}

// ------------------------------------------------------------ scopes

/// The eAccounting scopes the flows that are on need: the API, refresh
/// tokens and sales always; accounting when a flow writes vouchers.
fn needed_scopes(setup: &Setup, programs: &[Checked]) -> Vec<&'static str> {
    let mut scopes = vec!["ea:api", "offline_access", "ea:sales"];
    let writes_vouchers = each_flow_on(setup, programs).any(|(_, program, flow)| {
        matches!(&flow.target, Endpoint::Resource { .. })
            && crate::engine::resource_of(program, &flow.target) == "vouchers"
    });
    if writes_vouchers {
        scopes.push("ea:accounting");
    }
    scopes
}

fn each_flow_on<'p>(
    setup: &'p Setup,
    programs: &'p [Checked],
) -> impl Iterator<Item = (usize, &'p crate::program::Program, &'p Flow)> {
    setup.on.iter().flat_map(move |(i, names)| {
        let program = &programs[*i].program;
        program
            .flows
            .iter()
            .filter(move |f| names.contains(&f.name))
            .map(move |f| (*i, program, f))
    })
}

/// Compares the scopes eAccounting granted (kept with the tokens after the
/// sign-in above) with those the flows need.
fn check_scopes(setup: &Setup, report: &mut Report) {
    const NAME: &str = "eAccounting scopes";
    let needed = needed_scopes(setup, &report.programs);
    if !setup
        .services
        .values()
        .any(|s| s.kind == "eaccounting" && s.opened.is_ok())
    {
        report.skipped(NAME, "no eAccounting connection is open");
        return;
    }
    let store = crate::connectors::eaccounting::tokens::TokenStore::new(&setup.state);
    let granted = match store.load() {
        Ok(Some(t)) => t.scope,
        Ok(None) => None,
        Err(e) => {
            report.problems(NAME, vec![(e.diagnostic(), None)]);
            return;
        }
    };
    let Some(granted) = granted else {
        report.skipped(NAME, "eAccounting did not say which scopes it granted");
        return;
    };
    let has: Vec<&str> = granted.split_whitespace().collect();
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|s| !has.contains(s))
        .collect();
    if missing.is_empty() {
        report.ok(NAME, format!("granted {}", needed.join(" ")));
        return;
    }
    let d = Diagnostic::new(
        &codes::E0604,
        format!(
            "the eAccounting sign-in lacks {} (granted: {granted})",
            missing.join(" ")
        ),
    )
    .help(format!(
        "sign in again granting {}: `flowc auth eaccounting` (the app registered with Visma must be allowed these scopes)",
        needed.join(" ")
    ));
    report.problems(NAME, vec![(d, None)]);
}

// ------------------------------------------------------------ company

/// eAccounting's product variants (`CompanySettings.ProductVariant`).
const VARIANTS: &[(i64, &str)] = &[
    (1, "Standard"),
    (2, "Invoicing"),
    (3, "Bookkeeping"),
    (4, "Solo"),
    (5, "Pro"),
    (6, "Invoicing Collaboration"),
];

/// The variants that offer a resource, where the API restricts it
/// (eaccounting-api.md: orders are "Pro, Standard, Invoicing" only).
pub fn variants_for(resource: &str) -> Option<&'static [i64]> {
    match resource {
        "orders" => Some(&[1, 2, 5]),
        _ => None,
    }
}

fn variant_name(v: i64) -> String {
    VARIANTS.iter().find(|(n, _)| *n == v).map_or_else(
        || format!("variant {v}"),
        |(_, name)| format!("{name} ({v})"),
    )
}

/// The company's product variant offers what each flow that is on writes.
fn check_company(setup: &Setup, company: Option<&Value>, report: &mut Report) {
    const NAME: &str = "eAccounting company";
    let Some(company) = company.and_then(Value::as_record) else {
        report.skipped(NAME, "eAccounting's company settings could not be read");
        return;
    };
    let variant = company
        .get("ProductVariant")
        .and_then(|v| v.to_text())
        .and_then(|t| t.parse::<i64>().ok());
    let modules = match company.get("ActivatedModules") {
        Some(Value::List(m)) => m.iter().filter_map(Value::to_text).collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    let mut problems = Vec::new();
    for (index, program, flow) in each_flow_on(setup, &report.programs) {
        let Endpoint::Resource { .. } = &flow.target else {
            continue;
        };
        let resource = crate::engine::resource_of(program, &flow.target);
        if let (Some(allowed), Some(v)) = (variants_for(&resource), variant) {
            if !allowed.contains(&v) {
                let names: Vec<String> = allowed.iter().map(|a| variant_name(*a)).collect();
                problems.push((
                    Diagnostic::new(
                        &codes::E0605,
                        format!(
                            "flow {} writes eAccounting {resource}, which the company's {} does not offer",
                            flow.name,
                            variant_name(v)
                        ),
                    )
                    .at(flow.span, "writes eAccounting orders")
                    .help(format!(
                        "choose another document_type in settings.flow (an invoice draft works in every variant), or upgrade the company to {}",
                        names.join(", ")
                    )),
                    Some(index),
                ));
            }
        }
    }
    if problems.is_empty() {
        report.ok(
            NAME,
            format!(
                "{}; modules: {}",
                variant.map_or_else(|| "variant not stated".to_string(), variant_name),
                if modules.is_empty() {
                    "none".to_string()
                } else {
                    modules.join(", ")
                }
            ),
        );
    } else {
        report.problems(NAME, problems);
    }
}

// ------------------------------------------------------------ settings

/// Every reference the settings name (units, terms of payment, delivery
/// methods, article codings …) exists in the service: the engine's own
/// resolution before a run, for every flow that is on, each problem once.
fn check_settings(setup: &Setup, report: &mut Report) {
    const NAME: &str = "settings";
    let store = match SqliteStore::open_in_memory() {
        Ok(s) => s,
        Err(e) => {
            report.problems(
                NAME,
                vec![(
                    Diagnostic::new(&codes::E0010, format!("state store: {e}")),
                    None,
                )],
            );
            return;
        }
    };
    let mut problems: Vec<(Diagnostic, Option<usize>)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut checked = 0;
    for (index, names) in &setup.on {
        let program = &report.programs[*index].program;
        let mut connections = Connections::default();
        for (i, c) in program.connections.iter().enumerate() {
            if let Some(Service { opened: Ok(s), .. }) = setup.services.get(&*c.name) {
                connections.by_index.insert(i, s.clone());
            }
        }
        for flow in program.flows.iter().filter(|f| names.contains(&f.name)) {
            let needs = crate::engine::connections_used(program, flow);
            if needs.iter().any(|i| !connections.by_index.contains_key(i)) {
                continue;
            }
            let engine = Engine::new(
                program,
                flow,
                &store,
                connections.clone(),
                Options::default(),
            );
            let found = engine.unresolved_references().and_then(|mut all| {
                all.extend(engine.unmatchable_lookups()?);
                Ok(all)
            });
            match found {
                Ok(found) => {
                    checked += 1;
                    for u in found {
                        if seen.contains(&u.problem) {
                            continue;
                        }
                        seen.push(u.problem.clone());
                        problems.push((unresolved_problem(&u), Some(*index)));
                    }
                }
                Err(e) => problems.push((crate::engine::engine_diagnostic(&e), None)),
            }
        }
    }
    let mut detail = "every name in the settings exists in the services".to_string();
    match check_accounts(setup, &report.programs) {
        Ok(found) => problems.extend(found),
        // The scopes check says why; reported once, there.
        Err(e) if e.class == crate::connectors::ErrorClass::Auth => {
            detail.push_str(" (account numbers not checked: the sign-in may not read accounts)")
        }
        Err(e) => problems.push((e.diagnostic(), None)),
    }
    if !problems.is_empty() {
        report.problems(NAME, problems);
    } else if checked == 0 {
        report.skipped(NAME, "no flow's services are open");
    } else {
        report.ok(NAME, detail);
    }
}

/// A name the settings give that the service does not have: pointed at
/// where the settings set it (the smallest culprit), and where it is used.
fn unresolved_problem(u: &crate::engine::Unresolved) -> Diagnostic {
    let mut d = Diagnostic::new(&codes::E0910, format!("settings: {}", u.problem))
        .help(existing_help(std::slice::from_ref(u)));
    match (u.origins.first(), u.span) {
        (Some(origin), used) => {
            d = d.at(*origin, "set here");
            for other in &u.origins[1..] {
                d = d.also(*other, "and here");
            }
            if let Some(used) = used {
                d = d.also(used, "looked up here");
            }
        }
        (None, Some(used)) => d = d.at(used, "names nothing"),
        (None, None) => {}
    }
    d
}

/// Fields of eAccounting records that name an account by its number, which
/// flows map directly (vouchers) rather than through a lookup.
const ACCOUNT_FIELDS: &[&str] = &["AccountNumber"];

/// Every account number the settings map onto an account field of an
/// eAccounting target exists in the chart of accounts (in some fiscal
/// year: the chart is kept per year).
fn check_accounts(
    setup: &Setup,
    programs: &[Checked],
) -> Result<Vec<(Diagnostic, Option<usize>)>, ConnectorError> {
    type Wanted = (Value, Span, Vec<Span>, usize, Arc<dyn Connector>);
    let mut wanted: Vec<Wanted> = Vec::new();
    for (index, program, flow) in each_flow_on(setup, programs) {
        let Endpoint::Resource {
            connection: Some(c),
            ..
        } = &flow.target
        else {
            continue;
        };
        let Some(Service {
            kind: "eaccounting",
            opened: Ok(books),
            ..
        }) = setup.services.get(&*program.connections[*c].name)
        else {
            continue;
        };
        for (expr, span) in account_mappings(&flow.mapping) {
            let origins = program.value_origins(expr);
            for v in program.known_values(expr).unwrap_or_default() {
                if !wanted.iter().any(|(w, ..)| *w == v) {
                    wanted.push((v, span, origins.clone(), index, books.clone()));
                }
            }
        }
    }
    let Some(books) = wanted.first().map(|w| w.4.clone()) else {
        return Ok(Vec::new());
    };
    let mut accounts = Vec::new();
    books.list("accounts", &ListQuery::default(), &mut |v| {
        accounts.push(v);
        Ok(true)
    })?;
    let field: Arc<str> = Arc::from("Number");
    let mut problems = Vec::new();
    for (value, span, origins, index, _) in wanted {
        let looked_up = [(field.clone(), value)];
        if !matches!(find(&accounts, &looked_up), Found::None) {
            continue;
        }
        let u = crate::engine::Unresolved {
            problem: format!(
                "eaccounting.accounts has no record{}",
                describe_wanted(&looked_up)
            ),
            span: Some(span),
            several: false,
            origins,
            existing: format!(
                "eaccounting.accounts by Number: {}",
                describe_existing(&accounts, std::slice::from_ref(&field))
            ),
        };
        problems.push((unresolved_problem(&u), Some(index)));
    }
    Ok(problems)
}

/// The expressions a mapping writes to an account field, at any depth.
fn account_mappings(m: &crate::program::Mapping) -> Vec<(&crate::program::Expr, Span)> {
    use crate::program::Op;
    let mut out = Vec::new();
    for op in m.common.iter().chain(&m.on_create).chain(&m.on_update) {
        match op {
            Op::Map { path, expr, span }
                if path.last().is_some_and(|f| ACCOUNT_FIELDS.contains(&&**f)) =>
            {
                out.push((expr, *span));
            }
            Op::Each(e) => out.extend(account_mappings(&e.body)),
            Op::Upsert(u) => out.extend(account_mappings(&u.mapping)),
            _ => {}
        }
    }
    out
}

// ------------------------------------------------------------ webhooks

/// Every webhook flowc.toml names is registered, active, in the shop, and
/// delivered to `[serve] public_url`.
fn check_webhooks(setup: &Setup, report: &mut Report) {
    const NAME: &str = "webhooks";
    let config = &setup.config;
    let wanted: Vec<(&str, &str)> = config
        .flow
        .iter()
        .flat_map(|(flow, t)| {
            t.webhooks
                .iter()
                .map(move |(e, _)| (flow.as_str(), e.as_str()))
        })
        .collect();
    if wanted.is_empty() {
        report.skipped(NAME, "flowc.toml names none");
        return;
    }
    let path = setup.config.path.display();
    let Some(public) = config.public_url.as_ref() else {
        let d = Diagnostic::new(
            &codes::E0603,
            format!("{path}: flows name webhooks, but [serve] has no public_url for CCV Shop to deliver them to"),
        )
        .help("add `public_url = \"https://…\"` under [serve]: the address at which the shop reaches `flowc serve`");
        report.problems(NAME, vec![(d, None)]);
        return;
    };
    let shop = setup.services.values().find_map(|s| {
        (s.kind == "ccvshop")
            .then(|| s.opened.as_ref().ok())
            .flatten()
    });
    let Some(shop) = shop else {
        report.skipped(NAME, "no CCV Shop connection is open");
        return;
    };
    let mut hooks = Vec::new();
    if let Err(e) = shop.list("webhooks", &ListQuery::default(), &mut |v| {
        hooks.push(v);
        Ok(true)
    }) {
        report.problems(NAME, vec![(e.diagnostic(), None)]);
        return;
    }
    let text = |v: &Value, f: &str| {
        v.as_record()
            .and_then(|r| r.get(f))
            .and_then(Value::to_text)
    };
    // The address `flowc webhooks install` registers.
    let address = crate::serve::webhooks::address(public);
    let mut problems = Vec::new();
    for (flow, event) in &wanted {
        let ours: Vec<&Value> = hooks
            .iter()
            .filter(|h| text(h, "event").as_deref() == Some(*event))
            .filter(|h| text(h, "address").as_deref() == Some(address.as_str()))
            .collect();
        let active = ours
            .iter()
            .any(|h| text(h, "is_active").as_deref() == Some("true"));
        if active {
            continue;
        }
        let (what, fix) = if ours.is_empty() {
            (
                "is not registered",
                "register it: `flowc webhooks install --config flowc.toml`".to_string(),
            )
        } else {
            (
                "is registered but inactive",
                "activate it in the shop, or remove and register it again: `flowc webhooks remove` then `flowc webhooks install`".to_string(),
            )
        };
        problems.push((
            Diagnostic::new(
                &codes::E0606,
                format!("[flow.{flow}] webhook {event} to {address} {what} in the shop"),
            )
            .help(fix),
            None,
        ));
    }
    if problems.is_empty() {
        report.ok(NAME, format!("{} registered and active", wanted.len()));
    } else {
        report.problems(NAME, problems);
    }
}

// ------------------------------------------------------------ clock

/// This machine's clock against each service's `Date` header: CCV Shop
/// refuses signed requests beyond its tolerance, and token lifetimes are
/// counted on this clock.
fn check_clock(setup: &Setup, report: &mut Report) {
    const NAME: &str = "clock";
    let client = match reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            report.skipped(NAME, format!("no HTTP client: {e}"));
            return;
        }
    };
    let mut problems = Vec::new();
    let mut fine = Vec::new();
    for (name, service) in &setup.services {
        let Some(url) = &service.url else { continue };
        let sent = SystemTime::now();
        let answer = client.get(url).send();
        let received = SystemTime::now();
        let date = answer.ok().and_then(|r| {
            r.headers()
                .get(reqwest::header::DATE)
                .and_then(|d| d.to_str().ok())
                .map(str::to_string)
        });
        let Some(date) = date else {
            continue;
        };
        let Some(skew) = skew(&date, sent, received) else {
            continue;
        };
        match judge_skew(skew) {
            Ok(()) => fine.push(format!("{name} within {}", describe_skew(skew))),
            Err(why) => problems.push((
                Diagnostic::new(&codes::E0607, format!("this machine's clock is {why} {name}'s ({url})"))
                    .help("synchronise the clock (NTP: `timedatectl set-ntp true`); CCV Shop refuses signed requests more than 5 minutes off"),
                None,
            )),
        }
    }
    if !problems.is_empty() {
        report.problems(NAME, problems);
    } else if fine.is_empty() {
        report.skipped(NAME, "no service stated its time");
    } else {
        report.ok(NAME, fine.join(", "));
    }
}

/// The service's clock minus ours, in seconds: its `Date` against the
/// middle of the round trip.
fn skew(date: &str, sent: SystemTime, received: SystemTime) -> Option<i64> {
    let theirs = chrono::DateTime::parse_from_rfc2822(date).ok()?.timestamp();
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64())
    };
    let ours = (secs(sent)? + secs(received)?) / 2.0;
    Some(theirs - ours.round() as i64)
}

/// Within CCV Shop's tolerance, with a minute to spare for drift (the
/// `Date` header itself is only to the second).
fn judge_skew(skew: i64) -> Result<(), String> {
    let limit = CCV_CLOCK_TOLERANCE.as_secs() as i64 - 60;
    if skew.abs() <= limit {
        return Ok(());
    }
    let amount = describe_skew(skew);
    Err(if skew > 0 {
        format!("{amount} behind")
    } else {
        format!("{amount} ahead of")
    })
}

/// `3 s`, `7 min 5 s`; a second either way is what the header can tell.
fn describe_skew(skew: i64) -> String {
    let s = skew.unsigned_abs().max(1);
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_skew_is_judged_against_ccv_tolerance_with_a_minute_to_spare() {
        assert!(judge_skew(0).is_ok());
        assert!(judge_skew(-240).is_ok());
        assert_eq!(judge_skew(241).unwrap_err(), "4 min 1 s behind");
        assert_eq!(judge_skew(-600).unwrap_err(), "10 min 0 s ahead of");
    }

    #[test]
    fn skew_is_measured_from_the_middle_of_the_round_trip() {
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        // Thu, 01 Jan 1970 00:10:00 GMT = 600 s.
        assert_eq!(
            skew("Thu, 01 Jan 1970 00:10:00 GMT", t(590), t(600)),
            Some(5)
        );
        assert_eq!(skew("not a date", t(0), t(0)), None);
    }

    #[test]
    fn orders_need_a_variant_that_offers_them() {
        assert!(!variants_for("orders").unwrap().contains(&4));
        assert!(variants_for("customerinvoicedrafts").is_none());
    }
}
