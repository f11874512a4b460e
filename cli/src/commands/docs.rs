//! Shell completions and the man page, generated from the clap definition.

use crate::args::{Cli, Completions, Shell};
use crate::error::CliResult;
use clap::CommandFactory;
use std::io::Write;

/// `joint completions bash|zsh|fish`. The script is generated in memory first: clap_complete
/// panics on a failed write, while a closed stdout must end `joint` quietly.
pub fn completions(args: Completions) -> CliResult {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "joint", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}

/// `joint man`: the man page in roff.
pub fn man() -> CliResult {
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    out.flush()?;
    Ok(())
}
