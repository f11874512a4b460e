//! What the window remembers between runs: the broker addresses, the language and the saved
//! session, in `$XDG_CONFIG_HOME/joint/gui.json` (else `$HOME/.config/joint/gui.json`),
//! mode 0600 because it holds a session token.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

/// The broker address used when none was given or remembered.
pub const DEFAULT_BROKER: &str = "127.0.0.1:7878";

/// A session kept by "Disconnect", resumed by "Continue" in the sign-in window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSession {
    /// The broker addresses (comma-separated) the token was used with.
    pub broker: String,
    /// Whose session it is (shown on the button).
    pub login: String,
    /// The session token; never logged.
    pub token: String,
}

/// The remembered settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The broker addresses last signed in with, comma-separated.
    pub broker: Option<String>,
    /// The interface language.
    pub language: Option<String>,
    /// The session kept by "Disconnect".
    pub session: Option<SavedSession>,
}

/// Where the settings live and how they are read and written.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: Option<PathBuf>,
}

impl ConfigFile {
    /// The user's file; without XDG_CONFIG_HOME and HOME nothing is remembered.
    pub fn for_user() -> ConfigFile {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")));
        ConfigFile { path: base.map(|b| b.join("joint").join("gui.json")) }
    }

    /// The remembered settings; a missing or unreadable file remembers nothing.
    pub fn load(&self) -> Remembered {
        self.path
            .as_ref()
            .and_then(|p| fs::read_to_string(p).ok())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// Writes the settings, readable by the user only.
    pub fn save(&self, remembered: &Remembered) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if let Some(dir) = path.parent() {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        // `mode` applies only to a file this call creates: a stale one keeps its own.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(serde_json::to_string_pretty(remembered).map_err(std::io::Error::other)?.as_bytes())?;
        file.sync_all()?;
        fs::rename(tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn settings_round_trip_privately() {
        let dir = tempfile::tempdir().unwrap();
        let file = ConfigFile { path: Some(dir.path().join("joint").join("gui.json")) };
        assert_eq!(file.load(), Remembered::default(), "nothing remembered yet");
        let remembered = Remembered {
            broker: Some("10.0.0.1:7878".into()),
            language: Some("uk".into()),
            session: Some(SavedSession { broker: "10.0.0.1:7878".into(), login: "ann".into(), token: "t".into() }),
        };
        file.save(&remembered).unwrap();
        assert_eq!(file.load(), remembered);
        let mode = fs::metadata(dir.path().join("joint").join("gui.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A stale temporary file left readable by others does not leak the token.
        let tmp = dir.path().join("joint").join("gui.json.tmp");
        fs::write(&tmp, "stale").unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).unwrap();
        file.save(&remembered).unwrap();
        let mode = fs::metadata(dir.path().join("joint").join("gui.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::write(dir.path().join("joint").join("gui.json"), "not json").unwrap();
        assert_eq!(file.load(), Remembered::default(), "a broken file is ignored");
    }
}
