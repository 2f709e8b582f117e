//! `flowc sandbox`: the whole CCV Shop → eAccounting sync on this machine,
//! with no credentials and from any folder: both services are started as
//! local emulators holding a demo shop and company, the shipped flows (built
//! into the binary, like the stdlib schemas) are written to the state
//! folder and run against them — twice, to show that the second run has
//! nothing left to do — and a table shows what is now in eAccounting, each
//! document's total beside the order's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::print_plain;
use super::run::{check_or_exit, env_with, flows_on, run_flow, select_flows, SyncArgs};
use crate::connectors::registry::{with_sandbox, SandboxOptions};
use crate::connectors::{Connector, ListQuery};
use crate::diag::{codes, Diagnostic};
use crate::engine::{Report, Session};
use crate::shipped;
use crate::value::Value;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SandboxArgs {
    /// Run this flow file instead of the shipped flows.
    #[arg(long)]
    pub flow_file: Option<PathBuf>,
    /// Instead of the demo shop, a generated one with this many orders (load tests).
    #[arg(long, default_value_t = 0)]
    pub orders: usize,
    /// Products of the generated shop.
    #[arg(long, default_value_t = 20)]
    pub products: usize,
    /// Seed of the generated shop.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Latency added to every emulator request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// How many times to run the flows (the second run should write nothing).
    #[arg(long, default_value_t = 2)]
    pub runs: u32,
    /// Keep the state (and the flows) here instead of a fresh temporary folder.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Keep the emulators running afterwards and print what to export to use
    /// them with `flowc plan` and `flowc run`; stop with Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// Print summaries as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(args: &SandboxArgs) -> u8 {
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
            Err(e) => return failure(&format!("cannot start the {} emulator", spec.name), e),
        }
    }
    // A kept folder outlives the run; a temporary one only with --keep-running.
    let temp = tempfile::tempdir();
    let state: PathBuf = match (&args.state, &temp) {
        (Some(dir), _) => dir.clone(),
        (None, Ok(t)) => t.path().to_path_buf(),
        (None, Err(e)) => {
            return failure(
                "cannot create a temporary state folder",
                std::io::Error::new(e.kind(), e.to_string()),
            )
        }
    };
    let files = match &args.flow_file {
        Some(f) => vec![f.clone()],
        None => match write_shipped(&state.join("flows")) {
            Ok(files) => files,
            Err(e) => return failure("cannot write the shipped flows", e),
        },
    };
    let env: HashMap<String, String> = services.iter().flat_map(|s| s.env.clone()).collect();
    let lookup = env_with(env.clone());
    if !args.json {
        for service in &services {
            println!("sandbox: {}", service.description);
        }
        println!("sandbox: state in {}", state.display());
    }
    // Every file is checked and opened before anything runs; then all flows
    // run in order, and again: the rerun of the whole set writes nothing.
    let mut checks = Vec::new();
    for file in &files {
        match check_or_exit(file) {
            Ok(c) => checks.push(c),
            Err(code) => return code,
        }
    }
    let mut opened = Vec::new();
    for (file, checked) in files.iter().zip(&checks) {
        let flows =
            match select_flows(checked, file, None).and_then(|f| flows_on(checked, f, args.json)) {
                Ok(f) => f,
                Err(code) => return code,
            };
        let session = match super::run::open_session(checked, &flows, &state, &lookup) {
            Ok(s) => s,
            Err(code) => return code,
        };
        opened.push((checked, flows, session));
    }
    let defaults = crate::engine::Options::default();
    let sync = SyncArgs {
        concurrency: defaults.concurrency,
        overlap: defaults.overlap,
        reread_window: defaults.reread_window,
        ..SyncArgs::default()
    };
    let mut exit = 0;
    let mut reports: Vec<Vec<Report>> = Vec::new();
    for n in 1..=args.runs {
        let mut this_run = Vec::new();
        for (checked, flows, session) in &opened {
            for flow in flows {
                if !args.json {
                    println!("\nrun {n} of flow {}:", flow.name);
                }
                match run_flow(checked, session, flow, &sync, false, args.json, None) {
                    Ok(report) => {
                        if report.failed > 0 {
                            exit = 1;
                        }
                        this_run.push(report);
                    }
                    Err(code) => return code,
                }
            }
        }
        reports.push(this_run);
    }
    if !args.json {
        println!();
        print!("{}", runs_table(&reports));
        if let Some((_, _, session)) = opened.iter().find(|(_, _, s)| has_both_services(s)) {
            print!("{}", documents_table(session));
        }
        for summary in services.iter().filter_map(|s| (s.summary)()) {
            println!("{summary}");
        }
    }
    if args.keep_running {
        keep_running(&env, &state, &files);
    }
    exit
}

/// Writes the shipped flows to `dir`; returns the flow files, in running order.
fn write_shipped(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let dir = dir.join(shipped::CCVSHOP_EACCOUNTING_DIR);
    std::fs::create_dir_all(&dir)?;
    for file in shipped::CCVSHOP_EACCOUNTING {
        let path = dir.join(file.name);
        // Settings edited in a kept folder are the user's: never overwritten.
        if !path.exists() {
            std::fs::write(&path, file.text)?;
        }
    }
    Ok(shipped::ccvshop_eaccounting_flows()
        .map(|f| dir.join(f.name))
        .collect())
}

/// Each flow's outcome per run, side by side: what the sandbox did in
/// both services, and that the rerun had nothing left to do.
fn runs_table(reports: &[Vec<Report>]) -> String {
    let Some(first) = reports.first() else {
        return String::new();
    };
    let mut header = vec!["flow".to_string()];
    for n in 1..=reports.len() {
        header.push(format!("run {n}"));
    }
    let mut table = vec![header];
    for (i, report) in first.iter().enumerate() {
        let mut row = vec![report.flow.clone()];
        for run in reports {
            row.push(run.get(i).map(outcome).unwrap_or_default());
        }
        table.push(row);
    }
    format!("What each flow did:\n{}", render(&table, usize::MAX))
}

/// A run's writes and reads in one cell: `3 created, 1 updated (+2 related), 4 unchanged`.
fn outcome(r: &Report) -> String {
    let mut parts = Vec::new();
    for (n, what) in [
        (r.created, "created"),
        (r.updated, "updated"),
        (r.unchanged, "unchanged"),
        (r.skipped, "skipped"),
        (r.failed, "failed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    if r.related_writes > 0 {
        parts.push(format!("{} related written", r.related_writes));
    }
    if parts.is_empty() {
        parts.push("nothing to do".into());
    }
    format!("{} read: {}", r.read, parts.join(", "))
}

fn has_both_services(session: &Session) -> bool {
    let kinds: Vec<&str> = session
        .connections
        .by_index
        .values()
        .map(|c| c.kind())
        .collect();
    kinds.contains(&"eaccounting") && kinds.contains(&"ccvshop")
}

/// Every sales document in eAccounting, its total beside the CCV order's.
fn documents_table(session: &Session) -> String {
    let (mut books, mut shop): (Option<&dyn Connector>, Option<&dyn Connector>) = (None, None);
    for c in session.connections.by_index.values() {
        match c.kind() {
            "eaccounting" => books = Some(&**c),
            "ccvshop" => shop = Some(&**c),
            _ => {}
        }
    }
    let (Some(books), Some(shop)) = (books, shop) else {
        return String::new();
    };
    let list = |c: &dyn Connector, resource: &str| {
        let mut all = Vec::new();
        let _ = c.list(resource, &ListQuery::default(), &mut |v| {
            all.push(v);
            Ok(true)
        });
        all
    };
    let orders: HashMap<String, Value> = list(shop, "orders")
        .into_iter()
        .filter_map(|o| Some((format!("CCV-{}", field(&o, "ordernumber")?), o)))
        .collect();
    let mut table = vec![vec![
        "document".to_string(),
        "reference".into(),
        "customer".into(),
        "rows".into(),
        "total".into(),
        "CCV total".into(),
        String::new(),
    ]];
    let kinds = [
        ("quotes", "quote", "CustomerReference", "TotalAmount"),
        ("orders", "order", "YourReference", "Amount"),
        (
            "customerinvoicedrafts",
            "invoice draft",
            "YourReference",
            "TotalAmount",
        ),
        (
            "customerinvoices",
            "invoice",
            "YourReference",
            "TotalAmountInvoiceCurrency",
        ),
        ("vouchers", "voucher", "VoucherText", ""),
    ];
    for (resource, kind, reference_field, total_field) in kinds {
        let mut docs = list(books, resource);
        docs.sort_by_key(|d| field(d, reference_field));
        for doc in docs {
            let reference = field(&doc, reference_field).unwrap_or_default();
            let key = reference.rsplit(' ').next().unwrap_or_default().to_string();
            let rows = match doc.as_record().and_then(|r| r.get("Rows")) {
                Some(Value::List(rows)) => rows.len(),
                _ => 0,
            };
            let total = if total_field.is_empty() {
                voucher_total(&doc)
            } else {
                field(&doc, total_field)
            };
            let currency = field(&doc, "CurrencyCode")
                .or_else(|| field(&doc, "InvoiceCurrencyCode"))
                .unwrap_or_default();
            let order = orders.get(&key);
            let ccv = order.and_then(|o| field(o, "total_price"));
            let same = match (&total, &ccv) {
                (Some(a), Some(b)) => within_a_cent(a, b),
                _ => false,
            };
            let customer = field(&doc, "CustomerName")
                .or_else(|| field(&doc, "InvoiceCustomerName"))
                .unwrap_or_default();
            table.push(vec![
                kind.to_string(),
                reference,
                customer,
                rows.to_string(),
                format!("{currency} {}", cents(total.as_deref()))
                    .trim()
                    .to_string(),
                cents(ccv.as_deref()),
                if same { "✓" } else { "✗" }.to_string(),
            ]);
        }
    }
    if table.len() == 1 {
        return "eAccounting holds no sales documents.\n".to_string();
    }
    format!("\nWhat eAccounting holds now:\n{}", render(&table, 32))
}

/// A field as text, when it has one.
fn field(v: &Value, name: &str) -> Option<String> {
    v.as_record()?.get(name)?.to_text()
}

/// What a sales booking debits: the receivable.
fn voucher_total(v: &Value) -> Option<String> {
    let Some(Value::List(rows)) = v.as_record()?.get("Rows") else {
        return None;
    };
    let mut total = rust_decimal::Decimal::ZERO;
    for r in rows.iter() {
        if let Some(Value::Num(d)) = r.as_record().and_then(|r| r.get("DebitAmount")) {
            total += d;
        }
    }
    Some(total.to_string())
}

/// An amount with two decimals, as on an invoice; `-` when there is none.
fn cents(amount: Option<&str>) -> String {
    match amount.map(str::parse::<rust_decimal::Decimal>) {
        Some(Ok(d)) => format!("{:.2}", d),
        Some(Err(_)) | None => "-".into(),
    }
}

fn within_a_cent(a: &str, b: &str) -> bool {
    match (
        a.parse::<rust_decimal::Decimal>(),
        b.parse::<rust_decimal::Decimal>(),
    ) {
        (Ok(a), Ok(b)) => (a - b).abs() <= rust_decimal::Decimal::new(1, 2),
        _ => false,
    }
}

/// Columns padded to their widest cell, cells cut at `max` characters
/// (customer names can be long; a table row should fit a terminal).
fn render(table: &[Vec<String>], max: usize) -> String {
    let cut = |s: &str| -> String {
        if s.chars().count() > max {
            format!("{}…", s.chars().take(max - 1).collect::<String>())
        } else {
            s.to_string()
        }
    };
    let mut widths = vec![0usize; table.first().map_or(0, Vec::len)];
    for row in table {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cut(cell).chars().count());
        }
    }
    let mut out = String::new();
    for row in table {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:<w$}", cut(c), w = widths[i]))
            .collect();
        out.push_str("  ");
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Keeps the emulators up until the process is stopped, after saying how
/// to reach them.
fn keep_running(env: &HashMap<String, String>, state: &Path, files: &[PathBuf]) {
    let mut vars: Vec<_> = env.iter().collect();
    vars.sort();
    println!("\nThe emulators keep running. In another shell:\n");
    for (k, v) in vars {
        println!("  export {k}='{v}'");
    }
    println!("  export FLOWC_STATE='{}'", state.display());
    if let Some(first) = files.first() {
        println!("\nthen edit the settings beside {} and", first.display());
        println!("  flowc plan {}", first.display());
        println!("  flowc run {}", first.display());
    }
    println!("\nStop with Ctrl-C.");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn failure(what: &str, e: std::io::Error) -> u8 {
    print_plain(
        &Diagnostic::new(&codes::E0010, format!("{what}: {e}"))
            .help("the sandbox listens on loopback (127.0.0.1) ports chosen by the system"),
    );
    2
}
