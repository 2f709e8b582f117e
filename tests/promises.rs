//! The language keeps at run time what the checker promises, and no input
//! crashes flowc (issue #11). Each test runs the real binary on a small flow
//! over the file connector, as an integrator would.

use std::path::Path;
use std::process::{Command, Output};

fn flowc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("FLOWC_PATH")
        .current_dir(dir)
        .output()
        .expect("run flowc")
}

/// What one command did: exit code (None: killed by a signal), stderr, and
/// the target file's lines.
struct Ran {
    code: Option<i32>,
    stderr: String,
    written: Vec<String>,
}

/// Runs `flowc <command> f.flow` on `flow` with `in.ndjson` holding `input`.
fn ran(command: &str, flow: &str, input: &str) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.flow"), flow).unwrap();
    std::fs::write(dir.path().join("in.ndjson"), input).unwrap();
    let out = flowc(dir.path(), &[command, "f.flow"]);
    let written = std::fs::read_to_string(dir.path().join("out.ndjson"))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default();
    Ran {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        written,
    }
}

/// An untyped flow mapping `expr` onto `X`.
fn untyped(expr: &str) -> String {
    format!(
        "flow f {{\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\")\n  {expr} -> X\n}}\n"
    )
}

fn assert_code(r: &Ran, code: &str) {
    assert!(r.code.is_some(), "killed by a signal: {}", r.stderr);
    assert!(
        r.stderr.contains(code),
        "expected {code}, got exit {:?}:\n{}",
        r.code,
        &r.stderr[..r.stderr.len().min(3000)]
    );
}

// ------------------------------------------------------------------ limits

#[test]
fn check_refuses_5000_nested_parentheses_with_e0007() {
    let r = ran(
        "check",
        &untyped(&format!("{}1{}", "(".repeat(5000), ")".repeat(5000))),
        "",
    );
    assert_eq!(r.code, Some(1));
    assert_code(&r, "E0007");
}

#[test]
fn a_3000_term_sum_is_refused_by_check_and_run_instead_of_overflowing() {
    let flow = untyped(&vec!["1"; 3000].join(" + "));
    let r = ran("check", &flow, "");
    assert_eq!(r.code, Some(1));
    assert_code(&r, "E0007");
    let r = ran("run", &flow, "{}\n");
    assert_code(&r, "E0007");
    assert!(r.written.is_empty());
}

#[test]
fn a_1000_term_sum_within_the_limit_runs_on_a_worker_thread() {
    let r = ran(
        "run",
        &untyped(&vec!["a"; 1000].join(" + ")),
        "{\"a\": 1}\n",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.written, vec![r#"{"X":1000}"#]);
}

#[test]
fn chains_of_100k_prefix_and_postfix_operators_are_e0007_not_a_crash() {
    let n = 100_000;
    let chains = [
        format!("{}1", "-".repeat(n)),
        format!("{}true", "not ".repeat(n)),
        vec!["a"; n].join(" ?? "),
        format!("a{}", " | trim".repeat(n)),
        format!("a{}", "?.a".repeat(n)),
        format!("{}1{}", "if a then ".repeat(n), " else 2".repeat(n)),
    ];
    for chain in &chains {
        for command in ["check", "fmt", "run"] {
            let r = ran(command, &untyped(chain), "{}\n");
            assert_code(&r, "E0007");
        }
    }
}

#[test]
fn fmt_reports_100k_parentheses_without_panicking_in_the_renderer() {
    let r = ran(
        "fmt",
        &untyped(&format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000))),
        "",
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_code(&r, "E0007");
    assert!(r.stderr.contains("f.flow:4:"), "{}", r.stderr);
}

#[test]
fn fmt_is_linear_on_long_chains() {
    // 1,000 terms format (the depth limit is 1,024); the time for 500 and
    // 1,000 terms grows about linearly, not 4x.
    let time = |n: usize| {
        let flow = untyped(&vec!["a"; n].join(" + "));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.flow"), &flow).unwrap();
        let started = std::time::Instant::now();
        let out = flowc(dir.path(), &["fmt", "f.flow"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    // The fastest of three runs each: other tests share the machine.
    let fastest = |n: usize| (0..3).map(|_| time(n)).min().unwrap();
    let small = fastest(500);
    let large = fastest(1000);
    assert!(large.as_secs_f64() < 2.0, "1000 terms took {large:?}");
    assert!(
        large.as_secs_f64() < small.as_secs_f64() * 3.0 + 0.2,
        "500 terms {small:?}, 1000 terms {large:?}"
    );
}

#[test]
fn fmt_is_linear_on_files_with_many_comments() {
    let time = |n: usize| {
        let body: String = (0..n)
            .map(|i| format!("  # note {i}\n  x{i} -> G{i}  # after\n"))
            .collect();
        let flow = format!(
            "flow f {{\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\")\n{body}}}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.flow"), &flow).unwrap();
        let started = std::time::Instant::now();
        let out = flowc(dir.path(), &["fmt", "f.flow"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed().as_secs_f64()
    };
    // The fastest of three runs each: other tests share the machine.
    let fastest = |n: usize| (0..3).map(|_| time(n)).fold(f64::MAX, f64::min);
    let (small, large) = (fastest(3000), fastest(12000));
    // Four times the comments: well under the 16 times a quadratic pass takes.
    assert!(
        large < small * 8.0 + 0.3,
        "3000: {small:.2} s, 12000: {large:.2} s"
    );
}

#[test]
fn a_recursive_function_with_a_deep_body_fails_the_record_not_the_process() {
    let flow = format!(
        "fn g(n) = if n == 0 then 0 else g(n - 1){}\n{}",
        " + 0".repeat(500),
        untyped("g(150)")
    );
    let r = ran("run", &flow, "{}\n");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_code(&r, "E0905");
    assert!(r.stderr.contains("calls nest"), "{}", r.stderr);
    // Shallow recursion still works up to 200 calls.
    let r = ran(
        "run",
        &format!(
            "fn c(n) = if n == 0 then 0 else 1 + c(n - 1)\n{}",
            untyped("c(150)")
        ),
        "{}\n",
    );
    assert_eq!(r.written, vec![r#"{"X":150}"#], "{}", r.stderr);
}

// ------------------------------------------------------- typed sources

const TYPED: &str = r#"schema order {
  id: int
  total: decimal
  paid: bool
  status: "paid" | "open"
  qty: int range 0..1000
  d: date?
  note: string(5)?
  unused: int?
}
schema invoice { Id: int  Total: decimal  Paid: bool  Status: string  Qty: int  D: date? }
flow f {
  source file("in.ndjson") as order
  target file("out.ndjson") as invoice
  id -> Id
  total -> Total
  paid -> Paid
  status -> Status
  qty -> Qty
  d -> D
  note ?? "" -> Note
}
"#;

fn typed_run(lines: &[&str]) -> Ran {
    ran(
        "run",
        &TYPED.replace("  note ?? \"\" -> Note\n", ""),
        &(lines.join("\n") + "\n"),
    )
}

#[test]
fn typed_source_fields_that_do_not_fit_fail_the_record_with_e0906() {
    let good =
        r#"{"id": 1, "total": 12.50, "paid": true, "status": "paid", "qty": 2, "d": "2024-02-29"}"#;
    let cases = [
        (
            r#""total": "12.50""#,
            "field `total` is the string \"12.50\", not decimal",
        ),
        (
            r#""paid": "yes""#,
            "field `paid` is the string \"yes\", not bool",
        ),
        (
            r#""status": "PAID""#,
            "field `status` is the string \"PAID\", not \"paid\" | \"open\"",
        ),
        (r#""qty": 2.5"#, "field `qty` is the decimal 2.5, not int"),
        (
            r#""qty": 5000"#,
            "field `qty` is 5000, outside its range 0..1000",
        ),
        (
            r#""d": "2026-02-30""#,
            "field `d` is the string \"2026-02-30\", not date",
        ),
        (
            r#""d": "hello""#,
            "field `d` is the string \"hello\", not date",
        ),
    ];
    for (field, message) in cases {
        let key = field.split(':').next().unwrap();
        let start = good.find(key).unwrap();
        let end = start + good[start..].find([',', '}']).unwrap();
        let bad = format!("{}{}{}", &good[..start], field, &good[end..]);
        let r = typed_run(&[good, &bad]);
        assert_eq!(r.code, Some(1), "{bad}: {}", r.stderr);
        assert_code(&r, "E0906");
        assert!(
            r.stderr.contains(message),
            "{bad}: want {message}\n{}",
            r.stderr
        );
        assert!(r.stderr.contains("record #2 of in.ndjson"), "{}", r.stderr);
        assert_eq!(r.written.len(), 1, "only the good record is written");
    }
    // A missing required field, too.
    let r = typed_run(&[r#"{"id": 1, "total": 1, "paid": true, "status": "open"}"#]);
    assert!(r.stderr.contains("field `qty` is missing"), "{}", r.stderr);
}

#[test]
fn fields_the_flow_does_not_read_are_not_validated() {
    // `unused` and `note` are not read: their odd values cost nothing.
    let r = typed_run(&[
        r#"{"id": 1, "total": 1, "paid": false, "status": "open", "qty": 0, "unused": "x", "note": 7}"#,
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.written,
        vec![r#"{"Id":1,"Total":1,"Paid":false,"Status":"open","Qty":0}"#]
    );
}

#[test]
fn a_string_that_is_no_date_is_not_written_to_a_typed_date_field() {
    let flow = "schema out { D: date }\nflow f {\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\") as out\n  d -> D\n}\n";
    let r = ran(
        "run",
        flow,
        "{\"d\": \"2026-02-30\"}\n{\"d\": \"hello\"}\n{\"d\": \"2024-02-29\"}\n",
    );
    assert_eq!(r.code, Some(1));
    assert_code(&r, "E0908");
    assert!(
        r.stderr
            .contains("must be a calendar date (YYYY-MM-DD), got \"2026-02-30\""),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("got \"hello\""), "{}", r.stderr);
    assert_eq!(r.written, vec![r#"{"D":"2024-02-29"}"#]);
}

// -------------------------------------------------------- strict input

#[test]
fn a_key_twice_in_one_object_fails_the_record_naming_the_key() {
    let r = ran(
        "run",
        &untyped("total"),
        "{\"total\": 5.00, \"total\": 700.00}\n{\"total\": 5.00}\n",
    );
    assert_eq!(r.code, Some(1));
    assert_code(&r, "E0906");
    assert!(
        r.stderr.contains(r#"the key "total" appears twice"#),
        "{}",
        r.stderr
    );
    assert_eq!(r.written, vec![r#"{"X":5.00}"#]);
    // Also a key the flow never reads.
    let r = ran(
        "run",
        &untyped("total"),
        "{\"total\": 1, \"x\": 1, \"x\": 2}\n",
    );
    assert!(
        r.stderr.contains(r#"the key "x" appears twice"#),
        "{}",
        r.stderr
    );
}

#[test]
fn lines_that_are_not_objects_fail_with_their_line_number() {
    let r = ran(
        "run",
        &untyped("a ?? \"fallback\""),
        "[1,2]\n42\nnull\n\"text\"\n{\"a\": \"ok\"}\n",
    );
    assert_eq!(r.code, Some(1));
    for (line, what) in [
        (1, "an array"),
        (2, "the int 42"),
        (3, "null"),
        (4, "the string \"text\""),
    ] {
        let want = format!("record #{line} of in.ndjson: line {line} is {what}, not a JSON object");
        assert!(r.stderr.contains(&want), "want {want}\n{}", r.stderr);
    }
    assert_eq!(
        r.written,
        vec![r#"{"X":"ok"}"#],
        "no fallback values written"
    );
}

#[test]
fn numbers_too_long_to_hold_exactly_fail_only_when_computed_with() {
    let long = "0.12345678901234567890123456789012345";
    let input = format!("{{\"id\": 1, \"n\": {long}}}\n");
    // Never read: fine.
    let r = ran("run", &untyped("id"), &input);
    assert_eq!(r.written, vec![r#"{"X":1}"#], "{}", r.stderr);
    // Copied: written back exactly as it came.
    let r = ran("run", &untyped("n"), &input);
    assert_eq!(r.written, vec![format!("{{\"X\":{long}}}")], "{}", r.stderr);
    // Computed with: that record fails, with the number named.
    let r = ran("run", &untyped("n + 1"), &input);
    assert_code(&r, "E0907");
    assert!(r.stderr.contains(long), "{}", r.stderr);
}

#[test]
fn negative_zero_is_written_as_zero() {
    let r = ran(
        "run",
        "flow f {\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\")\n  a * -1 -> A\n  \"{a * -1}\" -> B\n  -a -> C\n  round(-0.001, 2) -> D\n  b -> E\n}\n",
        "{\"a\": 0.00, \"b\": -0.0}\n",
    );
    assert_eq!(
        r.written,
        vec![r#"{"A":0,"B":"0","C":0.00,"D":0.00,"E":0.0}"#],
        "{}",
        r.stderr
    );
}

// ------------------------------------------------------------- equality

#[test]
fn table_keys_compare_by_value_like_eq() {
    let flow = "table by_rate { 21 => \"high\"  9 => \"low\"  \"1\" => \"text one\"  _ => \"default\" }\n\
                flow f {\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\")\n  by_rate[r] -> V\n  r == 21 -> Eq\n}\n";
    let r = ran(
        "run",
        flow,
        "{\"r\": 21}\n{\"r\": 21.0}\n{\"r\": 21.00}\n{\"r\": 1}\n{\"r\": \"1\"}\n{\"r\": \"21\"}\n",
    );
    assert_eq!(
        r.written,
        vec![
            r#"{"V":"high","Eq":true}"#,
            r#"{"V":"high","Eq":true}"#,
            r#"{"V":"high","Eq":true}"#,
            r#"{"V":"default","Eq":false}"#,
            r#"{"V":"text one","Eq":false}"#,
            r#"{"V":"default","Eq":false}"#,
        ],
        "{}",
        r.stderr
    );
}

#[test]
fn a_table_whose_keys_collide_by_value_is_a_check_error() {
    let flow = "table vat { 21 => \"A\"  21.0 => \"B\" }\n";
    let r = ran("check", flow, "");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_code(&r, "E0005");
    assert!(
        r.stderr
            .contains("keys 21 and 21.0 of table `vat` are the same key"),
        "{}",
        r.stderr
    );
}

#[test]
fn in_and_unique_use_the_same_equality() {
    let r = ran(
        "run",
        "flow f {\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\")\n  21.0 in [21] -> A\n  1 in [\"1\"] -> B\n  unique([1, 1.0, \"1\", 1.00]) -> C\n  @2024-01-31 in [\"2024-01-31\"] -> D\n}\n",
        "{}\n",
    );
    assert_eq!(
        r.written,
        vec![r#"{"A":true,"B":false,"C":[1,"1"],"D":true}"#],
        "{}",
        r.stderr
    );
}

// -------------------------------------------------------------- rounding

#[test]
fn arithmetic_that_would_need_more_than_28_digits_fails_instead_of_rounding() {
    let r = ran(
        "run",
        &untyped("n + 0.000001"),
        "{\"n\": 98765432109876543210987}\n{\"n\": 12345678901234567890123}\n",
    );
    assert_code(&r, "E0904");
    assert!(r.stderr.contains("record #1"), "{}", r.stderr);
    assert_eq!(r.written, vec![r#"{"X":12345678901234567890123.000001}"#]);
    let r = ran(
        "run",
        &untyped("n * 1.000000001"),
        "{\"n\": 98765432109876543210987}\n",
    );
    assert_code(&r, "E0904");
    let r = ran(
        "run",
        &untyped("sum([n, 0.000001])"),
        "{\"n\": 98765432109876543210987}\n",
    );
    assert_code(&r, "E0905");
    assert!(r.written.is_empty());
}

#[test]
fn round_always_returns_exactly_the_places_asked_for() {
    let r = ran(
        "run",
        &untyped("round(n, 6)"),
        "{\"n\": 98765432109876543210987.5}\n{\"n\": 2.5}\n{\"n\": 1234567890123456789012.5}\n",
    );
    assert_code(&r, "E0905");
    assert!(r.stderr.contains("cannot have 6 decimals"), "{}", r.stderr);
    assert_eq!(
        r.written,
        vec![
            r#"{"X":2.500000}"#,
            r#"{"X":1234567890123456789012.500000}"#
        ],
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------- length units

const UTF16_TARGET: &str = "schema customer length utf16 { Name: string(10)  Len: int }\n";

#[test]
fn truncate_counts_the_way_the_target_does_and_never_splits_a_character() {
    // 9 letters and an emoji: 10 characters, 11 UTF-16 code units.
    let flow = format!(
        "{UTF16_TARGET}flow f {{\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\") as customer\n  (name ?? \"\") | truncate(10) -> Name\n  length(name ?? \"\") -> Len\n}}\n"
    );
    let r = ran(
        "run",
        &flow,
        "{\"name\": \"Bakkerij 😀\"}\n{\"name\": \"Bakker 👩‍👩‍👧‍👦 x\"}\n{\"name\": \"Cafe\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\"}\n",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.written,
        vec![
            // The emoji does not fit in the 10th unit: it is left out whole.
            r#"{"Name":"Bakkerij ","Len":11}"#,
            // The family emoji (a ZWJ sequence of 11 units) is one character to a reader.
            r#"{"Name":"Bakker ","Len":20}"#,
            // A letter with its accents stays together.
            r#"{"Name":"Caf","Len":11}"#,
        ],
    );
    // A schema without `length utf16` counts characters.
    let r = ran(
        "run",
        &flow.replace(" length utf16", ""),
        "{\"name\": \"Bakkerij 😀\"}\n",
    );
    assert_eq!(
        r.written,
        vec![r#"{"Name":"Bakkerij 😀","Len":10}"#],
        "{}",
        r.stderr
    );
}

#[test]
fn string_limits_of_a_utf16_schema_are_checked_in_utf16_units() {
    let flow = format!(
        "{UTF16_TARGET}flow f {{\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\") as customer\n  name -> Name\n  1 -> Len\n}}\n"
    );
    let r = ran(
        "run",
        &flow,
        "{\"name\": \"Bakkerij 😀\"}\n{\"name\": \"Bakkerij 1\"}\n",
    );
    assert_code(&r, "E0908");
    assert!(
        r.stderr
            .contains("`Name` is 11 UTF-16 code units long, the maximum is 10"),
        "{}",
        r.stderr
    );
    assert_eq!(r.written, vec![r#"{"Name":"Bakkerij 1","Len":1}"#]);
    // The checker knows a 10-character string may be 20 units long.
    let typed = flow.replace(
        "  source file(\"in.ndjson\")",
        "  source file(\"in.ndjson\") as order",
    );
    let r = ran(
        "check",
        &format!("schema order {{ name: string(10) }}\n{typed}"),
        "",
    );
    assert_code(&r, "E0205");
    assert!(r.stderr.contains("may be up to 20 UTF-16"), "{}", r.stderr);
}

#[test]
fn a_datetime_onto_a_date_field_needs_an_explicit_conversion() {
    let flow = "schema order { created: datetime }\nschema invoice { D: date }\nflow f {\n  source file(\"in.ndjson\") as order\n  target file(\"out.ndjson\") as invoice\n  created -> D\n}\n";
    let r = ran("check", flow, "");
    assert_code(&r, "E0201");
    assert!(r.stderr.contains("date(x)"), "{}", r.stderr);
    let fixed = flow.replace("created -> D", "date(created) -> D");
    let r = ran(
        "run",
        &fixed,
        "{\"created\": \"2024-03-01T23:30:00+01:00\"}\n",
    );
    assert_eq!(r.written, vec![r#"{"D":"2024-03-01"}"#], "{}", r.stderr);
}

// ------------------------------------------------------------ check holes

#[test]
fn a_record_and_a_field_inside_it_both_mapped_is_e0304() {
    let flow = "flow f {\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\")\n  {City: \"Delft\"} -> Addr\n  \"Utrecht\" -> Addr.City\n}\n";
    let r = ran("check", flow, "");
    assert_code(&r, "E0304");
    assert!(
        r.stderr.contains("`Addr` and `Addr.City` are both mapped"),
        "{}",
        r.stderr
    );
    // In either order, and in on create against a common mapping.
    let r = ran(
        "check",
        &flow.replace(
            "  {City: \"Delft\"} -> Addr\n  \"Utrecht\" -> Addr.City\n",
            "  \"Utrecht\" -> Addr.City\n  on create { {City: \"Delft\"} -> Addr }\n",
        ),
        "",
    );
    assert_code(&r, "E0304");
}

#[test]
fn checking_many_mappings_stays_linear() {
    // The overlap check of E0304 looks paths up, it does not scan them all.
    let time = |n: usize| {
        let body: String = (0..n).map(|i| format!("  a{i} -> F{i}.G\n")).collect();
        let flow = format!(
            "flow f {{\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\")\n{body}}}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.flow"), &flow).unwrap();
        let started = std::time::Instant::now();
        let out = flowc(dir.path(), &["check", "f.flow"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed().as_secs_f64()
    };
    let (small, large) = (time(2500), time(10000));
    assert!(
        large < small * 8.0 + 0.3,
        "2500: {small:.2} s, 10000: {large:.2} s"
    );
}

#[test]
fn checking_a_schema_with_many_fields_stays_linear() {
    let time = |n: usize| {
        let fields: String = (0..n).map(|i| format!("  f{i}: string(10)?\n")).collect();
        let flow = format!(
            "schema s {{\n{fields}}}\nflow f {{\n  source file(\"in.ndjson\") as s\n  target file(\"out.ndjson\")\n  f1 -> A\n}}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.flow"), &flow).unwrap();
        let started = std::time::Instant::now();
        let out = flowc(dir.path(), &["check", "f.flow"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed().as_secs_f64()
    };
    let (small, large) = (time(2500), time(10000));
    assert!(
        large < small * 8.0 + 0.3,
        "2500: {small:.2} s, 10000: {large:.2} s"
    );
}

#[test]
fn a_secret_is_masked_in_every_excerpt() {
    let flow = "connection books {\n  connector \"eaccounting\"\n  client_id \"x\" client_secret \"s3cr3t-value\" bogus 1\n}\n";
    for format in [None, Some("json")] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.flow"), flow).unwrap();
        let mut args = vec!["check", "f.flow"];
        if let Some(f) = format {
            args.extend(["--format", f]);
        }
        let out = flowc(dir.path(), &args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("E0401"), "{all}");
        assert!(
            all.contains("E0402"),
            "the other report on that line: {all}"
        );
        assert!(!all.contains("s3cr3t"), "the secret leaks: {all}");
    }
}

#[test]
fn no_unused_warning_follows_an_error_that_stopped_a_flow() {
    let flow = "table acc { \"NL\" => 1  _ => 2 }\nflow f {\n  source file(\"in.ndjson\") as nosuch\n  target file(\"out.ndjson\")\n  acc[c] -> A\n}\n";
    let r = ran("check", flow, "");
    assert_code(&r, "E0106");
    assert!(!r.stderr.contains("W0001"), "{}", r.stderr);
    // Without the error, an unused table is still reported.
    let r = ran(
        "check",
        &flow.replace(" as nosuch", "").replace("acc[c]", "c"),
        "",
    );
    assert!(r.stderr.contains("W0001"), "{}", r.stderr);
}

#[test]
fn to_number_refuses_separators_that_could_mean_two_numbers() {
    let r = ran(
        "run",
        &untyped("to_number(s)"),
        "{\"s\": \"1,234\"}\n{\"s\": \"12,50\"}\n",
    );
    assert_code(&r, "E0905");
    assert!(r.stderr.contains("\"1,234\" is ambiguous"), "{}", r.stderr);
    assert_eq!(r.written, vec![r#"{"X":12.50}"#]);
    let r = ran(
        "run",
        &untyped("to_number(s, \"1,234.56\")"),
        "{\"s\": \"1,234\"}\n{\"s\": \"1,234,567.5\"}\n",
    );
    assert_eq!(
        r.written,
        vec![r#"{"X":1234}"#, r#"{"X":1234567.5}"#],
        "{}",
        r.stderr
    );
}

// ------------------------------------------------------- text from Windows

#[test]
fn a_byte_order_mark_and_crlf_line_ends_are_read_as_text() {
    let flow = "\u{feff}flow f {\r\n  source file(\"in.ndjson\")\r\n  target file(\"out.ndjson\")\r\n  a -> A\r\n}\r\n";
    let r = ran("run", flow, "\u{feff}{\"a\": 1}\r\n{\"a\": 2}\r\n");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.written, [r#"{"A":1}"#, r#"{"A":2}"#]);

    // A JSON array file and a JSON table file with a mark, too.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("f.flow"),
        "table codes from \"codes.json\"\nflow f {\n  source file(\"in.json\")\n  target file(\"out.ndjson\")\n  codes[a] -> A\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("in.json"), "\u{feff}[{\"a\": \"NL\"}]").unwrap();
    std::fs::write(dir.path().join("codes.json"), "\u{feff}{\"NL\": \"1200\"}").unwrap();
    let out = flowc(dir.path(), &["run", "f.flow"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let written = std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap();
    assert_eq!(written, "{\"A\":\"1200\"}\n");
}

#[test]
fn a_flow_file_that_is_not_utf8_says_where() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("f.flow"),
        b"flow f {\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\")\n  \"Caf\xE9\" -> Name\n}\n",
    )
    .unwrap();
    for command in ["check", "fmt", "run"] {
        let out = flowc(dir.path(), &[command, "f.flow"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("E0010")
                && stderr.contains("not UTF-8 text (byte 0xE9 at line 4, column 7)"),
            "{command}: {stderr}"
        );
    }
}
