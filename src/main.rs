use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A closed stdout (e.g. `| head`) is not an error worth a panic message.
    let cli = match recdata::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    ExitCode::from(recdata::cli::run(cli))
}
