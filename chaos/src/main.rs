//! `joint-chaos`: see the library's documentation; `scripts/chaos` is the usual way in.

use clap::Parser;
use joint_chaos::args::Args;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    let command = std::iter::once("scripts/chaos".to_owned()).chain(std::env::args().skip(1)).collect::<Vec<_>>();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("joint-chaos: starting the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(joint_chaos::run(args, &command.join(" "))) {
        Ok(outcome) if outcome.anomalies().total() == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("joint-chaos: {err:#}");
            ExitCode::from(2)
        }
    }
}
