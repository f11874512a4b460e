//! The contract's error codes (CONTRACT.md §10) and the error object of §2.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every error code of the contract. Clients translate by code, never by message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Empty payload, not one map with unique UTF-8 string keys, or no valid `id`; the connection stays open.
    BadFrame,
    /// Connection error: a length prefix above `max_frame`, refused before any allocation; then the broker closes.
    FrameTooLarge,
    /// `hello` asked for a version other than 1; the connection stays open and may send `hello` again.
    UnsupportedVersion,
    /// `op` names no operation the broker serves (with `field: "op"`); checked before authentication.
    UnknownOp,
    /// An argument is missing, mistyped or breaks its rule (`field` names it), or `hello` is not the first request.
    InvalidArgument,
    /// An anonymous connection asked for an operation other than hello, register, login, auth or ping.
    Unauthenticated,
    /// `register`, `login` or `auth` on a connection that is already signed in.
    AlreadyAuthenticated,
    /// Wrong password on `login`, `passwd` or `delete_account`; on `login` also an unknown or deleted login.
    BadCredentials,
    /// `auth` with a malformed, unknown, expired or dead session token.
    BadToken,
    /// Too many failed password checks or auths, registrations per IP, or publishes per user; `retry_after_ms`
    /// says how long to wait.
    RateLimited,
    /// `register` with a login an account has or had (a deleted account's login is retired).
    LoginTaken,
    /// No live group has the given name (or, with `gid`, the group was deleted and re-created).
    NoSuchGroup,
    /// `group_create` with the name of a live group, or with the reserved name `all`.
    GroupExists,
    /// Some logins name no live account; `logins` lists them and nothing changes.
    UnknownUser,
    /// The caller is not a member of the group, or (with `logins`) the target of `group_admin` is not.
    NotMember,
    /// Only the group's admin may do this (also `group_admin` on `all`, which has no admin).
    NotAdmin,
    /// The operation is not allowed on `all` (`group_delete`, `leave`, `member_add`, `member_remove`), is for
    /// operators only, deletes another's message without being the group's admin, or `register` is closed.
    NotAllowed,
    /// The admin tried to `leave` or remove themself; hand over with `group_admin` or delete the group first.
    AdminCannotLeave,
    /// A `publish` body longer than `max_body` bytes (comes with messaging).
    BodyTooLarge,
    /// Connection error at accept: the total or per-IP connection limit is reached; then the broker closes.
    TooManyConnections,
    /// Connection error: the anonymous, authenticated or half-frame idle timeout ran out; then the broker closes.
    IdleTimeout,
    /// Connection error: the broker is stopping, after answering what it had already read; then it closes.
    ShuttingDown,
    /// PostgreSQL is unreachable or too slow, or password hashing is saturated; the request was not carried out,
    /// unless the database broke during its commit (after `publish` the outcome is unknown: retry with the same cid).
    Unavailable,
    /// A bug in the broker; `msg` is a fixed sentence, never SQL, paths or stack traces.
    Internal,
    /// `login`, `auth` or `register` for an account an operator disabled (CONTRACT.md §12).
    AccountDisabled,
    /// A quota of §12 is reached: groups created per user, members per group or subscriptions per connection.
    QuotaExceeded,
}

impl ErrorCode {
    /// All codes, in the contract's order; tests iterate it to prove each one is covered.
    pub const ALL: [ErrorCode; 26] = [
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
        ErrorCode::AccountDisabled,
        ErrorCode::QuotaExceeded,
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
            ErrorCode::AccountDisabled => "account_disabled",
            ErrorCode::QuotaExceeded => "quota_exceeded",
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
