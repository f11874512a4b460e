//! The configuration file: a TOML file whose keys are the broker's flags by their long
//! names (`max-frame = 1048576`, `trusted-proxy = ["10.0.0.5"]`). Nothing here lists the
//! settings: the keys are whatever flags the clap command has, so a flag added later is
//! accepted in the file with no code of its own.

use clap::{Arg, ArgAction, ArgMatches, Command};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Flags of the command that are not settings.
const NOT_SETTINGS: [&str; 3] = ["config", "help", "version"];

/// Why the configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key that names no flag.
    #[error("{path}: unknown setting `{key}`{hint}")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// A suggestion, when the key is close to a setting's name.
        hint: String,
    },
    /// A value of a type the flag cannot take.
    #[error("{path}: setting `{key}`: {reason}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with its value.
        reason: String,
    },
}

/// The settings a file supplies, as flags.
#[derive(Debug, Default)]
pub struct FileArgs {
    /// `--name=value` arguments for the keys that neither a flag nor the environment set.
    pub args: Vec<OsString>,
    /// The long names of those keys.
    pub keys: Vec<String>,
}

/// The configuration file named by `--config FILE` (or `--config=FILE`) anywhere in `args`,
/// or else by `JOINT_CONFIG`.
pub fn path(args: &[OsString]) -> Option<PathBuf> {
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        if word == "--config" {
            return words.next().map(PathBuf::from);
        }
        if let Some(value) = word.to_str().and_then(|w| w.strip_prefix("--config=")) {
            return Some(PathBuf::from(value));
        }
    }
    std::env::var_os("JOINT_CONFIG").map(PathBuf::from)
}

/// Reads `path` and turns each key into flags for `command`, skipping keys whose flag is in
/// `given` (the command line) or whose environment variable `env_is_set` says is set.
pub fn read(
    command: &Command,
    path: &Path,
    given: &[OsString],
    env_is_set: impl Fn(&OsStr) -> bool,
) -> Result<FileArgs, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax { path: path.to_owned(), message: e.to_string() })?;
    let mut file = FileArgs::default();
    for (key, value) in table {
        let Some(arg) = setting(command, &key) else {
            let hint = suggestion(command, &key).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
            return Err(ConfigError::UnknownKey { path: path.to_owned(), key, hint });
        };
        let bad = |reason: String| ConfigError::BadValue { path: path.to_owned(), key: key.clone(), reason };
        let words = flag_words(arg, &key, &value).map_err(bad)?;
        if on_command_line(given, &key) || arg.get_env().is_some_and(&env_is_set) {
            continue;
        }
        file.args.extend(words);
        file.keys.push(key);
    }
    Ok(file)
}

/// The setting named `key`, if the command has such a flag.
fn setting<'a>(command: &'a Command, key: &str) -> Option<&'a Arg> {
    settings(command).find(|arg| arg.get_long() == Some(key))
}

/// Every flag of the command that is a setting.
fn settings(command: &Command) -> impl Iterator<Item = &Arg> {
    command.get_arguments().filter(|arg| arg.get_long().is_some_and(|long| !NOT_SETTINGS.contains(&long)))
}

/// `database_url` for `database-url`, and the like.
fn suggestion(command: &Command, key: &str) -> Option<String> {
    let dashed = key.replace('_', "-").to_lowercase();
    setting(command, &dashed).map(|_| dashed)
}

fn on_command_line(given: &[OsString], long: &str) -> bool {
    let flag = format!("--{long}");
    let with_value = format!("--{long}=");
    given.iter().skip(1).filter_map(|w| w.to_str()).any(|w| w == flag || w.starts_with(&with_value))
}

/// The command-line words that say what `value` says for the flag `arg`.
fn flag_words(arg: &Arg, long: &str, value: &toml::Value) -> Result<Vec<OsString>, String> {
    match (arg.get_action(), value) {
        (ArgAction::SetTrue, toml::Value::Boolean(on)) => {
            Ok(if *on { vec![format!("--{long}").into()] } else { vec![] })
        }
        (ArgAction::SetTrue, _) => Err("takes true or false".into()),
        (ArgAction::Append, toml::Value::Array(items)) => items
            .iter()
            .map(|item| scalar(item).map(|v| format!("--{long}={v}").into()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| format!("in the list: {reason}")),
        (_, toml::Value::Array(_)) => Err("takes one value, not a list".into()),
        (_, value) => Ok(vec![format!("--{long}={}", scalar(value)?).into()]),
    }
}

fn scalar(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(d) => Ok(d.to_string()),
        toml::Value::Array(_) => Err("a list is not a single value".into()),
        toml::Value::Table(_) => Err("a table is not a value; settings are top-level keys".into()),
    }
}

/// The effective settings as TOML lines a configuration file could hold, each followed by
/// where its value came from; secrets (flags whose environment values clap hides) redacted.
pub fn effective(command: &Command, matches: &ArgMatches, from_file: &[String]) -> String {
    let mut out = String::new();
    for arg in settings(command) {
        let long = arg.get_long().unwrap_or_default();
        let id = arg.get_id().as_str();
        let values: Vec<String> =
            matches.get_raw(id).map(|raw| raw.map(|v| v.to_string_lossy().into_owned()).collect()).unwrap_or_default();
        let source = if from_file.iter().any(|k| k == long) {
            "file"
        } else {
            match matches.value_source(id) {
                Some(clap::parser::ValueSource::CommandLine) => "flag",
                Some(clap::parser::ValueSource::EnvVariable) => "environment",
                Some(clap::parser::ValueSource::DefaultValue) => "default",
                _ => "unset",
            }
        };
        let secret = arg.is_hide_env_values_set();
        let shown = |v: &String| toml_value(&if secret { redact(v) } else { v.clone() });
        let value = match (arg.get_action(), values.as_slice()) {
            (ArgAction::Append, values) => format!("[{}]", values.iter().map(shown).collect::<Vec<_>>().join(", ")),
            (_, []) => {
                out.push_str(&format!("# {long} is not set\n"));
                continue;
            }
            (_, [one, ..]) => shown(one),
        };
        out.push_str(&format!("{long} = {value}  # {source}\n"));
    }
    out
}

/// A value as TOML: numbers and booleans bare, anything else quoted.
fn toml_value(value: &str) -> String {
    if value.parse::<i64>().is_ok() || value == "true" || value == "false" {
        value.to_owned()
    } else {
        toml::Value::String(value.to_owned()).to_string()
    }
}

/// A PostgreSQL connection string (URL or `key=value` form) as it is safe to show: user,
/// hosts, port and database, the password as `***` when there is one, other parameters left
/// out (they may hold secrets too). Read the way the driver reads it, so that a password
/// holding `/`, `@` or quotes cannot slip through; anything unparsable is hidden whole.
pub fn redact(secret: &str) -> String {
    let Ok(config) = secret.parse::<tokio_postgres::Config>() else { return "***".into() };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    let port = if ports.is_empty() { String::new() } else { format!(":{}", ports.join(",")) };
    let password = if config.get_password().is_some() { ":***" } else { "" };
    let user = match config.get_user() {
        Some(user) => format!("{user}{password}@"),
        None if !password.is_empty() => format!("{password}@"),
        None => String::new(),
    };
    format!("postgres://{user}{}{port}/{}", hosts.join(","), config.get_dbname().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli;

    fn file_with(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    fn read_text(text: &str, given: &[&str]) -> Result<FileArgs, ConfigError> {
        let file = file_with(text);
        let given: Vec<OsString> = given.iter().map(OsString::from).collect();
        read(&cli::command(), file.path(), &given, |_| false)
    }

    #[test]
    fn keys_become_flags_and_lists_repeat_them() {
        let file = read_text(
            "max-frame = 8192\ninsecure-plaintext = true\ntrusted-proxy = [\"10.0.0.1\", \"10.0.0.2\"]\n",
            &[],
        )
        .unwrap();
        let args: Vec<_> = file.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.contains(&"--max-frame=8192".to_string()));
        assert!(args.contains(&"--insecure-plaintext".to_string()));
        assert!(args.contains(&"--trusted-proxy=10.0.0.1".to_string()));
        assert!(args.contains(&"--trusted-proxy=10.0.0.2".to_string()));
    }

    #[test]
    fn a_flag_on_the_command_line_wins() {
        let file = read_text("max-frame = 8192\n", &["joint-broker", "--max-frame=9000"]).unwrap();
        assert!(file.args.is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_types_are_named() {
        let err = read_text("max-frames = 1\n", &[]).unwrap_err().to_string();
        assert!(err.contains("unknown setting `max-frames`"), "{err}");
        let err = read_text("max_frame = 1\n", &[]).unwrap_err().to_string();
        assert!(err.contains("did you mean `max-frame`"), "{err}");
        let err = read_text("max-frame = [1, 2]\n", &[]).unwrap_err().to_string();
        assert!(err.contains("`max-frame`: takes one value"), "{err}");
        let err = read_text("insecure-plaintext = \"yes\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("takes true or false"), "{err}");
        let err = read_text("[broker]\nlisten = \"x\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("unknown setting `broker`"), "{err}");
        assert!(matches!(read_text("listen = \n", &[]), Err(ConfigError::Syntax { .. })));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://joint:s3cret@db.example:5432/joint"),
            "postgres://joint:***@db.example:5432/joint"
        );
        let with_query = redact("postgres://joint@db/joint?password=s3cret&application_name=x");
        assert!(with_query.starts_with("postgres://joint:***@db") && with_query.ends_with("/joint"), "{with_query}");
        assert_eq!(redact("postgres://joint:s3cret@db/joint?not_a_parameter=1"), "***");
        assert_eq!(redact("host=db user=joint password=s3cret"), "postgres://joint:***@db/");
        assert_eq!(redact("postgres://joint@db/joint"), "postgres://joint@db:5432/joint");
        assert_eq!(redact("opaque"), "***");
        // Passwords the driver accepts that a hand-made parser would cut in the wrong place.
        for (url, secret) in [
            ("postgres://joint:ab/cd@db.example/joint", "ab/cd"),
            ("postgres://joint:a@b@db.example/joint", "a@b"),
            ("host=db user=joint password='s3 cret'", "cret"),
            ("postgres://joint@db/joint?sslpassword=k3y", "k3y"),
        ] {
            let shown = redact(url);
            assert!(!shown.contains(secret), "{url} shown as {shown}");
        }
    }

    /// Every flag that may be repeated splits its environment value on a delimiter, so a
    /// list works in every place a setting can come from.
    #[test]
    fn repeatable_settings_have_a_delimiter() {
        for arg in settings(&cli::command()) {
            if matches!(arg.get_action(), ArgAction::Append) {
                assert!(arg.get_value_delimiter().is_some(), "--{:?} needs value_delimiter", arg.get_long());
            }
        }
    }

    /// README's table of settings is this function's output; it fails, printing the table,
    /// when a flag is added or changed without updating README.
    #[test]
    fn readme_lists_every_setting_with_its_default() {
        // Before `cli::command` turns required settings into checked-after-parsing ones.
        let command = <cli::Cli as clap::CommandFactory>::command();
        let mut table =
            String::from("| Setting (flag and file key) | Environment | Default | Meaning |\n|---|---|---|---|\n");
        for arg in settings(&command) {
            let long = arg.get_long().unwrap_or_default();
            let env = arg.get_env().map(|e| format!("`{}`", e.to_string_lossy())).unwrap_or_default();
            let defaults: Vec<String> =
                arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            let default = match (arg.get_action(), defaults.as_slice()) {
                (ArgAction::SetTrue, _) => "`false`".to_string(),
                (_, []) if arg.is_required_set() => "required".to_string(),
                (ArgAction::Append, []) => "none".to_string(),
                (_, []) => "unset".to_string(),
                (_, values) => format!("`{}`", values.join(",")),
            };
            let help = arg.get_help().map(|h| h.to_string().replace('\n', " ").replace('|', "\\|")).unwrap_or_default();
            table.push_str(&format!("| `--{long}` | {env} | {default} | {help} |\n"));
        }
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        assert!(readme.contains(&table), "README.md must hold this table of settings:\n\n{table}");
    }
}
