//! The command line. One file per subcommand; each returns the process exit
//! code: 0 success, 1 problems found in the flows or records, 2 usage or I/O.

/// Prints on standard output like `print!`, but a reader that went away
/// (`flowc dlq list | head`) ends the command quietly instead of a panic.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::write_out(format_args!($($arg)*)) };
}

/// [`out!`] with a newline, like `println!`.
macro_rules! outln {
    () => { $crate::cli::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

mod auth;
mod check;
mod doctor;
mod fmt;
mod init;
mod run;
#[cfg(feature = "sandbox")]
mod sandbox;
#[cfg(feature = "sandbox")]
mod sandbox_serve;
mod serve;
mod state;
mod test;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diag::{render_human, Diagnostic, RenderOptions};
use crate::source_map::SourceMap;

#[derive(Parser)]
#[command(name = "flowc", version, about = "Check, test and run .flow sync definitions", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check flows for errors without touching any service.
    Check {
        /// .flow files or folders (searched recursively); default: the current folder.
        paths: Vec<PathBuf>,
        /// Output format for diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Treat warnings as errors (exit 1).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Run the `test` blocks of flows offline.
    Test {
        /// .flow files or folders; default: the current folder.
        paths: Vec<PathBuf>,
    },
    /// Rewrite .flow files in the canonical layout (comments are kept).
    Fmt {
        /// .flow files or folders; default: the current folder.
        paths: Vec<PathBuf>,
        /// Change nothing; exit 1 and show a diff when a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Run a flow: files to files directly, services through the sync engine.
    Run {
        /// The .flow file.
        file: PathBuf,
        /// Which flow in the file (default: all of the file's flows, in order).
        #[arg(long)]
        flow: Option<String>,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sync: run::SyncArgs,
    },
    /// Show what a run would do — create, update (field by field) or skip — without writing.
    Plan {
        /// The .flow file.
        file: PathBuf,
        #[arg(long)]
        flow: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sync: run::SyncArgs,
    },
    /// The activity log: one line per record per run.
    Log {
        /// The .flow file whose state to read (default: FLOWC_STATE or ./.flowc).
        file: Option<PathBuf>,
        #[arg(long)]
        flow: Option<String>,
        #[arg(long)]
        run: Option<i64>,
        /// Only failed records.
        #[arg(long)]
        failed: bool,
        /// At most this many lines (newest).
        #[arg(long, default_value_t = 200)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Inspect, retry and drop dead letters (records that failed).
    Dlq {
        #[command(subcommand)]
        command: state::DlqCommand,
        /// The .flow file whose state to use (default: FLOWC_STATE or ./.flowc).
        #[arg(long, global = true)]
        state_of: Option<PathBuf>,
    },
    /// Retention and reset of the engine's state.
    State {
        #[command(subcommand)]
        command: state::StateCommand,
        /// The .flow file whose state to use (default: FLOWC_STATE or ./.flowc).
        #[arg(long, global = true)]
        state_of: Option<PathBuf>,
    },
    /// Sign in to a service (OAuth2) and store its tokens.
    Auth {
        #[arg(help = auth_connector_help())]
        connector: String,
        /// The .flow file whose connection and state folder to use (default: the connector's
        /// built-in connection, and FLOWC_STATE or ./.flowc).
        file: Option<PathBuf>,
        /// Print the URL instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Keep the flows of flowc.toml current: schedules, webhooks, alerts, /metrics.
    Serve(serve::ServeArgs),
    /// Install, list or remove the shop webhooks that flowc.toml's flows listen to.
    Webhooks {
        #[command(subcommand)]
        command: serve::WebhooksCommand,
        #[arg(long, global = true, default_value = "flowc.toml")]
        config: PathBuf,
    },
    /// Set up the CCV Shop → eAccounting flows here: asks (or takes flags), writes
    /// the flows, settings.flow and flowc.toml, and tries both connections.
    Init(init::InitArgs),
    /// Check a set-up against the live services: sign-in, scopes, the company,
    /// every name in the settings, webhooks, the clock; each problem with its fix.
    Doctor {
        /// The set-up's flowc.toml.
        #[arg(long, default_value = "flowc.toml")]
        config: PathBuf,
    },
    /// Run the CCV Shop → eAccounting sync against local emulators of both services.
    #[cfg(feature = "sandbox")]
    Sandbox(sandbox::SandboxArgs),
}

fn auth_connector_help() -> String {
    format!(
        "The connector to sign in to: {}",
        crate::connectors::registry::quoted_names(crate::connectors::registry::with_auth())
    )
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Format {
    Human,
    Json,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let code = match cli.command {
        Command::Check {
            paths,
            format,
            deny_warnings,
        } => check::run(&paths, format, deny_warnings),
        Command::Test { paths } => test::run(&paths),
        Command::Fmt { paths, check } => fmt::run(&paths, check),
        Command::Run {
            file,
            flow,
            json,
            sync,
        } => run::run(&file, flow.as_deref(), json, &sync),
        Command::Plan {
            file,
            flow,
            json,
            sync,
        } => run::plan(&file, flow.as_deref(), json, &sync),
        Command::Log {
            file,
            flow,
            run,
            failed,
            limit,
            json,
        } => state::log(file.as_deref(), flow, run, failed, limit, json),
        Command::Dlq { command, state_of } => state::dlq(command, state_of.as_deref()),
        Command::State { command, state_of } => state::state(command, state_of.as_deref()),
        Command::Auth {
            connector,
            file,
            no_browser,
        } => auth::run(&connector, file.as_deref(), no_browser),
        Command::Serve(args) => serve::run(&args),
        Command::Webhooks { command, config } => serve::webhooks(&command, &config),
        Command::Init(args) => init::run(&args),
        Command::Doctor { config } => doctor::run(&config),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => sandbox::run(&args),
    };
    ExitCode::from(code)
}

/// Writes to standard output; see [`out!`]. Other write errors (a full
/// disk behind a redirection) are reported once, on standard error.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("flowc: cannot write to standard output: {e}");
        std::process::exit(2);
    }
}

pub(crate) fn render_options() -> RenderOptions {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    RenderOptions { color, width: 100 }
}

pub(crate) fn print_diagnostics(diags: &[Diagnostic], sources: &SourceMap) {
    let options = render_options();
    for d in diags {
        eprint!("{}", render_human(d, sources, options));
    }
}

/// A diagnostic that belongs to no source text (usage, I/O).
pub(crate) fn print_plain(d: &Diagnostic) {
    print_diagnostics(std::slice::from_ref(d), &SourceMap::new());
}

/// Every .flow file under the given paths, or the exit code after saying
/// why there are none to read.
pub(crate) fn flow_files_or_exit(paths: &[PathBuf]) -> Result<Vec<PathBuf>, u8> {
    crate::check::files::flow_files(paths).map_err(|e| {
        print_plain(
            &Diagnostic::new(&crate::diag::codes::E0010, e)
                .help("pass .flow files or folders that contain them"),
        );
        2
    })
}
