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
    let small = time(500);
    let large = time(1000);
    assert!(large.as_secs_f64() < 2.0, "1000 terms took {large:?}");
    assert!(
        large.as_secs_f64() < small.as_secs_f64() * 3.0 + 0.2,
        "500 terms {small:?}, 1000 terms {large:?}"
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
