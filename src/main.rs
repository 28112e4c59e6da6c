//! `distill` binary: parse arguments, run, print the error chain, exit
//! with a meaningful code (see README.md "Exit codes").

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let parsed = cli::Cli::parse();
    match cli::run(parsed) {
        Ok(()) => ExitCode::from(cli::exit::OK),
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                let text = s.to_string();
                if !msg.contains(&text) {
                    msg.push_str(&format!("\n  caused by: {text}"));
                }
                src = s.source();
            }
            eprintln!("{msg}");
            ExitCode::from(cli::exit_code(&e))
        }
    }
}
