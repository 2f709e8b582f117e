//! `flowc test`: the in-language tests of every file.

use std::path::PathBuf;

use super::{flow_files_or_exit, print_diagnostics, print_plain};

pub(crate) fn run(paths: &[PathBuf]) -> u8 {
    let files = match flow_files_or_exit(paths) {
        Ok(f) => f,
        Err(code) => return code,
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
