//! Reading passwords: from the terminal without echo, or from stdin with `--password-stdin`.
//! No flag ever takes a password.

use crate::error::{CliError, CliResult};
use rust_i18n::t;
use std::io::BufRead;

/// Where passwords come from for one command.
pub struct Passwords {
    stdin: Option<std::io::Lines<std::io::StdinLock<'static>>>,
}

impl Passwords {
    /// Passwords from stdin (one per line) when `from_stdin`, else from the terminal.
    pub fn new(from_stdin: bool) -> Self {
        Passwords { stdin: from_stdin.then(|| std::io::stdin().lock().lines()) }
    }

    /// The next password, prompting with `prompt` on the terminal.
    pub fn read(&mut self, prompt: &str) -> CliResult<String> {
        match &mut self.stdin {
            Some(lines) => match lines.next() {
                Some(line) => Ok(line?.trim_end_matches('\r').to_owned()),
                None => Err(CliError::Usage(t!("cli.err.no_password").to_string())),
            },
            None => rpassword::prompt_password(format!("{prompt}: "))
                .map_err(|err| CliError::Usage(t!("cli.err.no_terminal", detail = err.to_string()).to_string())),
        }
    }

    /// A new password: on a terminal it is asked twice and must match.
    pub fn read_new(&mut self) -> CliResult<String> {
        let first = self.read(&t!("cli.prompt.new_password"))?;
        if self.stdin.is_none() && self.read(&t!("cli.prompt.repeat_password"))? != first {
            return Err(CliError::Usage(t!("cli.err.passwords_differ").to_string()));
        }
        Ok(first)
    }
}
