//! Every knob of the broker in one struct: flags, with `JOINT_*` environment fallbacks and
//! the defaults of CONTRACT.md §11. Tests build it with [`Settings::for_tests`] and edit it.

use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Who may create accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Registration {
    /// Anyone, with `register`.
    Open,
    /// Only operators, with `user_create`; `register` answers `not_allowed`.
    Closed,
}

/// The broker's configuration.
#[derive(Debug, Clone, Parser)]
#[command(name = "joint-broker", version, about = "The Joint chat broker")]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "JOINT_LISTEN", default_value = "127.0.0.1:7878")]
    pub listen: String,

    /// Serve Prometheus metrics at http://ADDR/metrics (off unless given).
    #[arg(long, env = "JOINT_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// TLS certificate chain (PEM); with --tls-key the listener speaks TLS only.
    #[arg(long, env = "JOINT_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) for --tls-cert.
    #[arg(long, env = "JOINT_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve plaintext on a non-loopback address (refused otherwise): only behind a
    /// trusted network or a TLS-terminating proxy.
    #[arg(long, env = "JOINT_INSECURE_PLAINTEXT")]
    pub insecure_plaintext: bool,

    /// PostgreSQL connection URL, e.g. postgres://joint@127.0.0.1:5432/joint.
    #[arg(long, env = "JOINT_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,

    /// Largest frame payload accepted and sent, in bytes.
    #[arg(long, env = "JOINT_MAX_FRAME", default_value_t = 1024 * 1024)]
    pub max_frame: usize,

    /// Largest message body, in bytes (at most max_frame - 1 KiB).
    #[arg(long, env = "JOINT_MAX_BODY", default_value_t = 64 * 1024)]
    pub max_body: usize,

    /// Connections accepted at once, in total.
    #[arg(long, env = "JOINT_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Connections accepted at once from one client IP.
    #[arg(long, env = "JOINT_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// Failed password checks (per login and IP, and per IP) before backoff starts.
    #[arg(long, env = "JOINT_LOGIN_FAILURES", default_value_t = 5)]
    pub login_failures: u32,

    /// The longest backoff after failed password checks, in milliseconds.
    #[arg(long, env = "JOINT_LOGIN_BACKOFF_MAX_MS", default_value_t = 300_000)]
    pub login_backoff_max_ms: u64,

    /// Registration attempts per client IP per minute (refused ones count).
    #[arg(long, env = "JOINT_REGISTRATIONS_PER_MINUTE", default_value_t = 10)]
    pub registrations_per_minute: u32,

    /// Password hashes computed at once (default: the number of cores).
    #[arg(long, env = "JOINT_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,

    /// Password hashes allowed to wait; beyond that requests get `unavailable` at once.
    #[arg(long, env = "JOINT_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: usize,

    /// scrypt cost: log2 of N.
    #[arg(long, env = "JOINT_SCRYPT_LOG_N", default_value_t = 15)]
    pub scrypt_log_n: u8,

    /// scrypt block size r.
    #[arg(long, env = "JOINT_SCRYPT_R", default_value_t = 8)]
    pub scrypt_r: u32,

    /// scrypt parallelism p.
    #[arg(long, env = "JOINT_SCRYPT_P", default_value_t = 1)]
    pub scrypt_p: u32,

    /// Replies a client may leave unread before the broker stops reading its requests.
    #[arg(long, env = "JOINT_MAX_INFLIGHT", default_value_t = 256)]
    pub max_inflight: usize,

    /// Idle limit of a connection that has not signed in, in milliseconds.
    #[arg(long, env = "JOINT_IDLE_ANONYMOUS_MS", default_value_t = 30_000)]
    pub idle_anonymous_ms: u64,

    /// Idle limit of a signed-in connection, in milliseconds.
    #[arg(long, env = "JOINT_IDLE_AUTHENTICATED_MS", default_value_t = 120_000)]
    pub idle_authenticated_ms: u64,

    /// Limit on silence in the middle of a frame, in milliseconds.
    #[arg(long, env = "JOINT_IDLE_HALF_FRAME_MS", default_value_t = 30_000)]
    pub idle_half_frame_ms: u64,

    /// How often clients should ping, announced in `hello`, in milliseconds.
    #[arg(long, env = "JOINT_PING_INTERVAL_MS", default_value_t = 30_000)]
    pub ping_interval_ms: u64,

    /// How long a socket may accept no byte from the broker before it is closed, in ms.
    #[arg(long, env = "JOINT_WRITE_TIMEOUT_MS", default_value_t = 600_000)]
    pub write_timeout_ms: u64,

    /// Session tokens die after this many seconds unused (default 30 days).
    #[arg(long, env = "JOINT_TOKEN_LIFETIME_SECS", default_value_t = 30 * 24 * 3600)]
    pub token_lifetime_secs: u64,

    /// How often expired sessions are looked for, in milliseconds.
    #[arg(long, env = "JOINT_SESSION_SWEEP_MS", default_value_t = 60_000)]
    pub session_sweep_ms: u64,

    /// Logins of the operators, who may use user_disable, user_enable, user_create and
    /// delete any message (repeatable; the environment variable is comma-separated).
    #[arg(long = "operator", env = "JOINT_OPERATORS", value_delimiter = ',')]
    pub operators: Vec<String>,

    /// Whether anyone may `register` (open) or only operators create accounts (closed).
    #[arg(long, env = "JOINT_REGISTRATION", value_enum, default_value_t = Registration::Open)]
    pub registration: Registration,

    /// Publishes per second each user may sustain, over all their connections (0 = no limit).
    #[arg(long, env = "JOINT_PUBLISH_RATE", default_value_t = 50)]
    pub publish_rate: u32,

    /// Publishes a user may send at once before the rate applies.
    #[arg(long, env = "JOINT_PUBLISH_BURST", default_value_t = 200)]
    pub publish_burst: u32,

    /// Live groups one user may have created (0 = no limit).
    #[arg(long, env = "JOINT_MAX_GROUPS_PER_USER", default_value_t = 100)]
    pub max_groups_per_user: u32,

    /// Members one group may have, admin included; `all` is exempt (0 = no limit).
    #[arg(long, env = "JOINT_MAX_MEMBERS_PER_GROUP", default_value_t = 10_000)]
    pub max_members_per_group: u32,

    /// Subscriptions one connection may hold at once (0 = no limit).
    #[arg(long, env = "JOINT_MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = 1_000)]
    pub max_subscriptions_per_connection: u32,

    /// Proxies (such as the HTTP bridge) whose `hello.client_ip` is believed.
    #[arg(long = "trusted-proxy", env = "JOINT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,

    /// A streaming-replication hot standby of the database to read history pages from, when
    /// it has replayed what a page needs (the primary otherwise); off unless given.
    #[arg(long, env = "JOINT_READ_DATABASE_URL", hide_env_values = true)]
    pub read_database_url: Option<String>,

    /// PostgreSQL connections in the pool.
    #[arg(long, env = "JOINT_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: usize,

    /// Longest wait for PostgreSQL before a request is answered `unavailable`, in ms.
    #[arg(long, env = "JOINT_DB_TIMEOUT_MS", default_value_t = 4_000)]
    pub db_timeout_ms: u64,

    /// How often the last seqs of groups with subscribers here are read, so that a note lost
    /// between brokers delays a delivery by at most this long, in milliseconds.
    #[arg(long, env = "JOINT_CLUSTER_CHECK_MS", default_value_t = 1_000)]
    pub cluster_check_ms: u64,

    /// How often this broker records that it is alive (for presence across brokers), in ms.
    #[arg(long, env = "JOINT_CLUSTER_HEARTBEAT_MS", default_value_t = 3_000)]
    pub cluster_heartbeat_ms: u64,

    /// A broker unseen for this long (killed, say) no longer counts its users online, in ms.
    #[arg(long, env = "JOINT_CLUSTER_STALE_MS", default_value_t = 15_000)]
    pub cluster_stale_ms: u64,

    /// How long shutdown may spend answering requests already read, in milliseconds.
    #[arg(long, env = "JOINT_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

impl Settings {
    /// Defaults for tests: the given database, an ephemeral port, cheap scrypt, room for
    /// the many registrations a test makes from 127.0.0.1, and no flood control for tests
    /// that publish thousands of messages at once (tests of those limits set them back).
    pub fn for_tests(database_url: &str) -> Settings {
        let mut settings = Settings::parse_from(["joint-broker", "--database-url", database_url]);
        settings.listen = "127.0.0.1:0".into();
        settings.scrypt_log_n = 4;
        settings.scrypt_r = 1;
        settings.registrations_per_minute = 1000;
        settings.publish_rate = 0;
        settings
    }

    /// Checks relations between settings that flags alone cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_frame < 4096 {
            return Err("--max-frame must be at least 4096 bytes".into());
        }
        if self.max_body == 0 || self.max_body > self.max_frame - 1024 {
            return Err("--max-body must be between 1 and max-frame - 1024".into());
        }
        if self.max_connections == 0 || self.max_connections_per_ip == 0 || self.max_inflight == 0 {
            return Err("connection and in-flight limits must be at least 1".into());
        }
        if self.cluster_stale_ms < 2 * self.cluster_heartbeat_ms {
            return Err("--cluster-stale-ms must be at least twice --cluster-heartbeat-ms".into());
        }
        if self.publish_rate > 0 && self.publish_burst == 0 {
            return Err("--publish-burst must be at least 1 when --publish-rate is set".into());
        }
        if let Some(bad) = self.operators.iter().find(|login| crate::names::login("operator", login).is_err()) {
            return Err(format!("--operator {bad:?} is not a valid login"));
        }
        scrypt::Params::new(self.scrypt_log_n, self.scrypt_r, self.scrypt_p, 32)
            .map_err(|e| format!("invalid scrypt parameters: {e}"))?;
        Ok(())
    }

    /// The number of password hashes computed at once.
    pub fn hash_concurrency(&self) -> usize {
        self.hash_concurrency.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)).max(1)
    }

    /// Whether `login` is one of the configured operators.
    pub fn is_operator(&self, login: &str) -> bool {
        self.operators.iter().any(|operator| operator == login)
    }

    /// The idle limit for a connection in the given state.
    pub fn idle_limit(&self, authenticated: bool) -> Duration {
        Duration::from_millis(if authenticated { self.idle_authenticated_ms } else { self.idle_anonymous_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_well_formed() {
        Settings::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_contracts() {
        let s = Settings::parse_from(["joint-broker", "--database-url", "postgres://x"]);
        assert_eq!((s.max_frame, s.max_body), (1 << 20, 64 << 10));
        assert_eq!((s.max_connections, s.max_connections_per_ip), (10_000, 256));
        assert_eq!((s.login_failures, s.login_backoff_max_ms, s.registrations_per_minute), (5, 300_000, 10));
        assert_eq!((s.scrypt_log_n, s.scrypt_r, s.scrypt_p), (15, 8, 1));
        assert_eq!((s.idle_anonymous_ms, s.idle_authenticated_ms, s.idle_half_frame_ms), (30_000, 120_000, 30_000));
        assert_eq!((s.max_inflight, s.hash_queue, s.token_lifetime_secs), (256, 64, 2_592_000));
        assert!(s.operators.is_empty());
        assert_eq!(s.registration, Registration::Open);
        assert_eq!(s.read_database_url, None, "history reads the primary unless a standby is named");
        assert_eq!((s.publish_rate, s.publish_burst), (50, 200));
        assert_eq!(
            (s.max_groups_per_user, s.max_members_per_group, s.max_subscriptions_per_connection),
            (100, 10_000, 1_000)
        );
        assert!(s.validate().is_ok());
    }

    #[test]
    fn operators_repeat_and_are_checked() {
        let s = Settings::parse_from([
            "joint-broker",
            "--database-url",
            "postgres://x",
            "--operator",
            "root",
            "--operator",
            "mod.b",
            "--registration",
            "closed",
        ]);
        assert_eq!(s.operators, vec!["root".to_owned(), "mod.b".to_owned()]);
        assert!(s.is_operator("mod.b") && !s.is_operator("ann"));
        assert_eq!(s.registration, Registration::Closed);
        let bad = Settings::parse_from(["joint-broker", "--database-url", "postgres://x", "--operator", "Root"]);
        assert!(bad.validate().is_err(), "an operator login Joint would refuse");
    }
}
