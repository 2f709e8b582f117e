//! `flowc test`: the in-language tests of every file.

use std::path::PathBuf;

use super::{collect_flow_files, print_diagnostics, print_plain};
use crate::diag::{codes, Diagnostic};

pub(crate) fn run(paths: &[PathBuf]) -> u8 {
    let files = match collect_flow_files(paths) {
        Ok(f) => f,
        Err(e) => {
            print_plain(
                &Diagnostic::new(&codes::E0010, e)
                    .help("pass .flow files or folders that contain them"),
            );
            return 2;
        }
    };
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    for file in &files {
        let checked = match crate::check::check_path(file) {
            Ok(c) => c,
            Err(d) => {
                print_plain(&d);
                return 2;
            }
        };
        if checked.has_errors() {
            print_diagnostics(&checked.diagnostics, &checked.sources);
            broken += 1;
            continue;
        }
        for result in crate::engine::expect::run_tests(&checked.program) {
            match result.failure {
                None => {
                    passed += 1;
                    println!("ok   {} :: {}", file.display(), result.name);
                }
                Some(why) => {
                    failed += 1;
                    println!(
                        "FAIL {} :: {}\n  {}",
                        file.display(),
                        result.name,
                        why.replace('\n', "\n  ")
                    );
                }
            }
        }
    }
    if broken > 0 {
        println!(
            "{broken} file{} did not check; fix the errors above first",
            if broken == 1 { "" } else { "s" }
        );
    }
    println!("{passed} passed, {failed} failed");
    u8::from(failed > 0 || broken > 0)
}
