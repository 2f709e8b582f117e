//! The documentation is executable. Every example in `docs/language.md`,
//! `docs/cli.md` and `docs/functions.md` runs here, through the real
//! checker, interpreter, test runner and binary.
//!
//! Conventions in the Markdown files (the fence's info string decides):
//!
//! - ```` ```flow-expr ```` — lines `expression ==> result`. Each line is
//!   mapped by a flow onto an untyped target field; the result is the JSON of
//!   the value, `absent` (nothing written), `error: text` (a run-time error
//!   whose `CODE message` contains `text`) or `check: E0204` (the checker
//!   rejects it with that code). Other lines are declarations shared by the
//!   block's examples. `# input: {json}` sets the source record (default
//!   `{}`); `# as: schema` types the source with a schema of the block.
//! - ```` ```flow ```` — a program that must check without errors; its
//!   `test` blocks must pass.
//! - ```` ```flow-error E0204 ```` — a program the checker must reject with
//!   that code.
//! - ```` ```console ```` — `$ flowc …` commands run with the built binary in a
//!   scratch folder; the lines after a command are its expected output
//!   (stdout and stderr as a terminal shows them, without colour; a line
//!   ending in `...` matches by prefix) and `[exit N]` its exit code.
//! - Any block with `file=NAME` in its info string is also written to
//!   `NAME` in the scratch folder first (so flows can import it, tables can
//!   read it and commands can use it).
//!
//! `docs/functions.md` is generated from the stdlib registry, and the pages
//! of `docs/connectors/` (above the line that keeps hand-written prose) from
//! the connector registry; run `UPDATE_DOCS=1 cargo test --test docs` to
//! rewrite them.

use std::path::{Path, PathBuf};

use flowc::check::check_source;
use flowc::connectors::registry::{ConnectorSpec, SettingSpec, REGISTRY};
use flowc::eval::{NoUpserts, Outcome, Runtime};
use flowc::functions::{self, Category};
use flowc::program::SettingValue;
use flowc::value::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ------------------------------------------------------------ evaluation

/// Evaluates one expression inside a flow, the way a mapping does, and
/// renders the outcome the way the docs write it.
fn eval_rendered(
    dir: Option<&Path>,
    prelude: &str,
    source_schema: Option<&str>,
    input: &str,
    expr: &str,
) -> String {
    let source_as = source_schema
        .map(|s| format!(" as {s}"))
        .unwrap_or_default();
    let text = format!(
        "{prelude}\nflow doc_example {{\n  source file(\"input.json\"){source_as}\n  target file(\"output.json\")\n  {expr} -> result\n}}\n"
    );
    let checked = check_source("example.flow", dir, &text);
    let errors: Vec<String> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} {}", d.code.id, d.message))
        .collect();
    if !errors.is_empty() {
        return format!("check: {}", errors.join("; "));
    }
    let program = &checked.program;
    let flow = program.flow("doc_example").expect("the example flow");
    let input = json::parse(input).unwrap_or_else(|e| panic!("bad `# input:` JSON {input}: {e:?}"));
    let runtime = Runtime::new(program);
    match runtime.run_flow(flow, &input, &mut NoUpserts) {
        Ok(Outcome::Mapped(m)) => match m.payload.create.get("result") {
            None | Some(Value::Absent) => "absent".to_string(),
            Some(v) => json::to_string(v),
        },
        Ok(Outcome::Skipped(None)) => "skipped".to_string(),
        Ok(Outcome::Skipped(Some(reason))) => format!("skipped: {reason}"),
        Err(e) => format!("error: {} {}", e.code.id, e.message),
    }
}

/// Does an outcome match what the docs say it is?
fn matches_expected(got: &str, expected: &str) -> bool {
    let expected = expected.trim();
    if let Some(text) = expected.strip_prefix("error:") {
        return got.starts_with("error: ") && got.contains(text.trim());
    }
    if let Some(codes) = expected.strip_prefix("check:") {
        return got.starts_with("check: ") && codes.split_whitespace().all(|c| got.contains(c));
    }
    if expected == "absent" || expected.starts_with("skipped") {
        return got == expected;
    }
    match json::parse(expected) {
        Ok(v) => got == json::to_string(&v),
        Err(_) => panic!(
            "expected result is neither JSON, `absent`, `error: …` nor `check: …`: {expected}"
        ),
    }
}

// ------------------------------------------------------------ markdown

struct Block {
    info: String,
    body: String,
    /// 1-based line of the opening fence.
    line: usize,
}

impl Block {
    fn kind(&self) -> &str {
        self.info.split_whitespace().next().unwrap_or("")
    }
    fn file(&self) -> Option<&str> {
        self.info
            .split_whitespace()
            .find_map(|w| w.strip_prefix("file="))
    }
    fn words(&self) -> Vec<&str> {
        self.info
            .split_whitespace()
            .skip(1)
            .filter(|w| !w.contains('='))
            .collect()
    }
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => {
                current = Some(Block {
                    info: info.trim().to_string(),
                    body: String::new(),
                    line: i + 1,
                })
            }
            (Some(_), Some(rest)) if rest.trim().is_empty() => out.extend(current.take()),
            (Some(b), _) => {
                b.body.push_str(line);
                b.body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(current.is_none(), "an unclosed code fence");
    out
}

#[derive(Default, Debug)]
struct Tally {
    expressions: usize,
    programs: usize,
    rejected_programs: usize,
    tests: usize,
    commands: usize,
}

impl Tally {
    fn total(&self) -> usize {
        self.expressions + self.programs + self.rejected_programs + self.tests + self.commands
    }
}

/// Runs every executable block of one Markdown file; returns the failures.
fn run_markdown(name: &str, tally: &mut Tally) -> Vec<String> {
    let path = root().join("docs").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let dir = scratch.path();
    let all = blocks(&text);
    for b in &all {
        if let Some(file) = b.file() {
            let target = dir.join(file);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(target, &b.body).unwrap();
        }
    }
    let mut failures = Vec::new();
    for (n, b) in all.iter().enumerate() {
        let at = format!("docs/{name}:{}", b.line);
        match b.kind() {
            "flow-expr" => run_expr_block(b, dir, &at, tally, &mut failures),
            "flow" => {
                tally.programs += 1;
                let file = b
                    .file()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("block{n}.flow"));
                let checked = check_source(&file, Some(dir), &b.body);
                let errors: Vec<String> = checked
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| format!("{} {}", d.code.id, d.message))
                    .collect();
                if !errors.is_empty() {
                    failures.push(format!(
                        "{at}: the program does not check:\n    {}",
                        errors.join("\n    ")
                    ));
                    continue;
                }
                for result in flowc::engine::expect::run_tests(&checked.program) {
                    tally.tests += 1;
                    if let Some(why) = result.failure {
                        failures.push(format!("{at}: test \"{}\" fails:\n    {why}", result.name));
                    }
                }
            }
            "flow-error" => {
                tally.rejected_programs += 1;
                let file = b
                    .file()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("block{n}.flow"));
                let checked = check_source(&file, Some(dir), &b.body);
                let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code.id).collect();
                for want in b.words() {
                    if !codes.contains(&want) {
                        failures.push(format!(
                            "{at}: expected {want}, the checker reported {codes:?}"
                        ));
                    }
                }
            }
            "console" => run_console_block(b, dir, &at, tally, &mut failures),
            _ => {}
        }
    }
    failures
}

fn run_expr_block(b: &Block, dir: &Path, at: &str, tally: &mut Tally, failures: &mut Vec<String>) {
    let mut prelude = String::new();
    let mut input = "{}".to_string();
    let mut schema = None;
    let mut examples = Vec::new();
    for (i, line) in b.body.lines().enumerate() {
        if let Some(j) = line.trim().strip_prefix("# input:") {
            input = j.trim().to_string();
        } else if let Some(s) = line.trim().strip_prefix("# as:") {
            schema = Some(s.trim().to_string());
        } else if let Some((expr, expected)) = line.split_once("==>") {
            examples.push((
                b.line + 1 + i,
                expr.trim().to_string(),
                expected.trim().to_string(),
            ));
        } else {
            prelude.push_str(line);
            prelude.push('\n');
        }
    }
    for (line, expr, expected) in examples {
        tally.expressions += 1;
        let got = eval_rendered(Some(dir), &prelude, schema.as_deref(), &input, &expr);
        if !matches_expected(&got, &expected) {
            let at = at.rsplit_once(':').map(|(f, _)| f).unwrap_or(at);
            failures.push(format!(
                "{at}:{line}: `{expr}`\n    documented: {expected}\n    actual:     {got}"
            ));
        }
    }
}

fn run_console_block(
    b: &Block,
    dir: &Path,
    at: &str,
    tally: &mut Tally,
    failures: &mut Vec<String>,
) {
    // (command, expected stdout lines, expected exit code)
    let mut commands: Vec<(String, Vec<String>, Option<i32>)> = Vec::new();
    for line in b.body.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            commands.push((cmd.to_string(), Vec::new(), None));
        } else if let Some(last) = commands.last_mut() {
            match line
                .strip_prefix("[exit ")
                .and_then(|r| r.strip_suffix(']'))
            {
                Some(code) => last.2 = Some(code.parse().expect("[exit N]")),
                None => last.1.push(line.to_string()),
            }
        }
    }
    for (cmd, expected, exit) in commands {
        tally.commands += 1;
        let mut words = cmd.split_whitespace();
        assert_eq!(
            words.next(),
            Some("flowc"),
            "{at}: console examples run flowc"
        );
        // stdout and stderr into one file, interleaved as a terminal shows them.
        let log = tempfile::tempfile().expect("a log file");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_flowc"));
        command
            .args(words)
            .current_dir(dir)
            .env_remove("FLOWC_PATH")
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log.try_clone().unwrap());
        let status = command.status().expect("run flowc");
        let mut log = log;
        let mut stdout = String::new();
        std::io::Seek::rewind(&mut log).unwrap();
        std::io::Read::read_to_string(&mut log, &mut stdout).unwrap();
        let actual: Vec<&str> = stdout.lines().map(str::trim_end).collect();
        let same = actual.len() == expected.len()
            && actual
                .iter()
                .zip(&expected)
                .all(|(a, e)| match e.trim_end().strip_suffix("...") {
                    Some(prefix) => a.starts_with(prefix),
                    None => *a == e.trim_end(),
                });
        if !same {
            failures.push(format!(
                "{at}: `{cmd}` printed:\n{stdout}\n  documented:\n{}",
                expected.join("\n")
            ));
        }
        if let Some(code) = exit {
            if status.code() != Some(code) {
                failures.push(format!(
                    "{at}: `{cmd}` exited with {:?}, documented {code}\n{stdout}",
                    status.code()
                ));
            }
        }
    }
}

fn assert_doc(name: &str) {
    let mut tally = Tally::default();
    let failures = run_markdown(name, &mut tally);
    eprintln!(
        "docs/{name}: {} examples executed ({tally:?})",
        tally.total()
    );
    assert!(
        failures.is_empty(),
        "{} failing examples in docs/{name}:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(tally.total() > 0, "docs/{name} has no executable examples");
}

#[test]
fn language_reference_examples() {
    assert_doc("language.md");
}

#[test]
fn cli_reference_examples() {
    assert_doc("cli.md");
}

// ------------------------------------------------------------ functions.md

const CATEGORIES: &[Category] = &[
    Category::String,
    Category::Number,
    Category::Date,
    Category::List,
    Category::Record,
    Category::Value,
];

fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The text of docs/functions.md, from the stdlib registry.
fn functions_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Built-in functions\n\n");
    out.push_str(
        "<!-- Generated from src/functions/*.rs by tests/docs.rs. Do not edit: change the registry and run\n     `UPDATE_DOCS=1 cargo test --test docs` -->\n\n",
    );
    out.push_str(
        "Every function below is built into `flowc`; no import is needed. Call one as `f(x, y)` or pipe a value into\n\
         its first parameter: `x | f(y)` is `f(x, y)`. A parameter marked `?` may be left out. Arguments that may be\n\
         absent or null are rejected by `flowc check` (E0204) unless the function accepts them (`exists`, `is_null`,\n\
         `is_blank`, `blank_to_null`): supply a fallback with `??` first. A function that cannot compute a result fails\n\
         the record with E0905 (`fail` with E0909).\n\n\
         Each example is run by the test suite through the checker and the interpreter; `==>` shows the result as\n\
         JSON, or the error the record fails with. See [language.md](language.md) for the language itself.\n\n",
    );
    for c in CATEGORIES {
        let names: Vec<String> = functions::all()
            .filter(|b| b.category == *c)
            .map(|b| format!("`{}`", b.name))
            .collect();
        out.push_str(&format!(
            "- [{}](#{}): {}\n",
            c.title(),
            anchor(c.title()),
            names.join(", ")
        ));
    }
    for c in CATEGORIES {
        out.push_str(&format!("\n## {}\n", c.title()));
        for b in functions::all().filter(|b| b.category == *c) {
            out.push_str(&format!(
                "\n### {}\n\n`{}`\n\n{}\n\n",
                b.name,
                b.signature(),
                b.doc
            ));
            let width = b
                .examples
                .iter()
                .map(|e| e.expr.chars().count())
                .max()
                .unwrap_or(0);
            out.push_str("```flow-expr\n");
            for e in b.examples {
                let pad = width - e.expr.chars().count();
                out.push_str(&format!(
                    "{}{}  ==> {}\n",
                    e.expr,
                    " ".repeat(pad),
                    e.result
                ));
            }
            out.push_str("```\n");
        }
    }
    out
}

#[test]
fn functions_md_is_generated_from_the_registry() {
    let path = root().join("docs/functions.md");
    let generated = functions_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/functions.md is out of date with src/functions; regenerate it with `UPDATE_DOCS=1 cargo test --test docs`"
    );
}

#[test]
fn every_builtin_example_gives_its_documented_result() {
    let mut failures = Vec::new();
    let mut count = 0;
    for b in functions::all() {
        for e in b.examples {
            count += 1;
            let got = eval_rendered(None, "", None, "{}", e.expr);
            if !matches_expected(&got, e.result) {
                failures.push(format!(
                    "{}: `{}`\n    documented: {}\n    actual:     {got}",
                    b.name, e.expr, e.result
                ));
            }
        }
    }
    eprintln!("{count} builtin examples executed");
    assert!(
        failures.is_empty(),
        "{} wrong examples in src/functions:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_documents_link_each_other() {
    let language = std::fs::read_to_string(root().join("docs/language.md")).unwrap();
    assert!(language.contains("functions.md") && language.contains("cli.md"));
    // Every builtin is in the generated reference (and nowhere else needs a list).
    let functions = functions_markdown();
    for b in functions::all() {
        assert!(
            functions.contains(&format!("### {}\n", b.name)),
            "{} missing",
            b.name
        );
    }
}

// ------------------------------------------------------------ connectors/

/// Hand-written prose below this line in a docs/connectors page is kept
/// when the page is regenerated; everything above it comes from the registry.
const KEEP_BELOW: &str =
    "<!-- Hand-written below this line: kept when the page is regenerated. -->";

const GENERATED: &str = "<!-- Generated from the connector registry (src/connectors/registry.rs) by tests/docs.rs: edit the\n     registry and run `UPDATE_DOCS=1 cargo test --test docs`. -->";

/// The connection the connector's built-in module declares, if it has one.
fn builtin_connection(spec: &ConnectorSpec) -> Option<flowc::program::Connection> {
    let (path, _) = spec.schema_module?;
    let checked = check_source("builtin.flow", None, &format!("import \"{path}\"\n"));
    assert!(!checked.has_errors(), "{path} does not check");
    checked
        .program
        .connections
        .into_iter()
        .find(|c| &*c.connector == spec.name)
}

/// Where the built-in connection takes a setting from: `` `VAR` `` for env(…).
fn builtin_source(connection: Option<&flowc::program::Connection>, setting: &str) -> String {
    let value = connection.and_then(|c| c.settings.iter().find(|(n, _)| &**n == setting));
    match value {
        Some((_, SettingValue::Env { name, .. })) => format!("`{name}`"),
        Some((_, SettingValue::File(path))) => format!("file `{}`", path.display()),
        Some((_, SettingValue::Literal(v))) => format!("`{}`", json::to_string(v)),
        None => String::new(),
    }
}

fn setting_line(s: &SettingSpec) -> String {
    let mut how = Vec::new();
    if s.required {
        how.push("required");
    }
    if s.secret {
        how.push("secret");
    }
    format!(
        "| `{}` | {} | {} | {} |",
        s.name,
        s.ty.name(),
        how.join(", "),
        s.default.map(|d| format!("`{d}`")).unwrap_or_default()
    )
}

/// An example connection: the built-in one, else the required settings.
fn example_connection(spec: &ConnectorSpec) -> String {
    let mut out = format!(
        "connection {} {{\n  connector \"{}\"\n",
        spec.name, spec.name
    );
    let builtin = builtin_connection(spec);
    match &builtin {
        Some(c) => {
            for (name, value) in &c.settings {
                let text = match value {
                    SettingValue::Env {
                        name: var,
                        default: Some(d),
                    } => format!("env(\"{var}\", \"{d}\")"),
                    SettingValue::Env { name: var, .. } => format!("env(\"{var}\")"),
                    SettingValue::File(path) => format!("file(\"{}\")", path.display()),
                    SettingValue::Literal(v) => json::to_string(v),
                };
                out.push_str(&format!("  {name} {text}\n"));
            }
        }
        None => {
            for s in spec.settings.iter().filter(|s| s.required) {
                let text = if s.secret {
                    format!(
                        "env(\"{}_{}\")",
                        spec.name.to_uppercase(),
                        s.name.to_uppercase()
                    )
                } else {
                    format!("\"{}\"", sample_value(spec, s))
                };
                out.push_str(&format!("  {} {text}\n", s.name));
            }
        }
    }
    out.push_str("}\n");
    out
}

fn sample_value(spec: &ConnectorSpec, s: &SettingSpec) -> String {
    match (spec.name, s.name) {
        ("file", "path") => "records.ndjson".to_string(),
        _ => format!("your {}", s.name),
    }
}

/// The generated part of docs/connectors/NAME.md.
fn connector_page(spec: &ConnectorSpec) -> String {
    let builtin = builtin_connection(spec);
    let mut out = format!(
        "# Connector `{}`\n\n{GENERATED}\n\n{}.\n\n",
        spec.name, spec.doc
    );
    out.push_str("| | |\n|---|---|\n");
    out.push_str(&format!(
        "| in a connection | `connector \"{}\"` |\n",
        spec.name
    ));
    match spec.schema_module {
        Some((path, _)) => out.push_str(&format!(
            "| schemas and connection | `import \"{path}\"` (built in) |\n"
        )),
        None => out.push_str("| schemas and connection | declared by the flow |\n"),
    }
    match spec.id_field {
        Some(id) => out.push_str(&format!(
            "| a record's id (schemas without `key`) | `{id}` |\n"
        )),
        None => out.push_str("| a record's id | none: records cannot be looked up one by one |\n"),
    }
    match spec.auth {
        Some(_) => out.push_str(&format!(
            "| sign-in | `flowc auth {} [FILE] [--no-browser]` |\n",
            spec.name
        )),
        None => out.push_str("| sign-in | none |\n"),
    }
    out.push_str(&format!(
        "| when credentials are refused | {} |\n",
        spec.auth_help
    ));
    out.push_str("\n## Settings\n\n");
    if spec.settings.is_empty() {
        out.push_str("None.\n");
    } else {
        let env_column = builtin.is_some();
        out.push_str(if env_column {
            "| setting | type | | default | built-in connection reads | meaning |\n|---|---|---|---|---|---|\n"
        } else {
            "| setting | type | | default | meaning |\n|---|---|---|---|---|\n"
        });
        for s in spec.settings {
            let mut line = setting_line(s);
            if env_column {
                line.push_str(&format!(" {} |", builtin_source(builtin.as_ref(), s.name)));
            }
            line.push_str(&format!(" {} |\n", s.doc));
            out.push_str(&line);
        }
        out.push_str(
            "\nSecrets can only come from `env(\"…\")` or `file(\"…\")` (E0401); a setting the connector does not\nhave, or a literal of the wrong type, is E0402.\n",
        );
    }
    out.push_str(&format!(
        "\n## Example\n\n```flow\n{}```\n",
        example_connection(spec)
    ));
    out
}

/// The generated part of docs/connectors/README.md.
fn connectors_index() -> String {
    let mut out = format!("# Connectors\n\n{GENERATED}\n\n");
    out.push_str("| connector | what | built-in module | sign-in |\n|---|---|---|---|\n");
    for spec in REGISTRY {
        out.push_str(&format!(
            "| [`{0}`]({0}.md) | {1} | {2} | {3} |\n",
            spec.name,
            spec.doc,
            spec.schema_module
                .map(|(p, _)| format!("`{p}`"))
                .unwrap_or_else(|| "—".into()),
            spec.auth
                .map(|_| format!("`flowc auth {}`", spec.name))
                .unwrap_or_else(|| "—".into()),
        ));
    }
    out.push_str("\nThe environment variables the built-in connections read:\n\n");
    out.push_str("| variable | connector | setting | meaning |\n|---|---|---|---|\n");
    for spec in REGISTRY {
        let Some(c) = builtin_connection(spec) else {
            continue;
        };
        for (name, value) in &c.settings {
            if let SettingValue::Env { name: var, .. } = value {
                let doc = spec.setting(name).map(|s| s.doc).unwrap_or_default();
                out.push_str(&format!(
                    "| `{var}` | [{0}]({0}.md) | `{name}` | {doc} |\n",
                    spec.name
                ));
            }
        }
    }
    out
}

/// `generated`, then the hand-written part of the committed page (or an empty one).
fn with_kept_prose(generated: &str, committed: &str) -> String {
    let kept = committed
        .split_once(KEEP_BELOW)
        .map(|(_, prose)| prose)
        .unwrap_or("\n");
    format!("{generated}\n{KEEP_BELOW}{kept}")
}

#[test]
fn connector_docs_are_generated_from_the_registry() {
    let dir = root().join("docs/connectors");
    let mut pages = vec![("README.md".to_string(), connectors_index())];
    pages.extend(
        REGISTRY
            .iter()
            .map(|spec| (format!("{}.md", spec.name), connector_page(spec))),
    );
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for (name, generated) in &pages {
        let path = dir.join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let expected = with_kept_prose(generated, &committed);
        if update {
            std::fs::write(&path, &expected).unwrap();
        } else if committed != expected {
            stale.push(name.clone());
        }
    }
    let mut unknown: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| !pages.iter().any(|(name, _)| name == f))
        .collect();
    unknown.sort();
    assert!(
        stale.is_empty(),
        "docs/connectors/{stale:?} out of date with the connector registry; regenerate with `UPDATE_DOCS=1 cargo test --test docs`"
    );
    assert!(
        unknown.is_empty(),
        "docs/connectors/ has pages for no registered connector: {unknown:?}"
    );
}

#[test]
fn connector_pages_examples() {
    for spec in REGISTRY {
        assert_doc(&format!("connectors/{}.md", spec.name));
    }
}

#[test]
fn the_regenerated_part_keeps_what_is_written_below_it() {
    let generated = "# Generated\n";
    let committed = format!("# Old header\n\n{KEEP_BELOW}\n\nProse.\n");
    assert_eq!(
        with_kept_prose(generated, &committed),
        format!("# Generated\n\n{KEEP_BELOW}\n\nProse.\n")
    );
    assert_eq!(
        with_kept_prose(generated, ""),
        format!("# Generated\n\n{KEEP_BELOW}\n")
    );
}
