//! What can go wrong, how it is told to the user (translated, on stderr) and the exit code.

use crate::i18n::error_sentence;
use joint_wire::{ClientError, ErrorBody, ErrorCode};
use rust_i18n::t;
use std::io;
use std::process::ExitCode;

/// Exit code of a usage error (bad arguments or input).
pub const EXIT_USAGE: u8 = 1;
/// Exit code of a request the broker refused.
pub const EXIT_REFUSED: u8 = 2;
/// Exit code when no broker could be reached or the connection was lost.
pub const EXIT_CONNECTION: u8 = 3;

/// A failure of a command.
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments or input; the sentence is already translated.
    Usage(String),
    /// A local failure (a file, the terminal); the sentence is already translated.
    Local(String),
    /// The broker refused the request.
    Refused(ErrorBody),
    /// A refusal `joint` concludes on its own, with no broker reply behind it: no saved
    /// session, or an event said the group or the session is gone.
    Denied(ErrorCode),
    /// No broker could be reached (the detail is the OS's reason).
    Connect(String),
    /// The connection dropped before the command finished.
    Lost,
    /// stdout was closed by its reader: stop quietly.
    ClosedPipe,
}

impl CliError {
    /// The exit code of this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Local(_) => EXIT_USAGE,
            CliError::Refused(_) | CliError::Denied(_) => EXIT_REFUSED,
            CliError::Connect(_) | CliError::Lost => EXIT_CONNECTION,
            CliError::ClosedPipe => 0,
        }
    }

    /// A short code (an error code, or `usage`, `local`, `connect`, `connection_lost`) and
    /// the translated sentence.
    pub fn describe(&self) -> (String, String) {
        match self {
            CliError::ClosedPipe => ("closed_pipe".to_string(), String::new()),
            CliError::Usage(text) => ("usage".to_string(), text.clone()),
            CliError::Local(text) => ("local".to_string(), text.clone()),
            CliError::Refused(body) => (body.code.to_string(), refusal(body)),
            CliError::Denied(code) => (code.to_string(), error_sentence(*code)),
            CliError::Connect(detail) => ("connect".to_string(), t!("cli.err.connect", detail = detail).to_string()),
            CliError::Lost => ("connection_lost".to_string(), t!("cli.err.lost").to_string()),
        }
    }

    /// Prints the failure on stderr (one JSON object with `--json`) and gives the exit code.
    /// In JSON a broker's refusal carries the broker's error under `broker`; a refusal
    /// `joint` concluded itself says `"local": true` instead.
    pub fn report(&self, json: bool) -> ExitCode {
        if let CliError::ClosedPipe = self {
            return ExitCode::SUCCESS;
        }
        let (code, sentence) = self.describe();
        if json {
            let mut object = serde_json::json!({ "error": { "code": code, "message": sentence } });
            match self {
                CliError::Refused(body) => object["error"]["broker"] = serde_json::to_value(body).unwrap_or_default(),
                CliError::Denied(_) => object["error"]["local"] = serde_json::Value::Bool(true),
                _ => {}
            }
            eprintln!("{object}");
        } else {
            eprintln!("joint: {code}: {sentence}");
        }
        ExitCode::from(self.exit_code())
    }
}

/// The translated sentence for a broker's refusal, with the field, logins and wait it names.
fn refusal(body: &ErrorBody) -> String {
    let mut text = error_sentence(body.code);
    if let Some(field) = &body.field {
        text.push_str(&format!(" ({})", t!("cli.err.field", field = field)));
    }
    if let Some(logins) = &body.logins {
        text.push_str(&format!(" ({})", t!("cli.err.logins", logins = logins.join(", "))));
    }
    if let Some(ms) = body.retry_after_ms {
        text.push_str(&format!(" ({})", t!("cli.err.retry_after", seconds = ms.div_ceil(1000))));
    }
    text
}

impl From<ClientError> for CliError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::Broker(body) => CliError::Refused(body),
            ClientError::Connect(detail) => CliError::Connect(detail),
            ClientError::Disconnected | ClientError::Closed => CliError::Lost,
            ClientError::Protocol(detail) => CliError::Local(t!("cli.err.protocol", detail = detail).to_string()),
            ClientError::RequestTooLarge { .. } => CliError::Local(t!("error.body_too_large").to_string()),
        }
    }
}

impl From<io::Error> for CliError {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            CliError::ClosedPipe
        } else {
            CliError::Local(t!("cli.err.io", detail = err.to_string()).to_string())
        }
    }
}

/// The result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
