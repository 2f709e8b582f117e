//! `flowc serve` and `flowc webhooks`: load flowc.toml, then hand over to
//! `serve` (which does the work) and print what it says.

use std::path::{Path, PathBuf};

use super::{print_diagnostics, print_plain};
use crate::diag::{codes, Diagnostic};
use crate::serve::{Config, Server};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// The configuration: flows, schedules, webhooks, alerts (docs/serve.md).
    #[arg(long, default_value = "flowc.toml")]
    pub config: PathBuf,
    /// Log lines as JSON objects (for a log collector) instead of text.
    #[arg(long)]
    pub log_json: bool,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub(crate) enum WebhooksCommand {
    /// Register the events flowc.toml lists in the shop and store the keys it returns.
    Install,
    /// The installed webhooks and whether the shop still has them.
    List,
    /// Delete the installed webhooks from the shop and forget them.
    Remove,
}

/// Structured logs on standard error; `RUST_LOG` filters (default `info`).
pub(crate) fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Loads flowc.toml and every flow it names, printing what is wrong.
pub(crate) fn load(config: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Server, u8> {
    let config = Config::load(config).map_err(|e| {
        print_diagnostics(std::slice::from_ref(&*e.diagnostic), &e.sources);
        2u8
    })?;
    Server::load(config, env).map_err(|e| {
        print_diagnostics(&e.diagnostics, &e.sources);
        2
    })
}

pub(crate) fn run(args: &ServeArgs) -> u8 {
    init_logs(args.log_json);
    let server = match load(&args.config, &super::run::real_env) {
        Ok(s) => s,
        Err(code) => return code,
    };
    serve(server, |_| {})
}

/// Serves until stopped; `ready` learns the address once it is bound.
pub(crate) fn serve(server: Server, ready: impl FnOnce(std::net::SocketAddr)) -> u8 {
    let scheduled: Vec<String> = server
        .flows
        .values()
        .map(|s| format!("{} ({})", s.name, s.config.schedule.describe()))
        .collect();
    let state = server.state_dir.display().to_string();
    let result = crate::serve::http::serve(server, dashboard, |addr| {
        tracing::info!(address = %addr, state = %state, flows = ?scheduled, "serving");
        ready(addr);
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            print_plain(
                &Diagnostic::new(&codes::E0010, format!("flowc serve: {e}"))
                    .help("another process may be listening on that address; set [serve] listen in flowc.toml"),
            );
            2
        }
    }
}

/// The dashboard at `/`, behind the login from the environment; without
/// one it stays off (and says so) while everything else serves.
fn dashboard(server: std::sync::Arc<Server>) -> Option<axum::Router> {
    use crate::serve::dashboard::{router, Auth};
    match Auth::from_env() {
        Ok(auth) => Some(router(
            std::sync::Arc::new(crate::serve::status::ServeBackend(server)),
            auth,
        )),
        Err(why) => {
            tracing::warn!("the dashboard is off: {why}");
            None
        }
    }
}

pub(crate) fn webhooks(command: &WebhooksCommand, config: &Path) -> u8 {
    let server = match load(config, &super::run::real_env) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let done = match command {
        WebhooksCommand::Install => crate::serve::webhooks::install(&server),
        WebhooksCommand::List => crate::serve::webhooks::list(&server),
        WebhooksCommand::Remove => crate::serve::webhooks::remove(&server),
    };
    match done {
        Ok(lines) if lines.is_empty() => {
            outln!("no webhooks installed");
            0
        }
        Ok(lines) => {
            for line in lines {
                outln!("{line}");
            }
            0
        }
        Err(why) => {
            print_plain(&Diagnostic::new(
                &codes::E0402,
                format!("flowc webhooks: {why}"),
            ));
            2
        }
    }
}
