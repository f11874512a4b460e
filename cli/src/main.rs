//! `joint`: the command-line client of Joint for people, group admins and protocol debugging.
//!
//! It speaks to brokers only through the `joint-wire` client library, never to PostgreSQL.
//! Exit codes: 0 success, 1 usage error, 2 refused by the broker, 3 could not connect or
//! connection lost.

mod args;
mod commands;
mod error;
mod frames;
mod i18n;
mod output;
mod password;
mod session;
mod terminal;
mod tokens;

use clap::{CommandFactory, FromArgMatches};
use rust_i18n::t;
use std::process::ExitCode;

rust_i18n::i18n!("../locales", fallback = "en");

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    i18n::select(&argv);
    let parsed = args::Cli::command().try_get_matches_from(&argv).and_then(|m| args::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version print to stdout and succeed; every other clap error is a usage error.
            let _ = err.print();
            return ExitCode::from(if err.exit_code() == 0 { 0 } else { error::EXIT_USAGE });
        }
    };
    let json = cli.json;
    if let Some(lang) = cli.lang.as_deref().filter(|lang| i18n::supported(lang).is_none()) {
        let sentence = t!("cli.err.unknown_lang", lang = lang, languages = i18n::LANGUAGES.join(", "));
        return error::CliError::Usage(sentence.into_owned()).report(json);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            return error::CliError::Local(t!("cli.err.io", detail = err.to_string()).into_owned()).report(json)
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => err.report(json),
    }
}
