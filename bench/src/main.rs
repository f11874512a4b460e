//! `joint-bench`: see the crate documentation in `lib.rs`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    joint_bench::run(joint_bench::args::Args::parse()).await
}
