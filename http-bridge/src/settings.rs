//! Every knob of the bridge in one struct: flags with `JOINT_HTTP_*` environment fallbacks.
//! Tests build it with [`Settings::for_tests`] and edit it.

use clap::Parser;
use joint_wire::{TlsConfig, TlsError};
use std::path::PathBuf;
use std::time::Duration;

/// The bridge's configuration.
#[derive(Debug, Clone, Parser)]
#[command(name = "joint-http-bridge", version, about = "Joint over HTTP: JSON REST and Server-Sent Events")]
pub struct Settings {
    /// Address to listen on for HTTP.
    #[arg(long, env = "JOINT_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Broker addresses (`host:port`), tried in order; repeat the flag or separate with commas.
    #[arg(long = "broker", env = "JOINT_HTTP_BROKERS", value_delimiter = ',', default_value = "127.0.0.1:7878")]
    pub brokers: Vec<String>,

    /// Largest request body accepted, in bytes (larger ones get 413 `body_too_large`).
    #[arg(long, env = "JOINT_HTTP_MAX_REQUEST_BYTES", default_value_t = 1024 * 1024)]
    pub max_request_bytes: usize,

    /// Live streams one session token may hold open at once.
    #[arg(long, env = "JOINT_HTTP_STREAMS_PER_TOKEN", default_value_t = 8)]
    pub streams_per_token: usize,

    /// Shared broker connections one session token may hold (one per client address); past
    /// it, the least recently used one closes.
    #[arg(long, env = "JOINT_HTTP_SHARED_PER_TOKEN", default_value_t = 8)]
    pub shared_per_token: usize,

    /// Longest wait for a request's head (request line and headers), in milliseconds; a
    /// client slower than that is disconnected.
    #[arg(long, env = "JOINT_HTTP_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,

    /// Longest wait for a whole request body, in milliseconds (then 408 `request_timeout`).
    #[arg(long, env = "JOINT_HTTP_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_timeout_ms: u64,

    /// Longest wait for the broker's answer to one request, in milliseconds (then 503 `unavailable`).
    #[arg(long, env = "JOINT_HTTP_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,

    /// Longest wait to open a connection to one broker address, in milliseconds.
    #[arg(long, env = "JOINT_HTTP_CONNECT_TIMEOUT_MS", default_value_t = 5_000)]
    pub connect_timeout_ms: u64,

    /// A token's shared broker connection is closed after this many milliseconds unused.
    #[arg(long, env = "JOINT_HTTP_IDLE_MS", default_value_t = 300_000)]
    pub idle_ms: u64,

    /// Interval of the keep-alive comments on live streams, in milliseconds.
    #[arg(long, env = "JOINT_HTTP_KEEP_ALIVE_MS", default_value_t = 15_000)]
    pub keep_alive_ms: u64,

    /// Origins allowed by CORS (repeat or separate with commas; `*` for any). CORS is off
    /// when none is given.
    #[arg(long = "cors-origin", env = "JOINT_HTTP_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Speak TLS to the broker, trusting the system's root certificates.
    #[arg(long, env = "JOINT_TLS", value_parser = clap::builder::BoolishValueParser::new())]
    pub tls: bool,

    /// Speak TLS to the broker, trusting the CA certificates of this PEM file (implies --tls).
    #[arg(long, env = "JOINT_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

impl Settings {
    /// Defaults for tests: an ephemeral port and the given broker.
    pub fn for_tests(broker: &str) -> Settings {
        let mut settings = Settings::parse_from(["joint-http-bridge", "--broker", broker]);
        settings.listen = "127.0.0.1:0".into();
        settings
    }

    /// Checks relations between settings that flags alone cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.brokers.iter().all(|b| b.trim().is_empty()) {
            return Err("--broker needs at least one address".into());
        }
        if self.max_request_bytes == 0 || self.streams_per_token == 0 || self.shared_per_token == 0 {
            return Err("--max-request-bytes, --streams-per-token and --shared-per-token must be at least 1".into());
        }
        let timeouts = [
            self.request_timeout_ms,
            self.connect_timeout_ms,
            self.header_timeout_ms,
            self.body_timeout_ms,
            self.keep_alive_ms,
        ];
        if timeouts.contains(&0) {
            return Err("timeouts and the keep-alive interval must be at least 1 ms".into());
        }
        Ok(())
    }

    /// The TLS configuration for broker connections that `--tls` or `--tls-ca` asks for.
    pub fn broker_tls(&self) -> Result<Option<TlsConfig>, TlsError> {
        if self.tls || self.tls_ca.is_some() {
            TlsConfig::new(self.tls_ca.as_deref()).map(Some)
        } else {
            Ok(None)
        }
    }

    /// How long one broker request may take.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
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
    fn brokers_are_repeatable_or_comma_separated() {
        let s = Settings::parse_from(["b", "--broker", "a:1,b:2", "--broker", "c:3"]);
        assert_eq!(s.brokers, ["a:1", "b:2", "c:3"]);
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert!(s.cors_origins.is_empty());
        assert!(s.validate().is_ok());
    }
}
