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
//! `docs/functions.md` is generated from the stdlib registry; run
//! `UPDATE_DOCS=1 cargo test --test docs` to rewrite it.

use std::path::{Path, PathBuf};

use flowc::check::check_source;
use flowc::eval::{NoUpserts, Outcome, Runtime};
use flowc::functions::{self, Category};
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
        Ok(Outcome::Skipped) => "skipped".to_string(),
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
    if expected == "absent" || expected == "skipped" {
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
