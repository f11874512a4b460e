//! Shell completions and the man page, generated from the clap definition.

use crate::args::{Cli, Completions, Shell};
use crate::error::CliResult;
use clap::CommandFactory;

/// `joint completions bash|zsh|fish`.
pub fn completions(args: Completions) -> CliResult {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = std::io::stdout();
    clap_complete::generate(shell, &mut Cli::command(), "joint", &mut out);
    Ok(())
}

/// `joint man`: the man page in roff.
pub fn man() -> CliResult {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
    Ok(())
}
