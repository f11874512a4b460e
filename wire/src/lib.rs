//! The Joint wire protocol, version 1 (see PROTOCOL.md at the repository root).
//!
//! - [`codec`]: length-prefixed frames and the generic MessagePack map inside them.
//! - [`message`]: typed requests, reply payloads and events.
//! - [`error`]: the contract's error codes and the error object.
//! - [`client`]: the async client library used by every Joint program.
//! - [`failover`]: where a client with several broker addresses goes when its broker goes away.
//! - [`tls`]: which certificates a client trusts when the broker speaks TLS.
//!
//! This crate depends on no other crate of the project and never touches PostgreSQL.

#![warn(missing_docs)]

pub mod client;
pub mod codec;
pub mod error;
pub mod failover;
#[doc(hidden)]
pub mod fuzzing;
pub mod message;
mod resume;
pub mod tls;

pub use client::{Client, ClientConfig, ClientError, ClientEvent, Events};
pub use codec::{FrameCodec, FrameError, Payload, PayloadError};
pub use error::{ErrorBody, ErrorCode};
pub use message::{Event, Op, Request};
pub use tls::{TlsConfig, TlsError};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// The broker's default TCP port on loopback.
pub const DEFAULT_BROKER: &str = "127.0.0.1:7878";
