//! The naming rules of CONTRACT.md §5. Each check returns the value to store (display and
//! group names are normalized to NFC) or an `invalid_argument` naming the field.

use joint_wire::message::invalid;
use joint_wire::ErrorBody;
use unicode_normalization::UnicodeNormalization;

/// Longest display or group name, in Unicode scalar values after NFC.
pub const MAX_NAME_CHARS: usize = 64;
/// Login length bounds, in characters.
pub const LOGIN_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
/// Password length bounds, in bytes.
pub const PASSWORD_BYTES: std::ops::RangeInclusive<usize> = 8..=1024;
/// Most logins in one list argument.
pub const MAX_LOGINS_PER_CALL: usize = 1000;

/// Checks a login: 3–32 of `a-z 0-9 _ . -`, starting with a letter or digit.
pub fn login(field: &str, value: &str) -> Result<String, ErrorBody> {
    if !LOGIN_CHARS.contains(&value.len()) {
        return Err(invalid(field, "must be 3 to 32 characters long"));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-');
    if !value.chars().all(allowed) {
        return Err(invalid(field, "may hold only a-z, 0-9, '_', '.' and '-'"));
    }
    if !value.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err(invalid(field, "must start with a letter or a digit"));
    }
    Ok(value.to_owned())
}

/// Checks a list of logins (at most [`MAX_LOGINS_PER_CALL`]), keeping the first of duplicates.
pub fn logins(field: &str, values: &[String]) -> Result<Vec<String>, ErrorBody> {
    if values.len() > MAX_LOGINS_PER_CALL {
        return Err(invalid(field, "may hold at most 1000 logins"));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let checked = login(field, value)?;
        if !out.contains(&checked) {
            out.push(checked);
        }
    }
    Ok(out)
}

/// Checks and normalizes a display name.
pub fn display_name(field: &str, value: &str) -> Result<String, ErrorBody> {
    let nfc: String = value.nfc().collect();
    let count = nfc.chars().count();
    if count == 0 || count > MAX_NAME_CHARS {
        return Err(invalid(field, "must be 1 to 64 characters long"));
    }
    if nfc.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    if nfc.chars().any(is_bidi_control) {
        return Err(invalid(field, "must not contain bidirectional control characters"));
    }
    if nfc.starts_with(char::is_whitespace) || nfc.ends_with(char::is_whitespace) {
        return Err(invalid(field, "must not start or end with white space"));
    }
    Ok(nfc)
}

/// Checks and normalizes a group name: a display name without `/`.
pub fn group_name(field: &str, value: &str) -> Result<String, ErrorBody> {
    let name = display_name(field, value)?;
    if name.contains('/') {
        return Err(invalid(field, "must not contain '/'"));
    }
    Ok(name)
}

/// Checks a password's length in bytes.
pub fn password(field: &str, value: &str) -> Result<(), ErrorBody> {
    if PASSWORD_BYTES.contains(&value.len()) {
        Ok(())
    } else {
        Err(invalid(field, "must be 8 to 1024 bytes long"))
    }
}

/// Checks a paging cursor (`after`): any string PostgreSQL can compare, so no U+0000.
pub fn cursor(field: &str, value: Option<String>) -> Result<Option<String>, ErrorBody> {
    match value {
        Some(text) if text.contains('\0') => Err(invalid(field, "must not contain U+0000")),
        other => Ok(other),
    }
}

/// Characters that reorder text and could disguise a name: U+202A–U+202E, U+2066–U+2069.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_limits() {
        assert!(login("login", "abc").is_ok());
        assert!(login("login", &"a".repeat(32)).is_ok());
        assert!(login("login", "ab").is_err());
        assert!(login("login", &"a".repeat(33)).is_err());
        assert!(login("login", "0_a.b-c").is_ok());
        assert!(login("login", "_abc").is_err());
        assert!(login("login", "Abc").is_err());
        assert!(login("login", "ann smith").is_err());
        assert_eq!(login("login", "ab").unwrap_err().field.as_deref(), Some("login"));
    }

    #[test]
    fn display_name_rules() {
        assert_eq!(display_name("name", "Анна Петрова").unwrap(), "Анна Петрова");
        assert_eq!(display_name("name", "e\u{301}").unwrap(), "\u{e9}", "normalized to NFC");
        assert_eq!(display_name("name", &"é".repeat(64)).unwrap().chars().count(), 64);
        // 64 decomposed é are 128 scalars before NFC and 64 after: accepted.
        assert!(display_name("name", &"e\u{301}".repeat(64)).is_ok());
        assert!(display_name("name", &"x".repeat(65)).is_err());
        assert!(display_name("name", "").is_err());
        assert!(display_name("name", " Ann").is_err());
        assert!(display_name("name", "Ann\u{3000}").is_err());
        assert!(display_name("name", "A\u{7}nn").is_err());
        assert!(display_name("name", "A\u{202E}nn").is_err());
        assert!(display_name("name", "A\u{2068}nn").is_err());
        assert!(display_name("name", "文字 😀").is_ok());
    }

    #[test]
    fn group_name_rules() {
        assert!(group_name("group", "a/b").is_err());
        assert!(group_name("group", "All").is_ok());
        assert!(password("password", "1234567").is_err());
        assert!(password("password", "12345678").is_ok());
        assert!(password("password", &"x".repeat(1025)).is_err());
    }
}
