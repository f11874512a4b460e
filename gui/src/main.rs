//! `joint-gui`: the desktop chat window.

use clap::Parser;
use joint_gui::app::{run, Options};
use std::path::PathBuf;

/// The desktop chat of Joint.
#[derive(Parser)]
#[command(name = "joint-gui", version)]
struct Args {
    /// Broker address host:port (else the one remembered from the last sign-in).
    #[arg(long, env = "JOINT_BROKER")]
    broker: Option<String>,
    /// Interface language: en, ru, de, es, fr, zh-CN or uk (else the remembered or the environment's).
    #[arg(long)]
    lang: Option<String>,
    /// Write the window's state as JSON to this file after every change (for tests).
    #[arg(long, env = "JOINT_GUI_STATE_FILE", hide = true)]
    state_file: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    run(Options { broker: args.broker, language: args.lang, state_file: args.state_file })?;
    Ok(())
}
