//! `flowc init`: from the answers to the wizard's questions to files — the
//! chosen shipped flows, their `settings.flow` and a `flowc.toml` — that
//! pass `flowc check`. The questions themselves are asked by the command
//! line (the only stage that talks to a terminal); here they are listed,
//! with their choices and defaults, and the answers are checked and written.
//!
//! The written `settings.flow` is the shipped one with the answered values
//! put in, its comments intact. Everything is rendered and checked in a
//! temporary folder first, so a problem leaves nothing half-written; files
//! that exist are never overwritten unless asked to (`--force`). No secret
//! is ever written: the connections read their credentials from the
//! environment, as `flowc run` does.

use std::path::{Path, PathBuf};

use super::shipped::{self, ShippedFlow};
use crate::diag::{codes, Diagnostic};
use crate::serve::config::{self, Config};

/// What an order becomes in eAccounting (`settings.document_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentType {
    InvoiceDraft,
    Invoice,
    Order,
    Quote,
    Voucher,
}

impl DocumentType {
    pub const ALL: [DocumentType; 5] = [
        DocumentType::InvoiceDraft,
        DocumentType::Invoice,
        DocumentType::Order,
        DocumentType::Quote,
        DocumentType::Voucher,
    ];

    /// The value in settings.flow, and on the command line with `-` for `_`.
    pub fn setting(self) -> &'static str {
        match self {
            DocumentType::InvoiceDraft => "invoice_draft",
            DocumentType::Invoice => "invoice",
            DocumentType::Order => "order",
            DocumentType::Quote => "quote",
            DocumentType::Voucher => "voucher",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            DocumentType::InvoiceDraft => "invoice draft (the bookkeeper books it)",
            DocumentType::Invoice => "invoice, created and booked",
            DocumentType::Order => "sales order",
            DocumentType::Quote => "quote",
            DocumentType::Voucher => "voucher (a sales booking on accounts, no customer)",
        }
    }
}

/// Orders booked on one fixed customer (`settings.default_debtor_for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultDebtor {
    None,
    Private,
    All,
}

impl DefaultDebtor {
    pub const ALL: [DefaultDebtor; 3] = [
        DefaultDebtor::None,
        DefaultDebtor::Private,
        DefaultDebtor::All,
    ];

    pub fn setting(self) -> &'static str {
        match self {
            DefaultDebtor::None => "none",
            DefaultDebtor::Private => "private",
            DefaultDebtor::All => "all",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            DefaultDebtor::None => "none: a customer per buyer, found by e-mail",
            DefaultDebtor::Private => "private: private persons' orders on one customer",
            DefaultDebtor::All => "all: every order on one customer",
        }
    }
}

/// What stock.flow writes when open orders hold more than the stock
/// (`settings.stock_negative_as_is`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegativeStock {
    Zero,
    AsIs,
}

impl NegativeStock {
    pub const ALL: [NegativeStock; 2] = [NegativeStock::Zero, NegativeStock::AsIs];

    pub fn setting(self) -> &'static str {
        match self {
            NegativeStock::Zero => "zero",
            NegativeStock::AsIs => "as-is",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            NegativeStock::Zero => "zero: a negative availability is written as 0",
            NegativeStock::AsIs => "as-is: write the negative figure",
        }
    }
}

/// Reads a choice by its command-line name (`invoice-draft` or `invoice_draft`).
pub fn choose<T: Copy>(all: &[T], name: fn(T) -> &'static str, text: &str) -> Result<T, String> {
    let wanted = text.trim().replace('-', "_");
    all.iter()
        .copied()
        .find(|c| name(*c).replace('-', "_") == wanted)
        .ok_or_else(|| {
            format!(
                "`{text}` is not one of {}",
                all.iter()
                    .map(|c| format!("\"{}\"", name(*c).replace('_', "-")))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// CCV Shop's order statuses, as settings.flow lists them.
pub const ORDER_STATUSES: &[(u8, &str)] = &[
    (1, "New"),
    (2, "In process"),
    (3, "Wait for manufacturer"),
    (4, "Wait for payment"),
    (5, "Sent"),
    (6, "Delivered"),
    (7, "Completed"),
    (8, "Cancelled"),
    (9, "Wait for supplier"),
    (10, "Being packaged"),
    (11, "Ready to be collected"),
    (12, "Being assembled"),
    (13, "Backorder"),
    (14, "Reserved"),
];

/// The CCV events that trigger a flow of this shipped file for the record
/// they name, when the shop can reach flowc (`--public-url`).
pub fn webhook_events(flow: &ShippedFlow) -> &'static [&'static str] {
    match flow.id {
        "orders" => &[
            "orders.created",
            "orders.updated.ispaid",
            "orders.updated.status",
        ],
        "products" => &["products.created", "products.updated"],
        _ => &[],
    }
}

/// Every answer the wizard asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    pub flows: Vec<&'static ShippedFlow>,
    pub document_type: DocumentType,
    pub default_debtor: DefaultDebtor,
    /// The default customer's number in eAccounting.
    pub default_debtor_number: String,
    /// Only paid orders (`settings.orders_paid_only`).
    pub paid_only: bool,
    /// The CCV statuses whose orders are sent; the others are skipped.
    pub send_statuses: Vec<u8>,
    pub negative_stock: NegativeStock,
    /// How often each flow runs (humantime: `15m`, `1h`).
    pub every: String,
    /// Where CCV Shop can deliver webhooks; without it none are configured.
    pub public_url: Option<String>,
}

impl Default for Answers {
    /// The shipped settings (a unit test holds them to settings.flow).
    fn default() -> Self {
        Answers {
            flows: vec![&shipped::FLOWS[0]],
            document_type: DocumentType::InvoiceDraft,
            default_debtor: DefaultDebtor::None,
            default_debtor_number: "9000".into(),
            paid_only: true,
            send_statuses: ORDER_STATUSES
                .iter()
                .map(|s| s.0)
                .filter(|s| *s != 8)
                .collect(),
            negative_stock: NegativeStock::Zero,
            every: "15m".into(),
            public_url: None,
        }
    }
}

/// Reads `--flows orders,customers`.
pub fn parse_flows(text: &str) -> Result<Vec<&'static ShippedFlow>, String> {
    let mut out: Vec<&'static ShippedFlow> = Vec::new();
    for id in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let f = shipped::flow(id)
            .ok_or_else(|| format!("`{id}` is no shipped flow; they are {}", shipped::ids()))?;
        if !out.contains(&f) {
            out.push(f);
        }
    }
    if out.is_empty() {
        return Err(format!("name at least one of {}", shipped::ids()));
    }
    Ok(out)
}

/// Reads `--send-statuses 1,2,7`.
pub fn parse_statuses(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let n: u8 = part
            .parse()
            .ok()
            .filter(|n| ORDER_STATUSES.iter().any(|s| s.0 == *n))
            .ok_or_else(|| format!("`{part}` is no CCV order status (1 to 14)"))?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    if out.is_empty() {
        return Err("name at least one status, or no order would ever be sent".into());
    }
    out.sort_unstable();
    Ok(out)
}

/// Checks an eAccounting customer number as a settings value.
pub fn check_customer_number(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > 16 {
        return Err("a customer number has 1 to 16 characters".into());
    }
    if !t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        return Err(format!(
            "`{t}` is not a customer number: use letters, digits and - _ . /"
        ));
    }
    Ok(t.to_string())
}

/// Checks a schedule interval (`15m`, `1h 30m`).
pub fn check_every(text: &str) -> Result<String, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is no interval ({e}); write e.g. 15m or 1h"))?;
    if d < std::time::Duration::from_secs(60) {
        return Err(format!(
            "`{text}` is under a minute: the services' rate limits would not keep up"
        ));
    }
    Ok(text.trim().to_string())
}

/// Checks the address CCV Shop delivers webhooks to.
pub fn check_public_url(text: &str) -> Result<String, String> {
    match url::Url::parse(text.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(text.trim().trim_end_matches('/').to_string())
        }
        _ => Err(format!(
            "`{text}` is no http(s) address such as https://sync.example.com"
        )),
    }
}

/// The shipped settings.flow with the answers in it.
pub fn settings_text(a: &Answers) -> Result<String, String> {
    let skipped: Vec<String> = ORDER_STATUSES
        .iter()
        .map(|s| s.0)
        .filter(|s| !a.send_statuses.contains(s))
        .map(|s| s.to_string())
        .collect();
    let values = [
        ("orders_paid_only", a.paid_only.to_string()),
        (
            "orders_skipped_statuses",
            format!("[{}]", skipped.join(", ")),
        ),
        (
            "document_type",
            format!("\"{}\"", a.document_type.setting()),
        ),
        (
            "default_debtor_for",
            format!("\"{}\"", a.default_debtor.setting()),
        ),
        (
            "default_debtor_number",
            format!("\"{}\"", check_customer_number(&a.default_debtor_number)?),
        ),
        (
            "stock_negative_as_is",
            (a.negative_stock == NegativeStock::AsIs).to_string(),
        ),
    ];
    let mut text = shipped::settings().1.to_string();
    for (name, value) in values {
        text = set_let(&text, name, &value)?;
    }
    Ok(text)
}

/// Replaces the value of the one-line `let NAME = …` in `text`.
fn set_let(text: &str, name: &str, value: &str) -> Result<String, String> {
    let prefix = format!("let {name} = ");
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.strip_prefix(&prefix) {
            Some(_) => {
                found = true;
                format!("{prefix}{value}")
            }
            None => line.to_string(),
        })
        .collect();
    if !found {
        return Err(format!("the shipped settings.flow has no `let {name}`"));
    }
    Ok(lines.join("\n") + "\n")
}

/// The flowc.toml for the answers; `scheduled` are the names of the flows
/// that are on, each with the shipped file it is in.
pub fn config_text(a: &Answers, scheduled: &[(String, &'static ShippedFlow)]) -> String {
    let mut out = String::from(
        "# flowc.toml: what `flowc serve` keeps current (written by `flowc init`;\n\
         # check it against the services with `flowc doctor`). Credentials are\n\
         # never written here: the connections read them from the environment.\n",
    );
    out.push_str(&format!(
        "flows = {}\n",
        quoted_list(&[&format!("flows/{}", shipped::FOLDER)])
    ));
    if let Some(url) = &a.public_url {
        out.push_str(&format!("\n[serve]\npublic_url = {}\n", quoted(url)));
    }
    for (name, flow) in scheduled {
        out.push_str(&format!("\n[flow.{name}]\nevery = {}\n", quoted(&a.every)));
        let events = webhook_events(flow);
        if a.public_url.is_some() && !events.is_empty() {
            out.push_str(&format!("webhooks = {}\n", quoted_list(events)));
        }
    }
    out
}

/// A TOML string literal.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML array of strings on one line.
fn quoted_list(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", items.join(", "))
}

/// Writes the set-up into `dir`: `flows/ccvshop-eaccounting/` with the
/// chosen flows and their settings, and `flowc.toml`. Returns the files
/// written, or why nothing was.
pub fn write(dir: &Path, a: &Answers, force: bool) -> Result<Vec<PathBuf>, Diagnostic> {
    let problem = |why: String| {
        Diagnostic::new(&codes::E0601, why)
            .help("run `flowc init --help` for every answer and its flag")
    };
    let settings = settings_text(a).map_err(problem)?;
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let folder = Path::new("flows").join(shipped::FOLDER);
    files.push((folder.join(shipped::settings().0), settings));
    for f in &a.flows {
        files.push((folder.join(f.file), f.text().to_string()));
    }
    let existing: Vec<String> = files
        .iter()
        .map(|(p, _)| p.clone())
        .chain([PathBuf::from(config::FILE)])
        .filter(|p| dir.join(p).exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        return Err(Diagnostic::new(
            &codes::E0602,
            format!(
                "{} exist{} already in {}; nothing was written",
                existing.join(", "),
                if existing.len() == 1 { "s" } else { "" },
                dir.display()
            ),
        )
        .help("keep your files and run `flowc init` in another folder (`--dir`), or pass `--force` to replace them"));
    }
    let io = |what: &str, e: std::io::Error| Diagnostic::new(&codes::E0010, format!("{what}: {e}"));
    // Rendered and checked in a scratch folder first: a set-up that would
    // not pass `flowc check` is a bug here, and must not reach the user's.
    let scratch = tempfile::tempdir().map_err(|e| io("cannot create a temporary folder", e))?;
    for (path, text) in &files {
        let full = scratch.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("cannot write a temporary file", e))?;
        }
        std::fs::write(&full, text).map_err(|e| io("cannot write a temporary file", e))?;
    }
    let mut scheduled = Vec::new();
    for f in &a.flows {
        for name in flows_on(&scratch.path().join(&folder).join(f.file))? {
            scheduled.push((name, *f));
        }
    }
    let toml = config_text(a, &scheduled);
    Config::parse(&dir.join(config::FILE), &toml).map_err(|e| {
        problem(format!(
            "the flowc.toml written would be invalid: {}",
            e.diagnostic.message
        ))
    })?;
    files.push((PathBuf::from(config::FILE), toml));
    let mut written = Vec::new();
    for (path, text) in &files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| io(&format!("cannot create {}", parent.display()), e))?;
        }
        std::fs::write(&full, text)
            .map_err(|e| io(&format!("cannot write {}", full.display()), e))?;
        written.push(full);
    }
    Ok(written)
}

/// The names of the flows of `file` that are on with its settings; the
/// file must check without errors.
fn flows_on(file: &Path) -> Result<Vec<String>, Diagnostic> {
    let checked = crate::check::check_path(file)?;
    if let Some(d) = checked.diagnostics.iter().find(|d| d.is_error()) {
        return Err(Diagnostic::new(
            d.code,
            format!(
                "the set-up written for {} does not check: {}",
                file.display(),
                d.message
            ),
        )
        .help("this is a bug in `flowc init`; please report it with the answers given"));
    }
    let program = &checked.program;
    let mut on = Vec::new();
    for flow in &program.flows {
        match crate::engine::flow_is_on(program, flow) {
            Ok(true) => on.push(flow.name.to_string()),
            Ok(false) => {}
            Err(why) => {
                return Err(Diagnostic::new(
                    &codes::E0905,
                    format!("flow {}: {why}", flow.name),
                ))
            }
        }
    }
    Ok(on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_answers_are_the_shipped_settings() {
        assert_eq!(
            settings_text(&Answers::default()).unwrap(),
            shipped::settings().1
        );
    }

    #[test]
    fn answers_go_into_the_settings_and_nothing_else_changes() {
        let a = Answers {
            document_type: DocumentType::Voucher,
            default_debtor: DefaultDebtor::Private,
            default_debtor_number: "K-100".into(),
            paid_only: false,
            send_statuses: vec![5, 6, 7],
            negative_stock: NegativeStock::AsIs,
            ..Answers::default()
        };
        let text = settings_text(&a).unwrap();
        for line in [
            "let document_type = \"voucher\"",
            "let default_debtor_for = \"private\"",
            "let default_debtor_number = \"K-100\"",
            "let orders_paid_only = false",
            "let orders_skipped_statuses = [1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14]",
            "let stock_negative_as_is = true",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing");
        }
        let changed = text
            .lines()
            .zip(shipped::settings().1.lines())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, 6);
    }

    #[test]
    fn answers_are_checked() {
        assert!(parse_flows("orders,stok").unwrap_err().contains("stok"));
        assert_eq!(parse_flows("stock, orders").unwrap().len(), 2);
        assert!(parse_statuses("0").is_err());
        assert_eq!(parse_statuses("7,5,7").unwrap(), vec![5, 7]);
        assert!(check_customer_number("9\"{x}").is_err());
        assert!(check_every("10s").is_err());
        assert!(check_every("often").is_err());
        assert!(check_public_url("sync.example.com").is_err());
        assert_eq!(
            choose(&DocumentType::ALL, DocumentType::setting, "invoice-draft"),
            Ok(DocumentType::InvoiceDraft)
        );
        assert!(choose(&DocumentType::ALL, DocumentType::setting, "bill")
            .unwrap_err()
            .contains("\"invoice-draft\""));
    }

    #[test]
    fn writes_files_that_check_and_never_overwrites_unasked() {
        let dir = tempfile::tempdir().unwrap();
        let a = Answers {
            flows: shipped::FLOWS.iter().collect(),
            document_type: DocumentType::Invoice,
            public_url: Some("https://sync.example.com".into()),
            ..Answers::default()
        };
        let written = write(dir.path(), &a, false).unwrap();
        assert_eq!(written.len(), shipped::FLOWS.len() + 2);
        let loaded = Config::load(&dir.path().join(config::FILE)).unwrap();
        let names: Vec<&str> = loaded.flow.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "customers",
                "orders_as_invoices",
                "products",
                "products_to_ccvshop",
                "stock"
            ]
        );
        assert_eq!(loaded.flow["orders_as_invoices"].webhooks.len(), 3);
        assert!(loaded.flow["stock"].webhooks.is_empty());
        let before = std::fs::read_to_string(&written[0]).unwrap();
        let e = write(dir.path(), &Answers::default(), false).unwrap_err();
        assert_eq!(e.code.id, "E0602");
        assert_eq!(std::fs::read_to_string(&written[0]).unwrap(), before);
        write(dir.path(), &Answers::default(), true).unwrap();
        assert_ne!(std::fs::read_to_string(&written[0]).unwrap(), before);
    }
}
