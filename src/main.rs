use std::process::ExitCode;

fn main() -> ExitCode {
    flowc::cli::main()
}
