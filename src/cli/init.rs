//! `flowc init`: the set-up wizard. Every question has a flag; what no
//! flag answers is asked in a terminal, taken from the shipped defaults
//! with `--yes`, and otherwise refused, naming the flags to pass (a script
//! must never hang on a prompt). The answers are written by
//! `setup::init`; then both connections are tried unless `--offline`.

use std::io::IsTerminal;
use std::path::PathBuf;

use dialoguer::{Confirm, Input, MultiSelect, Select};

use super::{doctor, print_plain};
use crate::diag::{codes, Diagnostic};
use crate::serve::config;
use crate::setup::init::{
    self, check_customer_number, check_every, check_public_url, choose, Answers, DefaultDebtor,
    DocumentType, NegativeStock, ORDER_STATUSES,
};
use crate::setup::shipped;

#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct InitArgs {
    /// The folder to set up (default: the current folder).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Flows to set up, comma-separated: orders, customers, products, stock, products-to-ccvshop.
    #[arg(long)]
    pub flows: Option<String>,
    /// What an order becomes: invoice-draft, invoice, order, quote or voucher.
    #[arg(long)]
    pub document_type: Option<String>,
    /// Book orders on one fixed customer: none, private (private persons only) or all.
    #[arg(long)]
    pub default_debtor: Option<String>,
    /// The fixed customer's number in eAccounting (with --default-debtor private or all).
    #[arg(long)]
    pub default_debtor_number: Option<String>,
    /// Send only paid orders (true) or every completed order (false).
    #[arg(long)]
    pub paid_only: Option<bool>,
    /// CCV order statuses to send, comma-separated (1 New … 14 Reserved; default all but 8 Cancelled).
    #[arg(long)]
    pub send_statuses: Option<String>,
    /// stock.flow: write a negative availability as zero or as-is.
    #[arg(long)]
    pub negative_stock: Option<String>,
    /// How often each flow runs under `flowc serve` (15m, 1h).
    #[arg(long)]
    pub every: Option<String>,
    /// The address at which CCV Shop reaches `flowc serve`, for webhooks (optional).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Accept the shipped default for every answer no flag gives.
    #[arg(long, short)]
    pub yes: bool,
    /// Replace files that exist.
    #[arg(long)]
    pub force: bool,
    /// Do not try the connections (credentials come from the environment, as for `flowc run`).
    #[arg(long)]
    pub offline: bool,
}

pub(crate) fn run(args: &InitArgs) -> u8 {
    let interactive =
        !args.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let answers = match gather(args, interactive) {
        Ok(a) => a,
        Err(d) => {
            print_plain(&d);
            return 2;
        }
    };
    let written = match init::write(&args.dir, &answers, args.force) {
        Ok(w) => w,
        Err(d) => {
            print_plain(&d);
            return if d.code.id == codes::E0010.id { 2 } else { 1 };
        }
    };
    for path in &written {
        outln!("wrote {}", path.display());
    }
    let toml = args.dir.join(config::FILE);
    if args.offline {
        outln!("connections not tried (--offline): run `flowc doctor --config {}` once the credentials are set", toml.display());
        return 0;
    }
    let code = doctor::check(&toml, true);
    if code == 0 {
        outln!(
            "next: `flowc doctor --config {}` checks the settings against the company, then `flowc serve --config {0}`",
            toml.display()
        );
    } else {
        outln!(
            "the files are written; fix the connections above and run `flowc doctor --config {}`",
            toml.display()
        );
    }
    code
}

/// Every answer: from its flag, the default (`--yes`), or a prompt.
fn gather(args: &InitArgs, interactive: bool) -> Result<Answers, Diagnostic> {
    let d = Answers::default();
    let mut q = Questions {
        interactive,
        yes: args.yes,
        missing: Vec::new(),
    };
    let flows = q.ask(
        args.flows.as_deref(),
        "--flows",
        d.flows.clone(),
        init::parse_flows,
        || {
            let items: Vec<String> = shipped::FLOWS
                .iter()
                .map(|f| format!("{:<20} {}", f.id, f.doc))
                .collect();
            let defaults: Vec<bool> = shipped::FLOWS
                .iter()
                .map(|f| d.flows.contains(&f))
                .collect();
            let picked = MultiSelect::new()
                .with_prompt("Which flows? (space toggles, enter accepts)")
                .items(&items)
                .defaults(&defaults)
                .interact()?;
            Ok(picked.into_iter().map(|i| &shipped::FLOWS[i]).collect())
        },
    )?;
    let document_type = q.ask(
        args.document_type.as_deref(),
        "--document-type",
        d.document_type,
        |t| choose(&DocumentType::ALL, DocumentType::setting, t),
        || {
            select(
                "What does an order become in eAccounting?",
                &DocumentType::ALL,
                DocumentType::describe,
                d.document_type,
            )
        },
    )?;
    let default_debtor = q.ask(
        args.default_debtor.as_deref(),
        "--default-debtor",
        d.default_debtor,
        |t| choose(&DefaultDebtor::ALL, DefaultDebtor::setting, t),
        || {
            select(
                "Book orders on one fixed customer?",
                &DefaultDebtor::ALL,
                DefaultDebtor::describe,
                d.default_debtor,
            )
        },
    )?;
    let default_debtor_number = if default_debtor == DefaultDebtor::None {
        args.default_debtor_number
            .clone()
            .unwrap_or(d.default_debtor_number.clone())
    } else {
        q.ask(
            args.default_debtor_number.as_deref(),
            "--default-debtor-number",
            d.default_debtor_number.clone(),
            check_customer_number,
            || {
                Ok(Input::<String>::new()
                    .with_prompt("The fixed customer's number in eAccounting")
                    .default(d.default_debtor_number.clone())
                    .validate_with(|t: &String| check_customer_number(t).map(|_| ()))
                    .interact_text()?)
            },
        )?
    };
    let paid_only = q.ask(
        args.paid_only.map(|b| b.to_string()).as_deref(),
        "--paid-only",
        d.paid_only,
        |t| {
            t.parse::<bool>()
                .map_err(|_| format!("`{t}` is not true or false"))
        },
        || {
            Ok(Confirm::new()
                .with_prompt("Send only paid orders?")
                .default(d.paid_only)
                .interact()?)
        },
    )?;
    let send_statuses = q.ask(
        args.send_statuses.as_deref(),
        "--send-statuses",
        d.send_statuses.clone(),
        init::parse_statuses,
        || {
            let items: Vec<String> = ORDER_STATUSES
                .iter()
                .map(|(n, s)| format!("{n:>2} {s}"))
                .collect();
            let defaults: Vec<bool> = ORDER_STATUSES
                .iter()
                .map(|(n, _)| d.send_statuses.contains(n))
                .collect();
            let picked = MultiSelect::new()
                .with_prompt(
                    "Orders in which CCV statuses are sent? (space toggles, enter accepts)",
                )
                .items(&items)
                .defaults(&defaults)
                .interact()?;
            let text: Vec<String> = picked
                .iter()
                .map(|i| ORDER_STATUSES[*i].0.to_string())
                .collect();
            init::parse_statuses(&text.join(",")).map_err(Into::into)
        },
    )?;
    let negative_stock = if flows.iter().any(|f| f.id == "stock") {
        q.ask(
            args.negative_stock.as_deref(),
            "--negative-stock",
            d.negative_stock,
            |t| choose(&NegativeStock::ALL, NegativeStock::setting, t),
            || {
                select(
                    "Stock: open orders hold more than is in stock; write",
                    &NegativeStock::ALL,
                    NegativeStock::describe,
                    d.negative_stock,
                )
            },
        )?
    } else {
        d.negative_stock
    };
    let every = q.ask(
        args.every.as_deref(),
        "--every",
        d.every.clone(),
        check_every,
        || {
            Ok(Input::<String>::new()
                .with_prompt("How often should each flow run?")
                .default(d.every.clone())
                .validate_with(|t: &String| check_every(t).map(|_| ()))
                .interact_text()?)
        },
    )?;
    // Optional: without it no webhooks are configured, so it is asked in a
    // terminal but never required.
    let public_url = match (&args.public_url, interactive) {
        (Some(u), _) => {
            Some(check_public_url(u).map_err(|why| answer_problem("--public-url", why))?)
        }
        (None, true) => {
            let u = Input::<String>::new()
                .with_prompt("Public address of `flowc serve` for CCV webhooks (empty: none)")
                .allow_empty(true)
                .validate_with(|t: &String| {
                    if t.trim().is_empty() {
                        Ok(())
                    } else {
                        check_public_url(t).map(|_| ())
                    }
                })
                .interact_text()
                .map_err(|e| answer_problem("--public-url", e.to_string()))?;
            (!u.trim().is_empty())
                .then(|| check_public_url(&u))
                .transpose()
                .map_err(|why| answer_problem("--public-url", why))?
        }
        (None, false) => None,
    };
    if !q.missing.is_empty() {
        return Err(Diagnostic::new(
            &codes::E0601,
            format!(
                "standard input is not a terminal, so flowc init cannot ask; no answer for {}",
                q.missing.join(", ")
            ),
        )
        .help(
            "pass those flags, or `--yes` to take the shipped default for every answer not given",
        ));
    }
    Ok(Answers {
        flows,
        document_type,
        default_debtor,
        default_debtor_number,
        paid_only,
        send_statuses,
        negative_stock,
        every,
        public_url,
    })
}

struct Questions {
    interactive: bool,
    yes: bool,
    /// Flags of answers that could not be had.
    missing: Vec<&'static str>,
}

type Prompted<T> = Result<T, Box<dyn std::error::Error>>;

impl Questions {
    /// One answer: the flag's value (checked), else the default with
    /// `--yes`, else a prompt in a terminal, else noted as missing.
    fn ask<T>(
        &mut self,
        given: Option<&str>,
        flag: &'static str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
        prompt: impl FnOnce() -> Prompted<T>,
    ) -> Result<T, Diagnostic> {
        if let Some(text) = given {
            return parse(text).map_err(|why| answer_problem(flag, why));
        }
        if self.yes {
            return Ok(default);
        }
        if !self.interactive {
            self.missing.push(flag);
            return Ok(default);
        }
        prompt().map_err(|e| answer_problem(flag, format!("no answer: {e}")))
    }
}

fn select<T: Copy + PartialEq>(
    prompt: &str,
    all: &[T],
    describe: fn(T) -> &'static str,
    default: T,
) -> Prompted<T> {
    let items: Vec<&str> = all.iter().map(|c| describe(*c)).collect();
    let i = Select::new()
        .with_prompt(prompt)
        .items(&items)
        .default(all.iter().position(|c| *c == default).unwrap_or(0))
        .interact()?;
    Ok(all[i])
}

fn answer_problem(flag: &str, why: String) -> Diagnostic {
    Diagnostic::new(&codes::E0601, format!("{flag}: {why}"))
        .help("run `flowc init --help` for every answer and its flag")
}
