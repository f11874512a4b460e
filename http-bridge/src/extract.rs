//! Request extractors whose every refusal is the bridge's JSON error: the bearer token and
//! client address, bounded bodies, path and query parameters.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

/// The HTTP client's address, passed to the broker in `hello`.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| Peer(info.0.ip()))
            .ok_or_else(|| ApiError::internal(&"the server was started without connection info"))
    }
}

/// A signed-in caller: the session token of `Authorization: Bearer` and the client address.
#[derive(Clone)]
pub struct Auth {
    /// The session token (never logged).
    pub token: String,
    /// The HTTP client's address.
    pub ip: IpAddr,
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Peer(ip) = Peer::from_request_parts(parts, state).await?;
        let token = bearer(&parts.headers)
            .ok_or_else(|| ApiError::unauthenticated("send the session token as `Authorization: Bearer TOKEN`"))?;
        Ok(Auth { token, ip })
    }
}

/// The token of an `Authorization: Bearer TOKEN` header, if there is a well-formed one.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    let printable = token.bytes().all(|b| b.is_ascii_graphic());
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && printable).then(|| token.to_owned())
}

/// A request body of at most `--max-request-bytes`, with its content type.
pub struct Body {
    /// The `Content-Type` without parameters, lower-cased (empty when absent).
    pub media_type: String,
    /// The bytes.
    pub bytes: Bytes,
}

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.settings.max_request_bytes;
        let media_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .unwrap_or_default();
        // A deadline for the whole body, not per chunk: a client trickling bytes cannot
        // hold the handler longer than `--body-timeout-ms`.
        let timeout_ms = state.settings.body_timeout_ms;
        let read = axum::body::to_bytes(req.into_body(), limit);
        let read = tokio::time::timeout(std::time::Duration::from_millis(timeout_ms), read)
            .await
            .map_err(|_| ApiError::body_timeout(timeout_ms))?;
        let bytes = read.map_err(|err| {
            let too_large = std::error::Error::source(&err).is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::body_too_large(limit)
            } else {
                ApiError::invalid(None, "the request body could not be read")
            }
        })?;
        Ok(Body { media_type, bytes })
    }
}

impl Body {
    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.bytes).map_err(|e| ApiError::invalid(None, format!("bad JSON body: {e}")))
    }
}

/// A JSON request body of at most `--max-request-bytes`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Body::from_request(req, state).await?.json().map(JsonBody)
    }
}

/// Query parameters; a malformed one is `invalid_argument`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::invalid(None, e.body_text()))
    }
}

/// Path parameters; a malformed one is `invalid_argument`.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::invalid(None, e.body_text()))
    }
}

/// A count or seq from a query or body, which JSON Schema calls a non-negative int64.
pub fn unsigned(field: &str, value: Option<i64>) -> Result<Option<u64>, ApiError> {
    value
        .map(|v| u64::try_from(v).map_err(|_| ApiError::invalid(Some(field), format!("{field} must not be negative"))))
        .transpose()
}

/// Deserializes an optional integer as JSON Schema counts one: `3`, `3.0` or, in a query
/// string, `"3"`; a fraction or anything else is an error. Use with
/// `#[serde(default, deserialize_with = "whole_number")]`.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("integer too large"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
            // The cast saturates; the range check before it makes it exact.
            let whole = v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64;
            whole.then_some(v as i64).ok_or_else(|| E::custom("expected an integer"))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<i64, E> {
            match v.parse::<i64>() {
                Ok(n) => Ok(n),
                Err(_) => self.visit_f64(v.parse::<f64>().map_err(|_| E::custom("expected an integer"))?),
            }
        }
    }
    deserializer.deserialize_any(Whole).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        assert_eq!(bearer(&with("Bearer abc-_1")).as_deref(), Some("abc-_1"));
        assert_eq!(bearer(&with("bearer  abc ")).as_deref(), Some("abc"));
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer")), None);
        assert_eq!(bearer(&with("Bearer a b")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[derive(serde::Deserialize)]
    struct Counted {
        #[serde(default, deserialize_with = "whole_number")]
        n: Option<i64>,
    }

    #[test]
    fn whole_numbers_come_as_integers_integral_floats_or_query_strings() {
        let json = |text: &str| serde_json::from_str::<Counted>(text).map(|c| c.n);
        assert_eq!(json(r#"{"n": 3}"#).unwrap(), Some(3));
        assert_eq!(json(r#"{"n": 3.0}"#).unwrap(), Some(3));
        assert_eq!(json(r#"{}"#).unwrap(), None);
        assert!(json(r#"{"n": 3.5}"#).is_err());
        assert!(json(r#"{"n": 1e300}"#).is_err());
        assert!(json(r#"{"n": "3"}"#).is_ok(), "strings are how query strings arrive");
        let query =
            |q: &str| axum::extract::Query::<Counted>::try_from_uri(&format!("/?{q}").parse().unwrap()).map(|c| c.0.n);
        assert_eq!(query("n=7").unwrap(), Some(7));
        assert_eq!(query("n=7.0").unwrap(), Some(7));
        assert!(query("n=seven").is_err());
        assert_eq!(query("").unwrap(), None);
    }
}
