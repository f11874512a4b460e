//! Integration tests of the HTTP bridge: a real broker and PostgreSQL (joint-testkit), the
//! real bridge on 127.0.0.1:0, real HTTP through reqwest; nothing mocked.

mod helpers;

mod endpoints;
mod error_codes;
mod failover;
mod limits;
mod moderation;
mod streams;
mod tls;
mod walkthrough;
