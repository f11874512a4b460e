//! Integration tests of `joint`: the real binary against a real broker and PostgreSQL.

mod helpers;

mod accounts;
mod chat;
mod failover;
mod frames;
mod groups;
mod languages;
mod locales;
mod messages;
mod moderation;
mod prompts;
mod readme;
mod tail;
mod tls;
