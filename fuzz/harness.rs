//! The fuzzer: a grammar-based generator of `.flow` programs and input
//! records, mutations of them, and extremes (deep nesting, long chains, big
//! files), fed to `check` (with every diagnostic rendered, as text and
//! JSON), `fmt`, `test` and `run` (decode → validate the source → map →
//! validate the target → encode, as the engine does per record). A panic
//! anywhere is a crash; a stack overflow aborts the process, whose last
//! progress line names the input to replay with `--only`.
//!
//! Used by `fuzz/main.rs` (`cargo bench --bench fuzz -- …`, the long runs in
//! `fuzz/RESULTS.md`) and by `tests/fuzz_slice.rs` (a few seconds in CI).

#![allow(dead_code)]

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use rand::rngs::StdRng as SmallRng;
use rand::{Rng, SeedableRng};

use flowc::eval::{NoUpserts, Outcome, Runtime};
use flowc::value::json::Decoder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Check,
    Fmt,
    Run,
    Test,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Check, Mode::Fmt, Mode::Run, Mode::Test];
    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "check" => Mode::Check,
            "fmt" => Mode::Fmt,
            "run" => Mode::Run,
            "test" => Mode::Test,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Mode::Check => "check",
            Mode::Fmt => "fmt",
            Mode::Run => "run",
            Mode::Test => "test",
        }
    }
}

/// What a run of the fuzzer did.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub inputs: u64,
    pub bytes: u64,
    pub largest: usize,
    pub clean: u64,
    pub records: u64,
    pub crashes: Vec<(u64, String)>,
}

/// One input: its program text and, for `run`, the NDJSON lines fed to it.
pub struct Input {
    pub program: String,
    pub lines: Vec<String>,
}

/// The `i`th input of a run with `seed`: the same pair always gives the same input.
pub fn input(seed: u64, i: u64) -> Input {
    input_of(seed, i, false)
}

/// Like [`input`], but every input is a big one (100 KB to 10 MB).
pub fn big_input(seed: u64, i: u64) -> Input {
    input_of(seed, i, true)
}

fn input_of(seed: u64, i: u64, big: bool) -> Input {
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i);
    let mut g = Gen { rng: &mut rng };
    if big {
        let program = if g.chance(50) {
            g.extreme(true)
        } else {
            g.wide()
        };
        return Input {
            program,
            lines: vec![g.json_line()],
        };
    }
    let program = match g.rng.gen_range(0..100) {
        0..=54 => g.program(),
        55..=84 => {
            let p = g.program();
            g.mutate(p)
        }
        85..=89 => g.token_soup(),
        90..=98 => g.extreme(false),
        _ => g.extreme(i % 2000 == 99),
    };
    let n = g.rng.gen_range(0..6);
    let lines = (0..n).map(|_| g.json_line()).collect();
    Input { program, lines }
}

/// Runs inputs `from..to` of `seed` through `modes`; `progress` is told
/// every so often (and may print).
pub fn run(seed: u64, from: u64, to: u64, modes: &[Mode], progress: impl FnMut(&Stats)) -> Stats {
    run_with(seed, from, to, modes, input, progress)
}

/// [`run`] over inputs made by `make`.
pub fn run_with(
    seed: u64,
    from: u64,
    to: u64,
    modes: &[Mode],
    make: fn(u64, u64) -> Input,
    mut progress: impl FnMut(&Stats),
) -> Stats {
    let mut stats = Stats::default();
    let mut last = Instant::now();
    for i in from..to {
        let input = make(seed, i);
        stats.inputs += 1;
        stats.bytes += input.program.len() as u64;
        stats.largest = stats.largest.max(input.program.len());
        for &mode in modes {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| one(mode, &input)));
            match outcome {
                Ok((clean, records)) => {
                    stats.clean += u64::from(clean);
                    stats.records += records;
                }
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    stats
                        .crashes
                        .push((i, format!("{}: {message}", mode.name())));
                }
            }
        }
        if last.elapsed().as_secs() >= 10 {
            last = Instant::now();
            progress(&stats);
        }
    }
    stats
}

/// One input through one mode: (whether the program checked clean, records mapped).
fn one(mode: Mode, input: &Input) -> (bool, u64) {
    match mode {
        Mode::Fmt => {
            if let Ok(once) = flowc::fmt::format_source(&input.program) {
                // Formatting what it printed must give the same text.
                let twice = flowc::fmt::format_source(&once).expect("formatted output parses");
                assert_eq!(once, twice, "fmt is not idempotent");
                return (true, 0);
            }
            (false, 0)
        }
        Mode::Check => {
            let checked = flowc::check::check_source("fuzz.flow", None, &input.program);
            for d in &checked.diagnostics {
                let _ = flowc::diag::render_human(d, &checked.sources, Default::default());
            }
            let _ = flowc::diag::render_json(&checked.diagnostics, &checked.sources);
            (!checked.has_errors(), 0)
        }
        Mode::Test => {
            let checked = flowc::check::check_source("fuzz.flow", None, &input.program);
            if checked.has_errors() {
                return (false, 0);
            }
            let results = flowc::engine::expect::run_tests(&checked.program);
            (true, results.len() as u64)
        }
        Mode::Run => {
            let checked = flowc::check::check_source("fuzz.flow", None, &input.program);
            if checked.has_errors() {
                return (false, 0);
            }
            let program = &checked.program;
            let runtime = Runtime::new(program);
            let mut decoder = Decoder::new();
            let mut records = 0;
            for flow in &program.flows {
                let fields = flow.input_fields();
                let keep = |k: &str| fields.as_ref().is_none_or(|f| f.contains(k));
                for line in &input.lines {
                    let Ok(record) = flowc::engine::decode_record(
                        program,
                        flow,
                        &mut decoder,
                        line.as_bytes(),
                        &keep,
                    ) else {
                        continue;
                    };
                    records += 1;
                    if let Ok(Outcome::Mapped(mapped)) =
                        runtime.run_flow(flow, &record, &mut NoUpserts)
                    {
                        if let Some(schema) = flow.target_schema.map(|i| &program.schemas[i]) {
                            let _ = flowc::types::validate::validate(
                                &mapped.payload.create,
                                &schema.record,
                                true,
                            );
                            let _ = flowc::types::validate::validate(
                                &mapped.payload.update,
                                &schema.record,
                                false,
                            );
                        }
                        let _ = flowc::value::json::to_string(&flowc::value::Value::record(
                            mapped.payload.create,
                        ));
                    }
                }
            }
            (true, records)
        }
    }
}

// ------------------------------------------------------------- generator

struct Gen<'r> {
    rng: &'r mut SmallRng,
}

const FIELDS: &[&str] = &[
    "id", "total", "paid", "status", "qty", "d", "t", "name", "rows", "note", "price", "a", "b",
    "country", "in", "key", "x",
];
const TARGET_FIELDS: &[&str] = &[
    "Id",
    "Total",
    "Name",
    "Ref",
    "Rows",
    "Addr",
    "Addr.City",
    "Date",
    "Qty",
    "X",
    "Y.Z",
];
const FUNCS: &[&str] = &[
    "trim",
    "upper",
    "lower",
    "truncate",
    "length",
    "round",
    "to_number",
    "to_string",
    "to_int",
    "date",
    "datetime",
    "add_days",
    "format_date",
    "sum",
    "first",
    "unique",
    "exists",
    "is_null",
    "coalesce",
    "fail",
    "abs",
    "min",
    "max",
    "replace",
    "split",
    "join",
    "normalize_email",
    "is_eu",
    "to_utc",
    "days_between",
    "is_blank",
    "blank_to_null",
    "count",
    "substring",
    "pad_left",
];
const STRINGS: &[&str] = &[
    "",
    "NL",
    "paid",
    "PAID",
    "a😀b",
    "👩‍👩‍👧‍👦",
    "e\u{301}",
    "1,234",
    "1.234,5",
    "12.50",
    "-0",
    "2026-02-30",
    "2024-01-31T12:00:00+01:00",
    "\\u{e9}",
    "\\{x\\}",
    "%d-%m-%Y",
];

impl Gen<'_> {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.gen_range(0..items.len())]
    }
    fn chance(&mut self, percent: u32) -> bool {
        self.rng.gen_range(0..100) < percent
    }

    fn number(&mut self) -> String {
        match self.rng.gen_range(0..8) {
            0 => "0".into(),
            1 => format!("{}", self.rng.gen_range(0..100)),
            2 => format!(
                "{}.{:02}",
                self.rng.gen_range(0..1000),
                self.rng.gen_range(0..100)
            ),
            3 => "79228162514264337593543950335".into(),
            4 => "0.0000000000000000000000000001".into(),
            5 => "12345678901234567890123".into(),
            6 => "21.00".into(),
            _ => format!("{}", self.rng.gen::<u32>()),
        }
    }

    fn string_lit(&mut self, depth: u32) -> String {
        if depth > 0 && self.chance(20) {
            format!("\"pre-{{{}}}-post\"", self.expr(depth - 1))
        } else {
            format!("\"{}\"", self.pick(STRINGS).replace('"', "\\\""))
        }
    }

    fn ty(&mut self, depth: u32) -> String {
        let base = match self.rng.gen_range(0..14) {
            0 => "string".to_string(),
            1 => format!("string({})", self.rng.gen_range(0..60)),
            2 => "int".into(),
            3 => "decimal".into(),
            4 => "bool".into(),
            5 => "date".into(),
            6 => "datetime".into(),
            7 => "uuid".into(),
            8 => "any".into(),
            9 => "\"paid\" | \"open\"".into(),
            10 if depth > 0 => format!("list<{}>", self.ty(depth - 1)),
            11 if depth > 0 => {
                let n = self.rng.gen_range(0..4);
                let fields: Vec<String> = (0..n).map(|_| self.field_decl(depth - 1)).collect();
                format!("{{ {} }}", fields.join("  "))
            }
            _ => "decimal range 0..100".replace(" range 0..100", ""),
        };
        base
    }

    fn field_decl(&mut self, depth: u32) -> String {
        let name = self.pick(FIELDS);
        let mut s = format!("{name}: {}", self.ty(depth));
        if self.chance(25) {
            s.push('?');
        }
        if self.chance(10) {
            s.push_str(" readonly");
        }
        if self.chance(10) {
            s.push_str(&format!(
                " range {}..{}",
                self.rng.gen_range(0..5),
                self.rng.gen_range(5..100)
            ));
        }
        s
    }

    fn expr(&mut self, depth: u32) -> String {
        if depth == 0 || self.chance(25) {
            return match self.rng.gen_range(0..9) {
                0 => self.number(),
                1 => self.string_lit(0),
                2 => "null".into(),
                3 => "true".into(),
                4 => "@2024-02-29".into(),
                5 => "@2024-01-31T12:00:00+01:00".into(),
                _ => self.pick(FIELDS).to_string(),
            };
        }
        let d = depth - 1;
        match self.rng.gen_range(0..20) {
            0..=4 => {
                let op = self.pick(&[
                    "+", "-", "*", "/", "%", "==", "!=", "<", ">=", "and", "or", "??", "in",
                    "not in",
                ]);
                format!("{} {op} {}", self.expr(d), self.expr(d))
            }
            5 => format!("-{}", self.expr(d)),
            6 => format!("not {}", self.expr(d)),
            7 => format!("({})", self.expr(d)),
            8 => format!(
                "if {} then {} else {}",
                self.expr(d),
                self.expr(d),
                self.expr(d)
            ),
            9 | 10 => {
                let f = self.pick(FUNCS);
                let n = self.rng.gen_range(0..4);
                let args: Vec<String> = (0..n).map(|_| self.expr(d)).collect();
                format!("{f}({})", args.join(", "))
            }
            11 => format!("{} | {}({})", self.expr(d), self.pick(FUNCS), self.expr(d)),
            12 => format!("{}.{}", self.expr(d), self.pick(FIELDS)),
            13 => format!("{}?.{}", self.expr(d), self.pick(FIELDS)),
            14 => format!("{}[{}]", self.expr(d), self.expr(d)),
            15 => format!("t[{}]", self.expr(d)),
            16 => {
                let n = self.rng.gen_range(0..4);
                let items: Vec<String> = (0..n).map(|_| self.expr(d)).collect();
                format!("[{}]", items.join(", "))
            }
            17 => {
                let n = self.rng.gen_range(0..3);
                let items: Vec<String> = (0..n)
                    .map(|_| format!("{}: {}", self.pick(FIELDS), self.expr(d)))
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            18 => format!("g({})", self.expr(d)),
            _ => self.string_lit(d),
        }
    }

    fn program(&mut self) -> String {
        let mut out = String::new();
        let depth = self.rng.gen_range(1..5);
        for s in ["src", "dst"] {
            let n = self.rng.gen_range(0..6);
            let fields: Vec<String> = (0..n).map(|_| self.field_decl(2)).collect();
            let unit = if self.chance(20) { " length utf16" } else { "" };
            out.push_str(&format!(
                "schema {s}{unit} {{\n  {}\n}}\n",
                fields.join("\n  ")
            ));
        }
        if self.chance(70) {
            let n = self.rng.gen_range(0..5);
            let rows: Vec<String> = (0..n)
                .map(|_| {
                    let k = match self.rng.gen_range(0..4) {
                        0 => self.string_lit(0),
                        1 => self.number(),
                        2 => "true".into(),
                        _ => "_".into(),
                    };
                    format!("  {k} => {}", self.expr(1))
                })
                .collect();
            out.push_str(&format!("table t {{\n{}\n}}\n", rows.join("\n")));
        }
        if self.chance(50) {
            out.push_str(&format!(
                "fn g(n) = if n == 0 then 0 else {}\n",
                self.expr(depth).replace("g(", "g(n - 1 + ")
            ));
        }
        if self.chance(30) {
            out.push_str(&format!("let k = {}\n", self.expr(depth)));
        }
        out.push_str("flow f {\n");
        let typed_src = if self.chance(60) { " as src" } else { "" };
        let typed_dst = if self.chance(60) { " as dst" } else { "" };
        out.push_str(&format!("  source file(\"in.ndjson\"){typed_src}\n"));
        out.push_str(&format!("  target file(\"out.ndjson\"){typed_dst}\n"));
        if self.chance(30) {
            out.push_str(&format!("  where {}\n", self.expr(depth)));
        }
        if self.chance(30) {
            out.push_str(&format!(
                "  key {} -> {}\n",
                self.expr(depth),
                self.pick(TARGET_FIELDS)
            ));
        }
        let n = self.rng.gen_range(0..8);
        for _ in 0..n {
            match self.rng.gen_range(0..10) {
                0 => out.push_str(&format!("  let v = {}\n", self.expr(depth))),
                1 => out.push_str(&format!(
                    "  each {} as r -> Rows {{\n    {} -> Sku\n  }}\n",
                    self.expr(depth),
                    self.expr(depth)
                )),
                2 => out.push_str(&format!(
                    "  on create {{ {} -> {} }}\n",
                    self.expr(depth),
                    self.pick(TARGET_FIELDS)
                )),
                3 => out.push_str(&format!("  on update keep {}\n", self.pick(TARGET_FIELDS))),
                _ => out.push_str(&format!(
                    "  {} -> {}\n",
                    self.expr(depth),
                    self.pick(TARGET_FIELDS)
                )),
            }
        }
        out.push_str("}\n");
        if self.chance(40) {
            out.push_str(&format!(
                "test \"t\" {{\n  input {{ {}: {} }}\n  expect {}\n}}\n",
                self.pick(FIELDS),
                self.expr(2),
                self.pick(&["skip", "error", "create { X: 1 }", "error \"E0906\""])
            ));
        }
        out
    }

    /// Random edits: delete, duplicate, insert tokens or bytes, truncate.
    fn mutate(&mut self, text: String) -> String {
        let mut bytes = text.into_bytes();
        let edits = self.rng.gen_range(1..6);
        for _ in 0..edits {
            if bytes.is_empty() {
                break;
            }
            let at = self.rng.gen_range(0..bytes.len());
            match self.rng.gen_range(0..6) {
                0 => {
                    let end = (at + self.rng.gen_range(1..20)).min(bytes.len());
                    bytes.drain(at..end);
                }
                1 => {
                    let end = (at + self.rng.gen_range(1..40)).min(bytes.len());
                    let copy = bytes[at..end].to_vec();
                    let to = self.rng.gen_range(0..bytes.len());
                    bytes.splice(to..to, copy);
                }
                2 => {
                    let tok = self.pick(&[
                        "(", ")", "{", "}", "[", "]", "\"", "#", "\\", "->", "=>", "?", "@", ".",
                        "if ", "\n", "😀", "\u{0}", "not in ",
                    ]);
                    bytes.splice(at..at, tok.bytes());
                }
                3 => bytes[at] = self.rng.gen(),
                4 => bytes.truncate(at),
                _ => {
                    let tok = self.pick(&[
                        "string(0)",
                        "int",
                        "table t { 1 => 2 1.0 => 3 }",
                        "length utf16",
                        "_ => 0",
                    ]);
                    bytes.splice(at..at, tok.bytes());
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn token_soup(&mut self) -> String {
        const TOKENS: &[&str] = &[
            "flow",
            "f",
            "{",
            "}",
            "source",
            "target",
            "file(\"a.ndjson\")",
            "as",
            "where",
            "key",
            "->",
            "let",
            "x",
            "=",
            "each",
            "upsert",
            "match",
            "on",
            "create",
            "update",
            "keep",
            "table",
            "t",
            "=>",
            "_",
            "fn",
            "(",
            ")",
            ",",
            "schema",
            "s",
            ":",
            "string(5)",
            "int",
            "list<int>",
            "?",
            "range",
            "0..1",
            "test",
            "input",
            "expect",
            "skip",
            "1",
            "0.5",
            "\"s{x}\"",
            "@2024-01-01",
            "null",
            "and",
            "or",
            "not",
            "in",
            "??",
            "|",
            "+",
            "-",
            "*",
            "/",
            "==",
            "if",
            "then",
            "else",
            "[",
            "]",
            ".",
            "?.",
            "trim",
            "\n",
            "# c\n",
            "\"",
            "length",
            "utf16",
        ];
        let n = self.rng.gen_range(0..120);
        (0..n)
            .map(|_| self.pick(TOKENS))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Deep nesting and long chains around the limits, and (rarely) big files.
    fn extreme(&mut self, big: bool) -> String {
        let n = if big {
            self.rng.gen_range(20_000..1_400_000)
        } else {
            match self.rng.gen_range(0..4) {
                0 => self.rng.gen_range(200..300),
                1 => self.rng.gen_range(1000..1100),
                _ => self.rng.gen_range(1..3000),
            }
        };
        let expr = match self.rng.gen_range(0..12) {
            0 => format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            1 => format!("{}1", "-".repeat(n)),
            2 => format!("{}true", "not ".repeat(n)),
            3 => vec!["a"; n].join(" ?? "),
            4 => format!("a{}", " | trim".repeat(n)),
            5 => format!("a{}", "?.a".repeat(n)),
            6 => format!("{}1{}", "if a then ".repeat(n), " else 2".repeat(n)),
            7 => vec!["1"; n].join(" + "),
            8 => format!("{}1{}", "[".repeat(n), "]".repeat(n)),
            9 => format!("{}a{}", "\"{".repeat(n), "}\"".repeat(n)),
            10 => format!("{}1{}", "f(".repeat(n), ")".repeat(n)),
            _ => format!("a{}", "[0]".repeat(n)),
        };
        let flow = format!(
            "flow f {{\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\")\n  {expr} -> X\n}}\n"
        );
        if self.chance(30) {
            self.mutate(flow)
        } else {
            flow
        }
    }

    /// A big file that is wide, not deep (100 KB to 10 MB): many mappings,
    /// table rows or comments, a long list or string; most of it checks.
    fn wide(&mut self) -> String {
        let n = self.rng.gen_range(5_000..400_000);
        let head = "flow f {\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\")\n";
        let body = match self.rng.gen_range(0..6) {
            0 => (0..n)
                .map(|i| format!("  a{i} + 1 -> F{i}\n"))
                .collect::<String>(),
            1 => format!("  [{}] -> L\n", vec!["1.5"; n].join(", ")),
            2 => format!("  \"{}\" -> S\n", "é😀x".repeat(n)),
            3 => (0..n)
                .map(|i| format!("  # note {i}\n  x{i} -> G{i}  # after\n"))
                .collect(),
            4 => {
                let rows: String = (0..n).map(|i| format!("  \"k{i}\" => {i}\n")).collect();
                return format!("table t {{\n{rows}}}\n{head}  t[k] ?? 0 -> T\n}}\n");
            }
            _ => {
                let fields: String = (0..n).map(|i| format!("  f{i}: string(10)?\n")).collect();
                return format!("schema s {{\n{fields}}}\nflow f {{\n  source file(\"in.ndjson\") as s\n  target file(\"out.ndjson\")\n  f1 -> A\n}}\n");
            }
        };
        let text = format!("{head}{body}}}\n");
        if self.chance(20) {
            self.mutate(text)
        } else {
            text
        }
    }

    /// A line of NDJSON: mostly records, some broken, duplicated, deep, odd.
    fn json_line(&mut self) -> String {
        match self.rng.gen_range(0..20) {
            0 => "[1,2]".into(),
            1 => "42".into(),
            2 => "null".into(),
            3 => "{\"total\": 5.00, \"total\": 700.00}".into(),
            4 => format!("{}{}", "[".repeat(300), "]".repeat(300)),
            5 => "{\"total\": 0.12345678901234567890123456789012345}".into(),
            6 => "{\"a\": 1".into(),
            _ => {
                let n = self.rng.gen_range(0..6);
                let fields: Vec<String> = (0..n)
                    .map(|_| format!("\"{}\": {}", self.pick(FIELDS), self.json_value(2)))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
        }
    }

    fn json_value(&mut self, depth: u32) -> String {
        match self.rng.gen_range(0..10) {
            0 => self.number(),
            1 => format!("-{}", self.number()),
            2 => "true".into(),
            3 => "null".into(),
            4 if depth > 0 => {
                let n = self.rng.gen_range(0..3);
                let items: Vec<String> = (0..n).map(|_| self.json_value(depth - 1)).collect();
                format!("[{}]", items.join(","))
            }
            5 if depth > 0 => {
                let n = self.rng.gen_range(0..3);
                let items: Vec<String> = (0..n)
                    .map(|_| format!("\"{}\": {}", self.pick(FIELDS), self.json_value(depth - 1)))
                    .collect();
                format!("{{{}}}", items.join(","))
            }
            6 => "1e400".into(),
            7 => "\"\\ud83d\\ude00\"".into(),
            _ => format!("\"{}\"", self.pick(STRINGS).replace('\\', "\\\\")),
        }
    }
}
