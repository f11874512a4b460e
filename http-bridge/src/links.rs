//! Paging links (`Link` header, RFC 8288) for lists and history.

use axum::http::{header, HeaderMap, HeaderValue};

/// Percent-encodes a path segment or query value: everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A `Link` header holding each `(rel, target)` given; empty when there is none.
pub fn header(links: &[(&str, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = links.iter().map(|(rel, target)| format!("<{target}>; rel=\"{rel}\"")).collect::<Vec<_>>().join(", ");
    // Every part is ASCII: targets are built from percent-encoded values and numbers.
    if let Ok(value) = HeaderValue::from_str(&value) {
        if !value.is_empty() {
            headers.insert(header::LINK, value);
        }
    }
    headers
}

/// `?key=value&...` of the given pairs, values encoded, absent ones left out.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v)))).collect();
    format!("?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_everything_but_unreserved() {
        assert_eq!(encode("a b/ü?&"), "a%20b%2F%C3%BC%3F%26");
        assert_eq!(encode("Az09-._~"), "Az09-._~");
    }

    #[test]
    fn builds_a_link_header() {
        let headers =
            header(&[("next", format!("/v1/users{}", query(&[("after", Some("bo".into())), ("limit", None)])))]);
        assert_eq!(headers[header::LINK], "</v1/users?after=bo>; rel=\"next\"");
        assert!(header(&[]).is_empty());
    }
}
