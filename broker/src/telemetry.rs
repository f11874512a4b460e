//! Logging setup. Dependencies' levels are capped whatever `RUST_LOG` says, because
//! tokio-postgres logs statement parameters (passwords, hashes, bodies) at DEBUG.

use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::Layer;

/// Targets that may log secrets below INFO.
const CAPPED_TARGETS: [&str; 3] = ["tokio_postgres", "postgres", "deadpool"];

/// Installs the global subscriber, writing to stderr. `RUST_LOG` chooses levels (default
/// `info`); targets in [`CAPPED_TARGETS`] never go below INFO.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let cap = tracing_subscriber::filter::filter_fn(|meta| {
        let capped = CAPPED_TARGETS.iter().any(|t| meta.target().starts_with(t));
        !capped || *meta.level() <= LevelFilter::INFO
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_filter(filter)
        .with_filter(cap);
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
