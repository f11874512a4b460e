//! Integration tests of the broker: real TCP on 127.0.0.1, real PostgreSQL, nothing mocked.

mod helpers;

mod accounts;
mod attacks;
mod backup_restore;
mod bad_input;
mod bad_input_table;
mod client;
mod cluster;
mod config_file;
mod durability;
mod error_codes;
mod failover;
mod groups;
mod legacy;
mod limits;
mod limits_cluster;
mod maintenance;
mod messages;
mod metrics;
mod moderation;
mod names;
mod partitioning;
mod permission_table;
mod presence;
mod quotas;
mod read_replica;
mod resilience;
mod secrets;
mod session_life;
mod shutdown;
mod slow_readers;
mod subscriptions;
mod tls;
