//! Integration tests of the broker: real TCP on 127.0.0.1, real PostgreSQL, nothing mocked.

mod helpers;

mod accounts;
mod bad_input;
mod groups;
mod limits;
mod session_life;
