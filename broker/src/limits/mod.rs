//! The abuse limits of CONTRACT.md §11. Those an attacker could dodge by switching broker
//! keep their state in PostgreSQL, shared by every broker of the database: the backoff
//! after failed password checks and failed `auth` ([`backoff`]) and registrations per IP
//! ([`window`]); publishes per user are in [`crate::flood`]. Connections per IP protect one
//! process's sockets and memory and are counted by each broker ([`per_ip`]).

pub mod backoff;
pub mod per_ip;
pub mod window;

pub use backoff::{Attempt, Backoff, BackoffKey, BackoffRules, Verdict};
pub use per_ip::{IpSlot, PerIp};
pub use window::Window;
