#![warn(missing_docs)]
//! The Joint broker as a library, so that tests start the real thing on `127.0.0.1:0`.
//!
//! Start at [`server::Broker`]; ARCHITECTURE.md walks the path of a request.

pub mod cli;
pub mod cluster;
pub mod committer;
pub mod config;
pub mod connection;
pub mod error;
pub mod flood;
#[doc(hidden)]
pub mod fuzzing;
pub mod hub;
pub mod legacy;
pub mod limits;
pub mod maintenance;
pub mod metrics;
pub mod names;
pub mod ops;
pub mod paging;
pub mod password;
pub mod presence;
#[cfg(feature = "sabotage")]
pub mod sabotage;
pub mod server;
pub mod settings;
pub mod store;
pub mod subscriptions;
pub mod telemetry;
pub mod tls;
pub mod token;
