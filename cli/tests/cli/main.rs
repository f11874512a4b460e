//! Integration tests of `joint`: the real binary against a real broker and PostgreSQL.

mod helpers;

mod accounts;
mod chat;
mod frames;
mod groups;
mod locales;
mod messages;
mod readme;
mod tail;
