//! The `joint-broker` command line: the settings' flags, `--config`, and the subcommands.
//! Plain `joint-broker [flags]` serves; a subcommand does one maintenance job and exits.

use crate::config::{self, ConfigError};
use crate::settings::Settings;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// The whole command line.
#[derive(Debug, Parser)]
#[command(name = "joint-broker", version, about = "The Joint chat broker")]
pub struct Cli {
    /// Read settings from this TOML file (keys are the flags' long names); environment and
    /// flags override it.
    #[arg(long, env = "JOINT_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Every setting of the broker.
    #[command(flatten)]
    pub settings: Settings,

    /// A maintenance job instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The maintenance jobs.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Apply pending database migrations, list them, and exit.
    Migrate,
    /// Report whether the database is reachable, its schema version and row counts.
    Status,
    /// Check every setting (file, environment, flags) and print the effective ones, secrets
    /// redacted; exit non-zero with the reason when something is wrong.
    CheckConfig,
    /// Import the accounts, groups and memberships of the old chat (its `users`, `chats`
    /// and `users_to_chats` tables), hashing its plain-text passwords, and print a report of
    /// what was imported and what could not be, with the reason. Running it again imports
    /// nothing new.
    ImportLegacy(ImportLegacyArgs),
    /// Create an account directly in the database, the password read from the first line
    /// of standard input: how an operator's account is made (`register` refuses operator
    /// logins, so nobody else can take one first).
    UserCreate(UserCreateArgs),
}

/// `user-create`'s own flags.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct UserCreateArgs {
    /// The account's login.
    #[arg(long)]
    pub login: String,
    /// Its display name (default: the login).
    #[arg(long)]
    pub name: Option<String>,
}

/// `import-legacy`'s own flags.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ImportLegacyArgs {
    /// The old chat's PostgreSQL URL.
    #[arg(long, value_name = "POSTGRES_URL", env = "JOINT_LEGACY_DATABASE_URL", hide_env_values = true)]
    pub from: String,
    /// Import an old login Joint's rules refuse under this Joint login (the report proposes
    /// one for each); repeatable.
    #[arg(long = "map", value_name = "OLD=NEW", value_parser = rename)]
    pub maps: Vec<(String, String)>,
    /// Import an old chat whose name Joint's rules refuse under this group name; repeatable.
    #[arg(long = "map-group", value_name = "OLD=NEW", value_parser = rename)]
    pub group_maps: Vec<(String, String)>,
    /// Report what would be imported, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Splits `OLD=NEW` at its last `=` (a Joint login never holds one).
fn rename(value: &str) -> Result<(String, String), String> {
    match value.rsplit_once('=') {
        Some((old, new)) if !old.is_empty() && !new.is_empty() => Ok((old.to_owned(), new.to_owned())),
        _ => Err(format!("expected OLD=NEW, got {value:?}")),
    }
}

/// A parsed command line with what `check-config` needs to tell where each value came from.
#[derive(Debug)]
pub struct Invocation {
    /// The parsed command line.
    pub cli: Cli,
    /// The raw matches, for each setting's value and source.
    pub matches: ArgMatches,
    /// The long names of the settings the configuration file supplied.
    pub from_file: Vec<String>,
}

/// Why the command line could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The configuration file is unreadable or holds a key or value no flag accepts.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// clap refused the flags (or printed help or the version).
    #[error(transparent)]
    Clap(#[from] clap::Error),
}

/// The clap command, every setting usable before or after a subcommand. clap refuses a
/// global argument that is required, so required settings are checked after parsing
/// ([`missing_required`]); their help says "required".
pub fn command() -> clap::Command {
    Cli::command()
        .mut_args(|arg| if arg.is_required_set() { arg.required(false).global(true) } else { arg.global(true) })
}

/// The settings clap would have required: `Cli::command()` still marks them so.
fn missing_required(matches: &ArgMatches) -> Option<clap::Error> {
    let cli = Cli::command();
    let missing: Vec<String> = cli
        .get_arguments()
        .filter(|arg| arg.is_required_set() && matches.value_source(arg.get_id().as_str()).is_none())
        .map(|arg| format!("--{}", arg.get_long().unwrap_or(arg.get_id().as_str())))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let message = format!("the following required settings were not provided: {}", missing.join(", "));
    Some(command().error(clap::error::ErrorKind::MissingRequiredArgument, message))
}

/// Parses `args` (the program name first): the configuration file's settings count as if
/// given as flags, unless the same flag is on the command line or its environment variable
/// is set, so the order of precedence is file < environment < flag.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Invocation, ParseError> {
    let args: Vec<OsString> = args.into_iter().collect();
    let command = command();
    let (file_args, from_file) = match config::path(&args) {
        Some(path) => {
            let file = config::read(&command, &path, &args, |name| std::env::var_os(name).is_some())?;
            (file.args, file.keys)
        }
        None => (Vec::new(), Vec::new()),
    };
    let mut full = Vec::with_capacity(args.len() + file_args.len());
    full.extend(args.first().cloned());
    full.extend(file_args);
    full.extend(args.into_iter().skip(1));
    let matches = command.try_get_matches_from(full)?;
    if let Some(err) = missing_required(&matches) {
        return Err(err.into());
    }
    let cli = Cli::from_arg_matches(&matches)?;
    Ok(Invocation { cli, matches, from_file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn settings_work_after_the_subcommand() {
        let args = ["joint-broker", "status", "--database-url", "postgres://x", "--max-frame", "8192"];
        let invocation = parse(args.map(OsString::from)).unwrap();
        assert_eq!(invocation.cli.command, Some(Command::Status));
        assert_eq!(invocation.cli.settings.database_url, "postgres://x");
        assert_eq!(invocation.cli.settings.max_frame, 8192);
    }

    #[test]
    fn a_missing_required_setting_is_named() {
        let err = parse(["joint-broker", "status"].map(OsString::from)).unwrap_err();
        assert!(err.to_string().contains("--database-url"), "{err}");
    }

    #[test]
    fn import_legacy_takes_its_maps() {
        let args = [
            "joint-broker",
            "import-legacy",
            "--from",
            "postgres://old",
            "--map",
            "Иван=ivan",
            "--map",
            "a=b=c",
            "--map-group",
            "a/b=a-b",
            "--dry-run",
            "--database-url",
            "postgres://x",
        ];
        let invocation = parse(args.map(OsString::from)).unwrap();
        let Some(Command::ImportLegacy(import)) = invocation.cli.command else { panic!("not import-legacy") };
        assert_eq!(import.from, "postgres://old");
        assert_eq!(import.maps, [("Иван".into(), "ivan".into()), ("a=b".into(), "c".into())]);
        assert_eq!(import.group_maps, [("a/b".into(), "a-b".into())]);
        assert!(import.dry_run);
        let bad = parse(["joint-broker", "import-legacy", "--from", "x", "--map", "nothing"].map(OsString::from));
        assert!(bad.unwrap_err().to_string().contains("expected OLD=NEW"));
    }

    #[test]
    fn plain_flags_serve() {
        let invocation = parse(["joint-broker", "--database-url", "postgres://x"].map(OsString::from)).unwrap();
        assert_eq!(invocation.cli.command, None);
    }
}
