//! `flowc sandbox`: the whole CCV Shop → eAccounting sync on this machine,
//! with no credentials: both services are started as local emulators, a
//! shop is generated, and the flagship flow runs against them — twice, to
//! show that the second run has nothing left to do.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::print_plain;
use super::run::{check_or_exit, env_with, run_flow, select_flows, SyncArgs};
use crate::connectors::registry::{with_sandbox, SandboxOptions};
use crate::diag::{codes, Diagnostic};

pub(crate) const DEFAULT_FLOW: &str = "flows/ccvshop-eaccounting/orders.flow";

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SandboxArgs {
    /// The flow to run.
    #[arg(long, default_value = DEFAULT_FLOW)]
    pub flow_file: PathBuf,
    /// Orders in the generated shop.
    #[arg(long, default_value_t = 50)]
    pub orders: usize,
    /// Products in the generated shop.
    #[arg(long, default_value_t = 20)]
    pub products: usize,
    /// Seed of the generated shop.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Latency added to every emulator request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// How many times to run the flow (the second run should write nothing).
    #[arg(long, default_value_t = 2)]
    pub runs: u32,
    /// Keep the state here instead of a fresh temporary folder.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Print summaries as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(args: &SandboxArgs) -> u8 {
    let file = args.flow_file.as_path();
    if !file.is_file() {
        print_plain(
            &Diagnostic::new(&codes::E0010, format!("{} does not exist", file.display()))
                .help(format!("run the sandbox from the flowc folder, or pass --flow-file (default {DEFAULT_FLOW})")),
        );
        return 2;
    }
    let options = SandboxOptions {
        orders: args.orders,
        products: args.products,
        seed: args.seed,
        latency: Duration::from_millis(args.latency_ms),
    };
    let mut services = Vec::new();
    for (spec, start) in with_sandbox() {
        match start(&options) {
            Ok(service) => services.push(service),
            Err(e) => return io_failure(&format!("the {} emulator", spec.name), e),
        }
    }
    let temp = tempfile::tempdir();
    let state: PathBuf = match (&args.state, &temp) {
        (Some(dir), _) => dir.clone(),
        (None, Ok(t)) => t.path().to_path_buf(),
        (None, Err(e)) => {
            return io_failure(
                "a temporary state folder",
                std::io::Error::new(e.kind(), e.to_string()),
            )
        }
    };
    let env: HashMap<String, String> = services.iter().flat_map(|s| s.env.clone()).collect();
    let env = env_with(env);
    if !args.json {
        for service in &services {
            println!("sandbox: {}", service.description);
        }
        println!("sandbox: state in {}", state.display());
    }
    let checked = match check_or_exit(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let flows = match select_flows(&checked, file, None) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let session = match super::run::open_session(&checked, &flows, &state, &env) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let defaults = crate::engine::Options::default();
    let sync = SyncArgs {
        concurrency: defaults.concurrency,
        overlap: defaults.overlap,
        reread_window: defaults.reread_window,
        ..SyncArgs::default()
    };
    let mut exit = 0;
    for n in 1..=args.runs {
        for flow in &flows {
            if !args.json {
                println!("\nrun {n} of flow {}:", flow.name);
            }
            match run_flow(&checked, &session, flow, &sync, false, args.json, None) {
                Ok(report) if report.failed > 0 => exit = 1,
                Ok(_) => {}
                Err(code) => return code,
            }
        }
    }
    if !args.json {
        println!();
        for summary in services.iter().filter_map(|s| (s.summary)()) {
            println!("{summary}");
        }
    }
    exit
}

fn io_failure(what: &str, e: std::io::Error) -> u8 {
    print_plain(
        &Diagnostic::new(&codes::E0010, format!("cannot start {what}: {e}"))
            .help("the sandbox listens on loopback (127.0.0.1) ports chosen by the system"),
    );
    2
}
