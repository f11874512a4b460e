//! The saved sessions: `$XDG_CONFIG_HOME/joint/tokens` (else `$HOME/.config/joint/tokens`),
//! mode 0600, one line `ADDRESS TOKEN` per broker address. Tokens are never printed.

use crate::error::{CliError, CliResult};
use rust_i18n::t;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

/// The token file of the current user.
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    /// The store in the user's config directory.
    pub fn locate() -> CliResult<Self> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
            .ok_or_else(|| CliError::Local(t!("cli.err.no_config_dir").to_string()))?;
        Ok(TokenStore { path: base.join("joint").join("tokens") })
    }

    fn entries(&self) -> CliResult<Vec<(String, String)>> {
        match fs::read_to_string(&self.path) {
            Ok(text) => Ok(text
                .lines()
                .filter_map(|line| line.split_once(' '))
                .map(|(key, token)| (key.to_owned(), token.to_owned()))
                .collect()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(self.failure(err)),
        }
    }

    fn failure(&self, err: std::io::Error) -> CliError {
        CliError::Local(t!("cli.err.token_file", path = self.path.display(), detail = err.to_string()).to_string())
    }

    /// The token saved for the first of `keys` that has one.
    pub fn get(&self, keys: &[String]) -> CliResult<Option<String>> {
        let entries = self.entries()?;
        Ok(keys.iter().find_map(|key| entries.iter().find(|(k, _)| k == key).map(|(_, token)| token.clone())))
    }

    /// Saves (`Some`) or forgets (`None`) the token under each of `keys`, keeping the other entries.
    pub fn set(&self, keys: &[String], token: Option<&str>) -> CliResult {
        let mut entries: Vec<(String, String)> =
            self.entries()?.into_iter().filter(|(k, _)| !keys.contains(k)).collect();
        if let Some(token) = token {
            for key in keys {
                if !entries.iter().any(|(k, _)| k == key) {
                    entries.push((key.clone(), token.to_owned()));
                }
            }
        }
        self.write(&entries)
    }

    /// Forgets `token` wherever one of `keys` holds it (a token the broker refused).
    pub fn forget(&self, keys: &[String], token: &str) -> CliResult {
        let entries: Vec<(String, String)> =
            self.entries()?.into_iter().filter(|(k, t)| !(keys.contains(k) && t == token)).collect();
        self.write(&entries)
    }

    /// Replaces the file with `entries`.
    fn write(&self, entries: &[(String, String)]) -> CliResult {
        let dir = self.path.parent().expect("the token file lives in a directory");
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| self.failure(e))?;
        // Written to a private temporary file first, then renamed: never readable by others,
        // never half-written. A file left under that name by a crashed run is removed, not
        // reused with whatever mode it has; the new one is created afresh and made 0600.
        let temp = dir.join(format!("tokens.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            match fs::remove_file(&temp) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
            let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
            for (key, token) in entries {
                writeln!(file, "{key} {token}")?;
            }
            file.sync_all()?;
            fs::rename(&temp, &self.path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&temp);
            self.failure(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_temporary_file_does_not_lend_its_mode_to_the_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore { path: dir.path().join("tokens") };
        // What a crashed run with this pid left behind: readable by everyone.
        let stale = dir.path().join(format!("tokens.{}.tmp", std::process::id()));
        fs::write(&stale, "old junk\n").unwrap();
        fs::set_permissions(&stale, fs::Permissions::from_mode(0o644)).unwrap();

        store.set(&["127.0.0.1:7878".to_owned()], Some("secret")).unwrap();
        let mode = fs::metadata(&store.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
        assert_eq!(fs::read_to_string(&store.path).unwrap(), "127.0.0.1:7878 secret\n");
        assert!(!stale.exists(), "the temporary file was renamed");
    }
}
