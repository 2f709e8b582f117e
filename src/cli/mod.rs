//! The command line. One file per subcommand; each returns the process exit
//! code: 0 success, 1 problems found in the flows or records, 2 usage or I/O.

mod check;
mod fmt;
mod run;
mod test;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diag::{render_human, Diagnostic, RenderOptions};
use crate::source::SourceMap;

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
    /// Run a flow.
    Run {
        /// The .flow file.
        file: PathBuf,
        /// Which flow in the file (default: the only one, or all in order).
        #[arg(long)]
        flow: Option<String>,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
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
        Command::Run { file, flow, json } => run::run(&file, flow.as_deref(), json),
    };
    ExitCode::from(code)
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

/// Every .flow file under the given paths, sorted, for stable output.
pub(crate) fn collect_flow_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let roots = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut out = Vec::new();
    for root in roots {
        if root.is_dir() {
            walk(&root, &mut out)
                .map_err(|e| format!("cannot read folder {}: {e}", root.display()))?;
        } else if root.is_file() {
            out.push(root);
        } else {
            return Err(format!("{} does not exist", root.display()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            // A folder of deliberately broken flows (tests/check) opts out
            // of folder-wide runs with a `.flowignore` file.
            if !path.join(".flowignore").exists() {
                walk(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "flow") {
            out.push(path);
        }
    }
    Ok(())
}
