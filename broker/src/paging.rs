//! Paging arguments: a request's `before`, `after` and `limit` turned into the window a store
//! query reads (CONTRACT.md `history`, `users`, `members`). Pure, so the fuzzer can reach it.

use crate::store::Window;
use joint_wire::message::invalid;
use joint_wire::ErrorBody;

/// Page sizes of an operation: what an absent `limit` means and where a larger one is clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    /// The page size when `limit` is absent.
    pub default: u64,
    /// The largest page; a larger `limit` is clamped to it.
    pub max: u64,
}

/// `history`: 50 messages by default, at most 1000.
pub const HISTORY_PAGE: PageSize = PageSize { default: 50, max: 1000 };
/// `users` and `members`: 100 entries by default, at most 1000.
pub const LIST_PAGE: PageSize = PageSize { default: 100, max: 1000 };

/// A page of `users` or `members`: the logins after a cursor, at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListWindow {
    /// Start after this login (exclusive, compared bytewise); `None` starts at the first.
    pub after: Option<String>,
    /// At most this many.
    pub limit: i64,
}

/// A `limit` argument as a page size: the default when absent, clamped to the maximum,
/// and 0 refused.
pub fn page_limit(limit: Option<u64>, size: PageSize) -> Result<i64, ErrorBody> {
    match limit {
        Some(0) => Err(invalid("limit", "must be at least 1")),
        Some(n) => Ok(n.min(size.max) as i64),
        None => Ok(size.default as i64),
    }
}

/// A client's u64 as a database bigint: values past i64::MAX mean "past everything".
pub fn bigint(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The window of a `history` request.
pub fn history_window(before: Option<u64>, after: Option<u64>, limit: Option<u64>) -> Result<Window, ErrorBody> {
    let limit = page_limit(limit, HISTORY_PAGE)?;
    Ok(Window { before: before.map(bigint), after: after.map(bigint), limit })
}

/// The window of a `users` or `members` request: the cursor is checked before the limit.
pub fn list_window(after: Option<String>, limit: Option<u64>) -> Result<ListWindow, ErrorBody> {
    let after = crate::names::cursor("after", after)?;
    let limit = page_limit(limit, LIST_PAGE)?;
    Ok(ListWindow { after, limit })
}
