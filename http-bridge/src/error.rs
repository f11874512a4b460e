//! HTTP errors: the JSON `{code, msg}` body, and the one mapping of every wire error code
//! to an HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use joint_wire::{ClientError, ErrorBody, ErrorCode};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorJson {
    /// The wire error code (CONTRACT.md §10), or `not_found` / `method_not_allowed` for
    /// requests the bridge has no route for, or `request_timeout` for a request body that
    /// did not arrive in time. Programs branch on it.
    pub code: String,
    /// An English sentence for people.
    pub msg: String,
    /// The argument that was refused, when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The logins that caused the error (`unknown_user`, `not_member`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logins: Option<Vec<String>>,
}

/// Whether the request that failed was made on a signed-in session: a wrong password is
/// then a refusal of an action (403), not a failed sign-in (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `register` and `login`.
    SigningIn,
    /// Everything done with a bearer token.
    SignedIn,
}

/// The HTTP status of a wire error code. Exhaustive: a new code does not compile until it
/// has a status here.
pub fn status_for(code: ErrorCode, caller: Caller) -> StatusCode {
    match code {
        ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated | ErrorCode::BadToken => StatusCode::UNAUTHORIZED,
        ErrorCode::BadCredentials => match caller {
            Caller::SigningIn => StatusCode::UNAUTHORIZED,
            Caller::SignedIn => StatusCode::FORBIDDEN,
        },
        ErrorCode::NotMember | ErrorCode::NotAdmin | ErrorCode::NotAllowed | ErrorCode::AccountDisabled => {
            StatusCode::FORBIDDEN
        }
        ErrorCode::NoSuchGroup | ErrorCode::UnknownUser => StatusCode::NOT_FOUND,
        // A quota is the state of the caller's groups or connections, not a wrong request.
        ErrorCode::LoginTaken | ErrorCode::GroupExists | ErrorCode::AdminCannotLeave | ErrorCode::QuotaExceeded => {
            StatusCode::CONFLICT
        }
        ErrorCode::BodyTooLarge | ErrorCode::FrameTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable | ErrorCode::TooManyConnections | ErrorCode::IdleTimeout | ErrorCode::ShuttingDown => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        // The bridge frames, names operations, says hello and signs in itself: these
        // answers mean a bug in the bridge, not in the request.
        ErrorCode::BadFrame
        | ErrorCode::UnknownOp
        | ErrorCode::UnsupportedVersion
        | ErrorCode::AlreadyAuthenticated
        | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error response: status, JSON body and, for `rate_limited`, a `Retry-After`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorJson,
    retry_after_secs: Option<u64>,
}

/// The fixed sentence of every 500: causes go to the log, never to the client.
const INTERNAL_MSG: &str = "internal error in the HTTP bridge; it has been logged";

impl ApiError {
    fn new(status: StatusCode, code: &str, msg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorJson { code: code.into(), msg: msg.into(), field: None, logins: None },
            retry_after_secs: None,
        }
    }

    /// A request the bridge itself finds malformed (`invalid_argument`), naming the field when known.
    pub fn invalid(field: Option<&str>, msg: impl Into<String>) -> ApiError {
        let mut err = ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidArgument.as_str(), msg);
        err.body.field = field.map(Into::into);
        err
    }

    /// No usable `Authorization: Bearer` header.
    pub fn unauthenticated(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated.as_str(), msg)
    }

    /// A request body above `--max-request-bytes`.
    pub fn body_too_large(limit: usize) -> ApiError {
        let msg = format!("the request body is larger than {limit} bytes");
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BodyTooLarge.as_str(), msg)
    }

    /// The broker cannot be reached or did not answer in time.
    pub fn unavailable(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable.as_str(), msg)
    }

    /// The token already holds `--streams-per-token` live streams: `too_many_connections`,
    /// with the status [`status_for`] gives that code.
    pub fn too_many_streams(limit: usize) -> ApiError {
        let msg = format!("this session already has {limit} live streams open; close one first");
        let code = ErrorCode::TooManyConnections;
        ApiError::new(status_for(code, Caller::SignedIn), code.as_str(), msg)
    }

    /// The request body did not arrive within `--body-timeout-ms`.
    pub fn body_timeout(timeout_ms: u64) -> ApiError {
        let msg = format!("the request body did not arrive within {timeout_ms} ms");
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", msg)
    }

    /// No route has this path.
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; see /v1/openapi.json")
    }

    /// The path exists but not with this method.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not take this method")
    }

    /// A bug; `cause` is logged, the client gets a fixed sentence.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal.as_str(), INTERNAL_MSG)
    }

    /// The broker's refusal, with the status of [`status_for`].
    pub fn broker(body: ErrorBody, caller: Caller) -> ApiError {
        let status = status_for(body.code, caller);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return ApiError::internal(&format_args!("broker answered {}: {}", body.code.as_str(), body.msg));
        }
        ApiError {
            status,
            retry_after_secs: body.retry_after_ms.map(|ms| ms.div_ceil(1000).max(1)),
            body: ErrorJson { code: body.code.as_str().into(), msg: body.msg, field: body.field, logins: body.logins },
        }
    }

    /// Any failure of a wire client call.
    pub fn client(err: ClientError, caller: Caller) -> ApiError {
        match err {
            ClientError::Broker(body) => ApiError::broker(body, caller),
            ClientError::Connect(cause) => {
                tracing::warn!(%cause, "cannot reach the broker");
                ApiError::unavailable("the broker cannot be reached; try again later")
            }
            ClientError::Disconnected | ClientError::Closed => {
                ApiError::unavailable("the connection to the broker was lost; the outcome is unknown, try again")
            }
            ClientError::Protocol(cause) => ApiError::internal(&cause),
            ClientError::RequestTooLarge { max } => {
                let msg = format!("the request is larger than the broker's limit of {max} bytes");
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BodyTooLarge.as_str(), msg)
            }
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code sent in the body.
    pub fn code(&self) -> &str {
        &self.body.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of the issue, code by code.
    #[test]
    fn every_code_has_the_documented_status() {
        for code in ErrorCode::ALL {
            let expected = match code.as_str() {
                "invalid_argument" => 400,
                "unauthenticated" | "bad_token" | "bad_credentials" => 401,
                "not_member" | "not_admin" | "not_allowed" | "account_disabled" => 403,
                "no_such_group" | "unknown_user" => 404,
                "login_taken" | "group_exists" | "admin_cannot_leave" | "quota_exceeded" => 409,
                "body_too_large" | "frame_too_large" => 413,
                "rate_limited" => 429,
                "unavailable" | "too_many_connections" | "idle_timeout" | "shutting_down" => 503,
                "bad_frame" | "unknown_op" | "unsupported_version" | "already_authenticated" | "internal" => 500,
                other => panic!("no expectation for {other}"),
            };
            assert_eq!(status_for(code, Caller::SigningIn).as_u16(), expected, "{}", code.as_str());
        }
        assert_eq!(status_for(ErrorCode::BadCredentials, Caller::SignedIn), StatusCode::FORBIDDEN);
    }

    #[test]
    fn the_stream_cap_has_the_status_of_too_many_connections() {
        let err = ApiError::too_many_streams(2);
        assert_eq!((err.status(), err.code()), (StatusCode::SERVICE_UNAVAILABLE, "too_many_connections"));
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let body = ErrorBody::new(ErrorCode::Internal, "relation users does not exist at /src/store.rs:12");
        let err = ApiError::broker(body, Caller::SignedIn);
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.body.msg, INTERNAL_MSG);
    }

    #[test]
    fn rate_limited_rounds_retry_after_up() {
        let mut body = ErrorBody::new(ErrorCode::RateLimited, "slow down");
        body.retry_after_ms = Some(1001);
        let response = ApiError::broker(body, Caller::SigningIn).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
