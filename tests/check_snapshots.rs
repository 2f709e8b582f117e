//! `flowc check` on every deliberately broken flow in `tests/check/`, as the
//! user sees it: the real binary, no colour, paths relative to the repo root.
//! Each file is named after the code it demonstrates (`E0204-….flow`) and
//! starts with a `#` comment saying what it shows. Review changed snapshots
//! with `cargo insta review`, or regenerate with
//! `INSTA_UPDATE=always cargo test --test check_snapshots`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Codes `flowc check` can never print, with the reason.
const NOT_CHECK_TIME: &[(&str, &str)] = &[
    // Run time: they describe one record, so only `flowc run` / `flowc test`
    // report them. docs/errors/E09xx.md show them as `flowc run` prints them.
    ("E0901", "run time"),
    ("E0902", "run time"),
    ("E0903", "run time"),
    ("E0904", "run time"),
    ("E0905", "run time"),
    ("E0906", "run time"),
    ("E0907", "run time"),
    ("E0908", "run time"),
    ("E0909", "run time"),
    ("E0910", "run time"),
    // Setting up: `flowc init` and `flowc doctor` report them, never
    // `flowc check`; tests/setup.rs and the unit tests of src/setup show them.
    ("E0601", "flowc init"),
    ("E0602", "flowc init"),
    ("E0603", "flowc doctor"),
    ("E0604", "flowc doctor"),
    ("E0605", "flowc doctor"),
    ("E0606", "flowc doctor"),
    ("E0607", "flowc doctor"),
];

/// Runs `flowc <args>` in the repo root: (stderr, stdout, exit code).
fn flowc(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("FLOWC_PATH")
        .current_dir(ROOT)
        .output()
        .expect("run flowc");
    let code = out.status.code().expect("flowc exited normally");
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        code,
    )
}

fn relative(path: &Path) -> String {
    path.strip_prefix(ROOT)
        .expect("inside the repo")
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn check_output() {
    insta::glob!("check/*.flow", |path| {
        let file = relative(path);
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let code = name.split('-').next().unwrap();
        assert!(
            text.starts_with(&format!("# {code}")),
            "{file} must start with a `# {code}: …` comment"
        );

        let (stderr, stdout, exit) = flowc(&["check", &file]);
        // The summary line is the last thing `check` prints.
        let errors = stderr.contains(" error") && !stderr.contains(": 0 errors");
        if errors {
            assert_eq!(exit, 1, "{file}: errors must exit 1\n{stderr}");
        } else {
            assert_eq!(exit, 0, "{file}: warnings only must exit 0\n{stderr}");
        }
        assert!(
            !stderr.contains("panicked"),
            "{file}: flowc panicked\n{stderr}"
        );
        insta::assert_snapshot!(format!("{stderr}{stdout}exit code: {exit}\n"));
    });
}

#[test]
fn check_output_as_json() {
    let (stderr, stdout, exit) = flowc(&[
        "check",
        "--format",
        "json",
        "tests/check/E0204-optional-into-required.flow",
    ]);
    assert_eq!(exit, 1);
    assert!(
        !stdout.contains(ROOT),
        "paths in JSON output must be relative"
    );
    insta::assert_snapshot!(format!("{stderr}{stdout}exit code: {exit}\n"));
}

/// The codes a snapshot shows: each diagnostic's report starts with a line
/// holding only its code.
fn codes_in(snapshot: &str) -> BTreeSet<String> {
    snapshot
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.len() == 5
                && (l.starts_with('E') || l.starts_with('W'))
                && l[1..].bytes().all(|b| b.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn snapshots_cover_every_check_time_code() {
    let snapshots = Path::new(ROOT).join("tests/snapshots");
    let mut seen = BTreeSet::new();
    let mut pointed = BTreeSet::new();
    for entry in std::fs::read_dir(&snapshots).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(flow) = name
            .strip_prefix("check_snapshots__check_output@")
            .and_then(|n| n.strip_suffix(".snap"))
        else {
            continue;
        };
        let codes = codes_in(&std::fs::read_to_string(&path).unwrap());
        // The file named after a code must show that code.
        let own = flow.split('-').next().unwrap().to_string();
        assert!(
            codes.contains(&own),
            "{name} is named after {own} but does not show it (shows {codes:?})"
        );
        pointed.insert(own);
        seen.extend(codes);
    }
    for code in flowc::diag::codes::ALL {
        if let Some((_, why)) = NOT_CHECK_TIME.iter().find(|(id, _)| *id == code.id) {
            assert!(
                !seen.contains(code.id),
                "{} is listed as {why} but a check snapshot shows it",
                code.id
            );
            continue;
        }
        assert!(
            pointed.contains(code.id),
            "no tests/check/{}-….flow demonstrates {} ({})",
            code.id,
            code.id,
            code.summary
        );
    }
    for (id, _) in NOT_CHECK_TIME {
        assert!(
            flowc::diag::codes::ALL.iter().any(|c| c.id == *id),
            "{id} is excluded but not registered"
        );
    }
}
