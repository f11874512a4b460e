//! `joint-gui`: the desktop chat window.

use clap::Parser;
use joint_gui::app::{run, Options};
use std::path::PathBuf;

/// The desktop chat of Joint.
#[derive(Parser)]
#[command(name = "joint-gui", version)]
struct Args {
    /// Broker address host:port, repeatable or comma-separated: the brokers of one cluster,
    /// tried in order, and the next one when the one in use goes away (else the addresses
    /// remembered from the last sign-in).
    #[arg(long, env = "JOINT_BROKER", value_delimiter = ',')]
    broker: Vec<String>,
    /// Interface language: en, ru, de, es, fr, zh-CN or uk (else the remembered or the environment's).
    #[arg(long)]
    lang: Option<String>,
    /// Speak TLS to the broker, trusting the system's root certificates.
    #[arg(long, env = "JOINT_TLS", value_parser = clap::builder::BoolishValueParser::new())]
    tls: bool,
    /// Speak TLS to the broker, trusting the CA certificates of this PEM file (implies --tls).
    #[arg(long, value_name = "FILE", env = "JOINT_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// Write the window's state as JSON to this file after every change (for tests).
    #[arg(long, env = "JOINT_GUI_STATE_FILE", hide = true)]
    state_file: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tls = match (args.tls, &args.tls_ca) {
        (false, None) => None,
        (_, ca) => Some(joint_wire::TlsConfig::new(ca.as_deref())?),
    };
    run(Options { broker: args.broker, language: args.lang, state_file: args.state_file, tls })?;
    Ok(())
}
