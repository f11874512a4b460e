//! The broker's one error type and its mapping to the contract's codes.

use joint_wire::{ErrorBody, ErrorCode};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A refusal the contract defines (`no_such_group`, `login_taken`, …), sent as is.
    #[error("{0}")]
    Refused(ErrorBody),
    /// PostgreSQL is down, restarting, unreachable or too slow.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Too many password hashes are already waiting.
    #[error("password hashing is saturated")]
    HasherBusy,
    /// A bug or an unexpected database answer; the client gets a fixed sentence.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl BrokerError {
    /// A refusal with a code and a message.
    pub fn refused(code: ErrorCode, msg: impl Into<String>) -> BrokerError {
        BrokerError::Refused(ErrorBody::new(code, msg))
    }

    /// The error object sent to the client. Causes of `unavailable` and `internal` go to
    /// the log, never to the client: they may hold SQL or paths.
    pub fn to_body(&self) -> ErrorBody {
        match self {
            BrokerError::Refused(body) => body.clone(),
            BrokerError::Unavailable(cause) => {
                tracing::warn!(error = %format!("{cause:#}"), "request failed: database unavailable");
                ErrorBody::new(ErrorCode::Unavailable, "the broker's database is unavailable; try again shortly")
            }
            BrokerError::HasherBusy => {
                ErrorBody::new(ErrorCode::Unavailable, "the broker is busy checking passwords; try again shortly")
            }
            BrokerError::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "request failed: internal error");
                ErrorBody::new(ErrorCode::Internal, "the broker failed to carry out the request")
            }
        }
    }
}

impl From<ErrorBody> for BrokerError {
    fn from(body: ErrorBody) -> Self {
        BrokerError::Refused(body)
    }
}
