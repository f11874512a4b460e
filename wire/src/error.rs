//! The contract's error codes (CONTRACT.md §10) and the error object of §2.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every error code of the contract. Clients translate by code, never by message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadFrame,
    FrameTooLarge,
    UnsupportedVersion,
    UnknownOp,
    InvalidArgument,
    Unauthenticated,
    AlreadyAuthenticated,
    BadCredentials,
    BadToken,
    RateLimited,
    LoginTaken,
    NoSuchGroup,
    GroupExists,
    UnknownUser,
    NotMember,
    NotAdmin,
    NotAllowed,
    AdminCannotLeave,
    BodyTooLarge,
    TooManyConnections,
    IdleTimeout,
    ShuttingDown,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// All codes, in the contract's order; tests iterate it to prove each one is covered.
    pub const ALL: [ErrorCode; 24] = [
        ErrorCode::BadFrame,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnsupportedVersion,
        ErrorCode::UnknownOp,
        ErrorCode::InvalidArgument,
        ErrorCode::Unauthenticated,
        ErrorCode::AlreadyAuthenticated,
        ErrorCode::BadCredentials,
        ErrorCode::BadToken,
        ErrorCode::RateLimited,
        ErrorCode::LoginTaken,
        ErrorCode::NoSuchGroup,
        ErrorCode::GroupExists,
        ErrorCode::UnknownUser,
        ErrorCode::NotMember,
        ErrorCode::NotAdmin,
        ErrorCode::NotAllowed,
        ErrorCode::AdminCannotLeave,
        ErrorCode::BodyTooLarge,
        ErrorCode::TooManyConnections,
        ErrorCode::IdleTimeout,
        ErrorCode::ShuttingDown,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::AlreadyAuthenticated => "already_authenticated",
            ErrorCode::BadCredentials => "bad_credentials",
            ErrorCode::BadToken => "bad_token",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::LoginTaken => "login_taken",
            ErrorCode::NoSuchGroup => "no_such_group",
            ErrorCode::GroupExists => "group_exists",
            ErrorCode::UnknownUser => "unknown_user",
            ErrorCode::NotMember => "not_member",
            ErrorCode::NotAdmin => "not_admin",
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::AdminCannotLeave => "admin_cannot_leave",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error object carried by error replies and connection errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, machine-readable.
    pub code: ErrorCode,
    /// An English sentence for logs and developers; clients show a translation of `code`.
    pub msg: String,
    /// The argument that was wrong, for `invalid_argument` and similar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The logins the error is about (`unknown_user`, `not_member`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logins: Option<Vec<String>>,
    /// How long to wait before trying again (`rate_limited`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    /// An error with a code and a message only.
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        ErrorBody { code, msg: msg.into(), field: None, logins: None, retry_after_ms: None }
    }

    /// Names the argument the error is about.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Lists the logins the error is about.
    pub fn with_logins(mut self, logins: Vec<String>) -> Self {
        self.logins = Some(logins);
        self
    }

    /// Tells the client how long to wait.
    pub fn with_retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.msg)?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorBody {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_matches_serde_name() {
        for code in ErrorCode::ALL {
            let bytes = rmp_serde::to_vec(&code).expect("serialize code");
            let value = rmpv::decode::read_value(&mut bytes.as_slice()).expect("decode");
            assert_eq!(value.as_str(), Some(code.as_str()));
        }
    }
}
