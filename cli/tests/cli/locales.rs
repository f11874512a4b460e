//! Every locale in `locales/` is complete and clean for the whole workspace: no key missing,
//! no key that no code uses, the same placeholders as English, and no string left identical
//! to English unless the allow-list below says why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// (locale, key) pairs whose translation is rightly identical to English.
const SAME_AS_ENGLISH: &[(&str, &str)] = &[
    // German uses these words as they are: "Admin", "Name", "online", "Shell".
    ("de", "cli.col.admin"),
    ("de", "cli.col.name"),
    ("de", "cli.col.online"),
    ("de", "cli.help.shell"),
    // "no" is the Spanish word too.
    ("es", "cli.out.no"),
    ("es", "gui.no"),
];

/// The repository root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A locale file: one `"key": "value"` per line, `#` comments.
pub fn load(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once("\": ").unwrap_or_else(|| panic!("{}:{}: {line}", path.display(), n + 1));
        let key = key.strip_prefix('"').unwrap_or_else(|| panic!("{}:{}: unquoted key", path.display(), n + 1));
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
        let value = value.unwrap_or_else(|| panic!("{}:{}: unquoted value", path.display(), n + 1));
        assert!(map.insert(key.to_owned(), value.to_owned()).is_none(), "{}: {key} twice", path.display());
    }
    map
}

/// Every key passed to the translation macro in the workspace's Rust files.
fn used_keys() -> BTreeSet<String> {
    let macro_call = concat!("t", "!(\"");
    let mut keys = BTreeSet::new();
    let mut dirs = vec![workspace()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    dirs.push(path);
                }
            } else if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, m) in text.match_indices(macro_call) {
                    // `t!` alone, not the end of `format!` or `assert!`.
                    let before = text[..i].chars().next_back();
                    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        continue;
                    }
                    let rest = &text[i + m.len()..];
                    keys.insert(rest[..rest.find('"').unwrap()].to_owned());
                }
            }
        }
    }
    keys
}

fn placeholders(text: &str) -> BTreeSet<&str> {
    text.match_indices("%{").map(|(i, _)| &text[i..i + text[i..].find('}').unwrap_or(2) + 1]).collect()
}

#[test]
fn every_locale_is_complete_and_every_key_is_used() {
    let dir = workspace().join("locales");
    let english = load(&dir.join("en.yml"));
    let used = used_keys();
    let unused: Vec<_> = english.keys().filter(|k| !used.contains(*k)).collect();
    assert!(unused.is_empty(), "keys no code uses: {unused:?}");
    let missing: Vec<_> = used.iter().filter(|k| !english.contains_key(*k)).collect();
    assert!(missing.is_empty(), "keys missing from en.yml: {missing:?}");

    let mut locales = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let locale = path.file_stem().unwrap().to_string_lossy().into_owned();
        if locale != "en" {
            locales.push(locale.clone());
            let other = load(&path);
            let keys: BTreeSet<_> = other.keys().collect();
            let expected: BTreeSet<_> = english.keys().collect();
            assert_eq!(keys, expected, "{locale} has other keys than en");
            for (key, text) in &other {
                assert_eq!(placeholders(text), placeholders(&english[key]), "{locale}: {key}");
                let allowed = SAME_AS_ENGLISH.contains(&(locale.as_str(), key.as_str()));
                assert_eq!(text == &english[key], allowed, "{locale}: {key} is {text:?} (identical to English?)");
            }
        }
    }
    locales.sort();
    assert_eq!(locales, ["de", "es", "fr", "ru", "uk", "zh-CN"]);
}
