//! Golden tests of `flowc run`, `flowc test` and `flowc check` on the
//! shipped example, through the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn flowc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowc"));
    c.env("NO_COLOR", "1");
    c
}

fn example_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/orders-to-invoices");
    for name in ["orders.flow", "orders.ndjson"] {
        std::fs::copy(src.join(name), dir.path().join(name)).unwrap();
    }
    dir
}

fn expected(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/orders-to-invoices/expected")
            .join(name),
    )
    .unwrap()
}

/// Throughput differs per run; everything else in the output must not.
fn redact_rate(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        match line.find(" records/s)") {
            Some(end) => {
                let start = line[..end].rfind('(').unwrap_or(end);
                out.push_str(&format!("{}(N{}\n", &line[..start], &line[end..]));
            }
            None => out.push_str(&format!("{line}\n")),
        }
    }
    out
}

#[test]
fn example_runs_and_matches_the_golden_output() {
    let dir = example_copy();
    let out = flowc()
        .arg("run")
        .arg("orders.flow")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(dir.path().join("out/invoices.ndjson")).unwrap();
    let golden = expected("invoices.ndjson");
    let golden_clean: Vec<&str> = golden.lines().collect();
    assert_eq!(written.lines().collect::<Vec<_>>(), golden_clean);
    assert_eq!(
        redact_rate(&String::from_utf8_lossy(&out.stdout)),
        "flow invoices: read 4, written 3, skipped by filter 1, failed 0 (N records/s)\n"
    );
}

#[test]
fn decimals_are_exact_and_big_ids_round_trip() {
    let dir = example_copy();
    std::fs::write(dir.path().join("orders.ndjson"), "").unwrap();
    let flow = r#"
flow exact {
  source file("in.ndjson")
  target file("out.ndjson")
  a + b -> Sum
  id    -> Id
  price * 3 -> Triple
}
"#;
    std::fs::write(dir.path().join("exact.flow"), flow).unwrap();
    std::fs::write(
        dir.path().join("in.ndjson"),
        "{\"a\":0.1,\"b\":0.2,\"id\":1234567890123456789,\"price\":19.99}\n{\"a\":1,\"b\":2,\"id\":99999999999999999999999999999999,\"price\":0.333}\n",
    )
    .unwrap();
    let out = flowc()
        .args(["run", "exact.flow"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap();
    assert_eq!(
        written,
        "{\"Sum\":0.3,\"Id\":1234567890123456789,\"Triple\":59.97}\n{\"Sum\":3,\"Id\":99999999999999999999999999999999,\"Triple\":0.999}\n"
    );
}

#[test]
fn bad_records_fail_alone_and_are_explained() {
    let dir = example_copy();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/orders-with-bad-records.ndjson");
    std::fs::copy(fixture, dir.path().join("orders.ndjson")).unwrap();
    let out = flowc()
        .args(["run", "orders.flow"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "some records failed: exit 1");
    let written = std::fs::read_to_string(dir.path().join("out/invoices.ndjson")).unwrap();
    assert_eq!(
        written.lines().count(),
        3,
        "the good records are still written"
    );
    let report = format!(
        "stdout:\n{}\nstderr:\n{}",
        redact_rate(&String::from_utf8_lossy(&out.stdout)),
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!(report);
}

#[test]
fn example_tests_pass_and_check_is_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = flowc()
        .args(["test", "examples"])
        .current_dir(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
    let out = flowc()
        .args(["check", "examples"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 errors, 0 warnings"));
}

#[test]
fn a_failing_test_block_shows_a_diff() {
    let dir = example_copy();
    let flow = std::fs::read_to_string(dir.path().join("orders.flow"))
        .unwrap()
        .replace("Total: 24.20", "Total: 24.21");
    std::fs::write(dir.path().join("orders.flow"), flow).unwrap();
    let out = flowc()
        .args(["test", "orders.flow"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let minus = stdout
        .find("-   \"Total\": 24.21,")
        .expect("the expected line is marked -");
    let plus = stdout
        .find("+   \"Total\": 24.20,")
        .expect("the actual line is marked +");
    assert!(minus < plus, "{stdout}");
    assert!(stdout.contains("1 passed, 1 failed"));
}

#[test]
fn usage_errors_exit_2() {
    let out = flowc()
        .args(["check", "does/not/exist.flow"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E0010"));
    let out = flowc().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_shipped_flows_check_clean_and_their_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for args in [
        vec!["check", "--deny-warnings", "flows"],
        vec!["test", "flows"],
    ] {
        let out = flowc().args(&args).current_dir(root).output().unwrap();
        assert!(
            out.status.success(),
            "flowc {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_shipped_flow_is_formatted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec!["examples", "stdlib"];
    if root.join("flows").is_dir() {
        dirs.push("flows");
    }
    let out = flowc()
        .arg("fmt")
        .arg("--check")
        .args(&dirs)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fmt_rewrites_a_messy_file_and_keeps_comments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("messy.flow");
    std::fs::write(
        &path,
        "# settings\nlet   vat=21 # percent\ntable t {\"NL\"=>1\n\"BELGIUM\"=>2 _=>3}\n",
    )
    .unwrap();
    let out = flowc()
        .args(["fmt", "messy.flow"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let formatted = std::fs::read_to_string(&path).unwrap();
    assert_eq!(formatted, "# settings\nlet vat = 21  # percent\n\ntable t {\n  \"NL\"      => 1\n  \"BELGIUM\" => 2\n  _         => 3\n}\n");
    let out = flowc()
        .args(["fmt", "--check", "messy.flow"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "formatting is idempotent");
}

#[test]
fn a_failing_write_stops_the_run_with_a_diagnostic() {
    // /dev/full accepts the open and fails every write: the run must stop
    // with an I/O diagnostic, not hang or panic, however many threads read.
    if !Path::new("/dev/full").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for i in 0..5000 {
        lines.push_str(&format!("{{\"id\":{i},\"x\":\"{}\"}}\n", "y".repeat(100)));
    }
    std::fs::write(dir.path().join("in.ndjson"), lines).unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.path().join("out.ndjson")).unwrap();
    std::fs::write(dir.path().join("full.flow"), "flow f {\n  source file(\"in.ndjson\")\n  target file(\"out.ndjson\")\n  id -> Id\n  x  -> X\n}\n").unwrap();
    let out = flowc()
        .args(["run", "full.flow"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("E0010"));
}

#[test]
fn plan_of_a_file_flow_lists_what_run_writes_and_writes_nothing() {
    let dir = example_copy();
    let out = flowc()
        .args(["plan", "orders.flow"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dir.path().join("out").exists(),
        "a plan writes no output file"
    );
    assert!(
        !dir.path().join(".flowc").exists(),
        "file flows keep no state"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let creates = stdout.lines().filter(|l| l.starts_with("create")).count();
    let skips = stdout.lines().filter(|l| l.starts_with("skip")).count();
    assert_eq!((creates, skips), (3, 1), "{stdout}");
    // The run then writes exactly the planned records.
    let run = flowc()
        .args(["run", "orders.flow"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(run.status.success());
    let written = std::fs::read_to_string(dir.path().join("out/invoices.ndjson")).unwrap();
    assert_eq!(written.lines().count(), creates);
}

/// The README's first command, from a folder that holds no flows: both
/// emulators come from the connector registry, every built-in flow (orders
/// and the catalog flows) runs twice on the demo shop, a table shows what
/// each did, the rerun writes nothing and counts only its own calls,
/// and every document in eAccounting adds up to its order's total.
#[test]
fn the_sandbox_runs_every_shipped_flow_twice_and_the_rerun_writes_nothing() {
    let elsewhere = tempfile::tempdir().unwrap();
    let out = flowc()
        .args(["sandbox"])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("sandbox: CCV Shop emulator at http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sandbox: eAccounting emulator at http://127.0.0.1:"),
        "{stdout}"
    );
    // Every shipped flow runs twice, in the shipped order; no rerun writes.
    let flows = [
        "orders",
        "customers",
        "products",
        "stock",
        "products_to_ccvshop",
    ];
    let summaries: Vec<&str> = stdout.lines().filter(|l| l.starts_with("flow ")).collect();
    assert_eq!(summaries.len(), 2 * flows.len(), "{stdout}");
    for (i, line) in summaries.iter().enumerate() {
        let name = flows[i % flows.len()];
        assert!(line.starts_with(&format!("flow {name}: ")), "{stdout}");
        assert!(line.contains("failed 0"), "{line}");
        if i >= flows.len() {
            assert!(line.contains("created 0, updated 0"), "{line}");
        }
    }
    let calls: Vec<u64> = stdout
        .lines()
        .filter_map(|l| l.trim().split_once(" API calls")?.0.parse().ok())
        .collect();
    assert_eq!(calls.len(), summaries.len(), "per-run calls: {calls:?}");
    let (first, rerun) = calls.split_at(flows.len());
    assert!(
        first.iter().zip(rerun).all(|(a, b)| b < a),
        "per-run calls: {calls:?}"
    );
    // The table of what each flow did: a row per flow, the rerun's cell
    // naming no write.
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| *l != "What each flow did:")
        .skip(2)
        .take(flows.len())
        .collect();
    for (row, name) in table.iter().zip(flows) {
        let cells: Vec<&str> = row.trim().split("  ").filter(|c| !c.is_empty()).collect();
        assert_eq!(cells.len(), 3, "{row}");
        assert_eq!(cells[0].trim(), name, "{row}");
        assert!(cells[1].contains("read:"), "{row}");
        assert!(
            !cells[2].contains("created") && !cells[2].contains("updated"),
            "{row}"
        );
    }
    assert!(stdout.contains("eAccounting now holds"), "{stdout}");
    let documents: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("invoice draft"))
        .collect();
    assert_eq!(documents.len(), 13, "{stdout}");
    assert!(documents.iter().all(|l| l.ends_with('✓')), "{stdout}");
}
