//! The account rules of PROTOCOL.md §4.1, checked in the window before anything is sent, so
//! the user learns what to fix without a round trip.

use rust_i18n::t;

/// Which rule an input breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// The login is not 3–32 characters of `a-z 0-9 _ . -` starting with a letter or digit.
    Login,
    /// The display name is empty, longer than 64 characters, or has control characters or
    /// surrounding spaces.
    Name,
    /// The password is not 8–1024 bytes.
    Password,
    /// The two passwords differ.
    Mismatch,
}

impl Broken {
    /// The sentence that tells the user what to fix, in the current language.
    pub fn text(self) -> String {
        match self {
            Broken::Login => t!("gui.rules.bad_login"),
            Broken::Name => t!("gui.rules.bad_name"),
            Broken::Password => t!("gui.rules.bad_password"),
            Broken::Mismatch => t!("gui.rules.mismatch"),
        }
        .into_owned()
    }
}

/// Whether `login` keeps the login rule.
pub fn login_ok(login: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-');
    (3..=32).contains(&login.len())
        && login.chars().all(allowed)
        && login.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Whether `name` keeps the display-name rule (the broker also normalizes it to NFC).
pub fn name_ok(name: &str) -> bool {
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let count = name.chars().count();
    (1..=64).contains(&count) && name.trim() == name && !name.chars().any(|c| c.is_control() || bidi(c))
}

/// Whether `password` keeps the password rule.
pub fn password_ok(password: &str) -> bool {
    (8..=1024).contains(&password.len())
}

/// Checks a sign-up form; the first rule broken, in the form's order.
pub fn check_sign_up(login: &str, name: &str, password: &str, again: &str) -> Result<(), Broken> {
    if !login_ok(login) {
        return Err(Broken::Login);
    }
    if !name_ok(name) {
        return Err(Broken::Name);
    }
    if !password_ok(password) {
        return Err(Broken::Password);
    }
    if password != again {
        return Err(Broken::Mismatch);
    }
    Ok(())
}

/// Splits a comma- or space-separated list of logins, dropping empty entries.
pub fn split_logins(text: &str) -> Vec<String> {
    text.split([',', ' ', ';', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_up_rules_match_the_protocol() {
        assert_eq!(check_sign_up("ann", "Ann", "12345678", "12345678"), Ok(()));
        assert_eq!(check_sign_up("an", "Ann", "12345678", "12345678"), Err(Broken::Login));
        assert_eq!(check_sign_up("Ann", "Ann", "12345678", "12345678"), Err(Broken::Login));
        assert_eq!(check_sign_up("_ann", "Ann", "12345678", "12345678"), Err(Broken::Login));
        assert_eq!(check_sign_up(&"a".repeat(33), "Ann", "12345678", "12345678"), Err(Broken::Login));
        assert_eq!(check_sign_up("a.b-c_9", "Аня 李", "12345678", "12345678"), Ok(()));
        assert_eq!(check_sign_up("ann", " Ann", "12345678", "12345678"), Err(Broken::Name));
        assert_eq!(check_sign_up("ann", "", "12345678", "12345678"), Err(Broken::Name));
        assert_eq!(check_sign_up("ann", "A\u{202E}nn", "12345678", "12345678"), Err(Broken::Name));
        assert_eq!(check_sign_up("ann", &"я".repeat(65), "12345678", "12345678"), Err(Broken::Name));
        assert_eq!(check_sign_up("ann", "Ann", "1234567", "1234567"), Err(Broken::Password));
        assert_eq!(check_sign_up("ann", "Ann", "12345678", "12345679"), Err(Broken::Mismatch));
    }

    #[test]
    fn logins_split_on_commas_and_spaces() {
        assert_eq!(split_logins(" bob, cat  dan,,"), ["bob", "cat", "dan"]);
        assert!(split_logins(" , ").is_empty());
    }
}
