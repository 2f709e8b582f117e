//! `flowc sandbox`: the whole CCV Shop → eAccounting sync on this machine,
//! with no credentials: both services are started as local emulators, a
//! shop is generated, and the flagship flow runs against them — twice, to
//! show that the second run has nothing left to do.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::print_plain;
use super::run::{check_or_exit, env_with, run_flow, select_flows, SyncArgs};
use crate::diag::{codes, Diagnostic};
use flowc_emulators::ccvshop::{self, CcvShopConfig, SeedSource};
use flowc_emulators::eaccounting::{self, EaccountingConfig};

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
    let shop = match ccvshop::start_blocking(CcvShopConfig {
        data: SeedSource::Generated {
            orders: args.orders,
            products: args.products,
            seed: args.seed,
        },
        deliver_webhooks: false,
        ..CcvShopConfig::default()
    }) {
        Ok(s) => s,
        Err(e) => return io_failure("the CCV Shop emulator", e),
    };
    let books = match eaccounting::start_blocking(EaccountingConfig::default()) {
        Ok(b) => b,
        Err(e) => return io_failure("the eAccounting emulator", e),
    };
    if args.latency_ms > 0 {
        shop.faults()
            .set_base_latency(Duration::from_millis(args.latency_ms));
        books
            .faults()
            .set_base_latency(Duration::from_millis(args.latency_ms));
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
    let mut env = HashMap::new();
    env.insert("CCVSHOP_URL".to_string(), shop.base_url().to_string());
    env.insert(
        "CCVSHOP_PUBLIC_KEY".to_string(),
        shop.public_key().to_string(),
    );
    env.insert(
        "CCVSHOP_SECRET_KEY".to_string(),
        shop.secret_key().to_string(),
    );
    env.insert("EACCOUNTING_API_URL".to_string(), books.api_url());
    env.insert("EACCOUNTING_IDENTITY_URL".to_string(), books.identity_url());
    env.insert(
        "EACCOUNTING_CLIENT_ID".to_string(),
        books.client_id().to_string(),
    );
    env.insert(
        "EACCOUNTING_CLIENT_SECRET".to_string(),
        books.client_secret().to_string(),
    );
    env.insert(
        "EACCOUNTING_REFRESH_TOKEN".to_string(),
        books.refresh_token(eaccounting::DEFAULT_SCOPE),
    );
    let env = env_with(env);
    if !args.json {
        println!(
            "sandbox: CCV Shop emulator at {} ({} orders, {} products)",
            shop.base_url(),
            args.orders,
            args.products
        );
        println!("sandbox: eAccounting emulator at {}", books.api_url());
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
        let count = |name: &str| books.collection(name).len();
        println!(
            "\neAccounting now holds {} invoice drafts, {} customers and {} articles.",
            count("customerinvoicedrafts"),
            count("customers"),
            count("articles")
        );
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
