//! Every interface language has an installed font that covers it.

use std::process::Command;

#[test]
fn every_language_has_an_installed_font() {
    crate::harness::require("fc-list");
    for lang in joint_gui::i18n::LANGUAGES {
        // fontconfig names Simplified Chinese zh-cn.
        let query = format!(":lang={}", lang.to_ascii_lowercase());
        let out = Command::new("fc-list").args([query.as_str(), "family"]).output().expect("fc-list runs");
        let families = String::from_utf8_lossy(&out.stdout);
        assert!(
            !families.trim().is_empty(),
            "no installed font covers {lang}: install fonts-dejavu-core and fonts-wqy-microhei"
        );
    }
}
