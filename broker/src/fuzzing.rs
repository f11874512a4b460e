//! The invariants of the broker's fuzz targets (see `fuzz/` at the repository root), kept
//! here so that the fuzzer and the corpus replay test (`broker/tests/fuzz_corpus.rs`) judge
//! every input by the same code.
//!
//! Each check returns normally for any input the code under test handles correctly,
//! including inputs it rightly refuses, and panics naming the broken invariant otherwise.

use crate::names::{self, LOGIN_CHARS, MAX_LOGINS_PER_CALL, MAX_NAME_CHARS, PASSWORD_BYTES};
use crate::ops::check_message;
use crate::paging::{self, bigint, PageSize, HISTORY_PAGE, LIST_PAGE};
use crate::store::Window;
use joint_wire::message::Request;
use joint_wire::{ErrorBody, ErrorCode};
use unicode_normalization::UnicodeNormalization;

/// The body limits `publish` is checked against: the default and a small one, so that short
/// fuzz inputs reach `body_too_large` too.
const MAX_BODIES: [usize; 2] = [64 << 10, 16];

/// Runs a payload through the wire crate's request decoding for every operation
/// ([`joint_wire::fuzzing::request`] checks that part), then each request that reads through
/// the broker's own argument checks, the ones it applies before touching PostgreSQL: names,
/// logins, passwords, paging windows and messages. Each check must accept exactly the values
/// CONTRACT.md allows, return the value to store, and refuse anything else as
/// `invalid_argument` (or `body_too_large`) naming the field.
pub fn request(data: &[u8]) {
    for request in joint_wire::fuzzing::request(data) {
        check_request(&request);
    }
}

fn check_request(request: &Request) {
    match request {
        Request::Register { login, name, password } | Request::UserCreate { login, name, password } => {
            check_login("login", login);
            check_display_name("name", name);
            check_password("password", password);
        }
        Request::Login { login, password } => {
            check_login("login", login);
            check_password("password", password);
        }
        Request::SetName { name } => check_display_name("name", name),
        Request::Passwd { old, new } => {
            check_password("old", old);
            check_password("new", new);
        }
        Request::DeleteAccount { password } => check_password("password", password),
        Request::Users { after, limit } => check_list_window(after.clone(), *limit),
        Request::User { login } | Request::UserDisable { login } | Request::UserEnable { login } => {
            check_login("login", login)
        }
        Request::GroupCreate { group, members } => {
            check_group_name("group", group);
            check_logins("members", members);
        }
        Request::GroupAdmin { group, login } => {
            check_group_name("group", group);
            check_login("login", login);
        }
        Request::Members { group, after, limit } => {
            check_group_name("group", group);
            check_list_window(after.clone(), *limit);
        }
        Request::MemberAdd { group, logins } | Request::MemberRemove { group, logins } => {
            check_group_name("group", group);
            check_logins("logins", logins);
        }
        Request::Publish { group, body, cid } => {
            check_group_name("group", group);
            for max_body in MAX_BODIES {
                check_publish(body, cid.as_deref(), max_body);
            }
        }
        Request::History { group, before, after, limit, .. } => {
            check_group_name("group", group);
            check_history_window(*before, *after, *limit);
        }
        Request::GroupDelete { group }
        | Request::Leave { group }
        | Request::Subscribe { group, .. }
        | Request::Unsubscribe { group }
        | Request::MarkRead { group, .. }
        | Request::MessageDelete { group, .. } => check_group_name("group", group),
        Request::Hello { .. }
        | Request::Auth { .. }
        | Request::Logout
        | Request::Me
        | Request::Groups
        | Request::Ping => {}
    }
}

/// A refusal of `field` as `invalid_argument`.
fn assert_refused(err: &ErrorBody, field: &str) {
    assert_eq!(err.code, ErrorCode::InvalidArgument, "{field} refused as {:?}", err.code);
    assert_eq!(err.field.as_deref(), Some(field), "a refusal of {field} names another field");
}

/// Whether `value` is a login by CONTRACT.md §5, written out directly.
fn is_login(value: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-');
    LOGIN_CHARS.contains(&value.len())
        && value.bytes().all(allowed)
        && value.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn check_login(field: &str, value: &str) {
    match names::login(field, value) {
        Ok(login) => {
            assert!(is_login(value), "{field}: accepted the login {value:?}");
            assert_eq!(login, value, "{field}: a login is stored as sent");
        }
        Err(err) => {
            assert!(!is_login(value), "{field}: refused the login {value:?}");
            assert_refused(&err, field);
        }
    }
}

fn check_logins(field: &str, values: &[String]) {
    match names::logins(field, values) {
        Ok(logins) => {
            assert!(values.len() <= MAX_LOGINS_PER_CALL, "{field}: accepted {} logins", values.len());
            assert!(values.iter().all(|v| is_login(v)), "{field}: accepted a list with a bad login");
            let mut first_of_each: Vec<String> = Vec::new();
            for value in values {
                if !first_of_each.contains(value) {
                    first_of_each.push(value.clone());
                }
            }
            assert_eq!(logins, first_of_each, "{field}: not the first of each login, in order");
        }
        Err(err) => {
            let valid = values.len() <= MAX_LOGINS_PER_CALL && values.iter().all(|v| is_login(v));
            assert!(!valid, "{field}: refused a valid list of logins");
            assert_refused(&err, field);
        }
    }
}

/// Whether an NFC string is a display name by CONTRACT.md §5, written out directly.
fn is_display_name(nfc: &str) -> bool {
    let count = nfc.chars().count();
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    (1..=MAX_NAME_CHARS).contains(&count)
        && !nfc.chars().any(|c| c.is_control() || bidi(c))
        && !nfc.starts_with(char::is_whitespace)
        && !nfc.ends_with(char::is_whitespace)
}

/// Checks a display name (or, with `group`, a group name) and returns what was stored.
fn check_name(field: &str, value: &str, group: bool) {
    let nfc: String = value.nfc().collect();
    let valid = is_display_name(&nfc) && !(group && nfc.contains('/'));
    let result = if group { names::group_name(field, value) } else { names::display_name(field, value) };
    match result {
        Ok(stored) => {
            assert!(valid, "{field}: accepted the name {value:?}");
            assert_eq!(stored, nfc, "{field}: a name is stored in NFC");
            let again = if group { names::group_name(field, &stored) } else { names::display_name(field, &stored) };
            assert_eq!(again.as_ref(), Ok(&stored), "{field}: a stored name is not accepted again unchanged");
        }
        Err(err) => {
            assert!(!valid, "{field}: refused the name {value:?}");
            assert_refused(&err, field);
        }
    }
}

fn check_display_name(field: &str, value: &str) {
    check_name(field, value, false);
}

fn check_group_name(field: &str, value: &str) {
    check_name(field, value, true);
}

fn check_password(field: &str, value: &str) {
    match names::password(field, value) {
        Ok(()) => assert!(PASSWORD_BYTES.contains(&value.len()), "{field}: accepted {} bytes", value.len()),
        Err(err) => {
            assert!(!PASSWORD_BYTES.contains(&value.len()), "{field}: refused {} bytes", value.len());
            assert_refused(&err, field);
        }
    }
}

fn check_publish(body: &str, cid: Option<&str>, max_body: usize) {
    let body_ok = !body.is_empty() && !body.contains('\0');
    let cid_ok = cid.is_none_or(|cid| (1..=64).contains(&cid.len()) && !cid.contains('\0'));
    match check_message(body, cid, max_body) {
        Ok(()) => {
            assert!(body_ok && body.len() <= max_body && cid_ok, "accepted body {body:?} with cid {cid:?}");
        }
        Err(err) if err.code == ErrorCode::BodyTooLarge => {
            assert!(body_ok && body.len() > max_body, "body_too_large for {} of {max_body} bytes", body.len());
            assert_eq!(err.field.as_deref(), Some("body"), "body_too_large names another field");
        }
        Err(err) => match err.field.as_deref() {
            Some("body") => assert!(!body_ok, "refused the body {body:?}"),
            Some("cid") => assert!(body_ok && body.len() <= max_body && !cid_ok, "refused the cid {cid:?}"),
            other => panic!("a message refused on {other:?}"),
        },
    }
}

/// The page size a valid `limit` must give.
fn expected_limit(limit: Option<u64>, size: PageSize) -> i64 {
    let size = limit.unwrap_or(size.default).min(size.max);
    assert!(size >= 1, "a page size of 0 slipped through");
    i64::try_from(size).expect("page sizes fit in i64")
}

/// Whether a stored seq is in a window, as the history query's `WHERE` decides.
fn selects(window: &Window, seq: i64) -> bool {
    window.before.is_none_or(|before| seq < before) && window.after.is_none_or(|after| seq > after)
}

fn check_history_window(before: Option<u64>, after: Option<u64>, limit: Option<u64>) {
    match paging::history_window(before, after, limit) {
        Ok(window) => {
            assert_ne!(limit, Some(0), "accepted limit 0");
            assert_eq!(window.limit, expected_limit(limit, HISTORY_PAGE), "history page size");
            assert!((1..=HISTORY_PAGE.max as i64).contains(&window.limit), "history page size out of bounds");
            for bound in [window.before, window.after].into_iter().flatten() {
                assert!(bound >= 0, "a negative seq bound {bound}");
            }
            // Every seq a group can hold (1 to i64::MAX - 1) is selected exactly when the
            // request's u64 bounds say so; try those next to the bounds.
            let near = [before, after].into_iter().flatten().flat_map(|b| [b.wrapping_sub(1), b, b.saturating_add(1)]);
            for seq in near.chain([1, i64::MAX as u64 - 1]) {
                let Ok(stored) = i64::try_from(seq) else { continue };
                if !(1..i64::MAX).contains(&stored) {
                    continue;
                }
                let wanted = before.is_none_or(|b| seq < b) && after.is_none_or(|a| seq > a);
                assert_eq!(selects(&window, stored), wanted, "seq {seq} with before {before:?}, after {after:?}");
            }
        }
        Err(err) => {
            assert_eq!(limit, Some(0), "refused a history window with limit {limit:?}");
            assert_refused(&err, "limit");
        }
    }
}

fn check_list_window(after: Option<String>, limit: Option<u64>) {
    let nul = after.as_deref().is_some_and(|a| a.contains('\0'));
    match paging::list_window(after.clone(), limit) {
        Ok(window) => {
            assert!(!nul && limit != Some(0), "accepted cursor {after:?} with limit {limit:?}");
            assert_eq!(window.after, after, "the cursor changed");
            assert_eq!(window.limit, expected_limit(limit, LIST_PAGE), "list page size");
        }
        Err(err) => assert_refused(&err, if nul { "after" } else { "limit" }),
    }
}

/// Reads paging arguments from raw bytes and checks the windows `history`, `users` and
/// `members` make of them: the page size is the default, the request's, or the maximum,
/// never 0 (refused as `invalid_argument` on `limit`); a cursor holding U+0000 is refused on
/// `after`, first; and the history window selects exactly the seqs the request's bounds name,
/// u64 bounds past i64::MAX included.
///
/// Layout: one byte of flags (bit 0 `before`, bit 1 `after`, bit 2 `limit`, bit 3 a
/// cursor), then `before`, `after` and `limit` as 8-byte big-endian integers (missing bytes
/// are zeros), then the cursor's bytes (invalid UTF-8 replaced).
pub fn paging(data: &[u8]) {
    let flags = data.first().copied().unwrap_or(0);
    let number = |index: usize, bit: u8| {
        (flags & (1 << bit) != 0).then(|| {
            let mut bytes = [0u8; 8];
            for (i, byte) in bytes.iter_mut().enumerate() {
                *byte = data.get(1 + index * 8 + i).copied().unwrap_or(0);
            }
            u64::from_be_bytes(bytes)
        })
    };
    let (before, after, limit) = (number(0, 0), number(1, 1), number(2, 2));
    let cursor = (flags & 8 != 0).then(|| String::from_utf8_lossy(data.get(25..).unwrap_or_default()).into_owned());
    check_history_window(before, after, limit);
    check_list_window(cursor, limit);
    assert_eq!(bigint(u64::MAX), i64::MAX, "past i64::MAX is past everything");
}
