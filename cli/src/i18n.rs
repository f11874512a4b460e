//! The user's language (`--lang`, else the environment's locale) and the translated
//! sentence for each broker error code.

use joint_wire::ErrorCode;
use rust_i18n::t;
use std::ffi::OsString;

/// The languages `joint` speaks; the first is the fallback.
pub const LANGUAGES: [&str; 7] = ["en", "ru", "de", "es", "fr", "zh-CN", "uk"];

/// Sets the process's locale from `--lang` in `argv`, else from LC_ALL, LC_MESSAGES or LANG.
/// Runs before clap so that help texts are translated too.
pub fn select(argv: &[OsString]) {
    let from_args = argv.iter().enumerate().find_map(|(i, arg)| {
        let arg = arg.to_str()?;
        if arg == "--lang" {
            argv.get(i + 1)?.to_str().map(str::to_owned)
        } else {
            arg.strip_prefix("--lang=").map(str::to_owned)
        }
    });
    let from_env =
        || ["LC_ALL", "LC_MESSAGES", "LANG"].iter().find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()));
    // An unknown `--lang` is refused once the command line is parsed; its message then
    // speaks the environment's language.
    let from_args = from_args.filter(|lang| supported(lang).is_some());
    let wanted = from_args.or_else(from_env).unwrap_or_default();
    rust_i18n::set_locale(resolve(&wanted));
}

/// The supported language a POSIX locale or language tag names (`ru_RU.UTF-8` → `ru`,
/// `zh_CN` → `zh-CN`), if any.
pub fn supported(wanted: &str) -> Option<&'static str> {
    let tag = wanted.split(['.', '@']).next().unwrap_or("").replace('_', "-");
    if let Some(exact) = LANGUAGES.iter().find(|l| l.eq_ignore_ascii_case(&tag)) {
        return Some(exact);
    }
    let language = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
    LANGUAGES.iter().find(|l| l.split('-').next() == Some(language.as_str())).copied()
}

/// The supported language closest to a POSIX locale or language tag; English when none fits.
pub fn resolve(wanted: &str) -> &'static str {
    supported(wanted).unwrap_or(LANGUAGES[0])
}

/// One translated sentence per wire error code (shared with other clients through `error.*`).
pub fn error_sentence(code: ErrorCode) -> String {
    let text = match code {
        ErrorCode::BadFrame => t!("error.bad_frame"),
        ErrorCode::FrameTooLarge => t!("error.frame_too_large"),
        ErrorCode::UnsupportedVersion => t!("error.unsupported_version"),
        ErrorCode::UnknownOp => t!("error.unknown_op"),
        ErrorCode::InvalidArgument => t!("error.invalid_argument"),
        ErrorCode::Unauthenticated => t!("error.unauthenticated"),
        ErrorCode::AlreadyAuthenticated => t!("error.already_authenticated"),
        ErrorCode::BadCredentials => t!("error.bad_credentials"),
        ErrorCode::BadToken => t!("error.bad_token"),
        ErrorCode::RateLimited => t!("error.rate_limited"),
        ErrorCode::LoginTaken => t!("error.login_taken"),
        ErrorCode::NoSuchGroup => t!("error.no_such_group"),
        ErrorCode::GroupExists => t!("error.group_exists"),
        ErrorCode::UnknownUser => t!("error.unknown_user"),
        ErrorCode::NotMember => t!("error.not_member"),
        ErrorCode::NotAdmin => t!("error.not_admin"),
        ErrorCode::NotAllowed => t!("error.not_allowed"),
        ErrorCode::AdminCannotLeave => t!("error.admin_cannot_leave"),
        ErrorCode::BodyTooLarge => t!("error.body_too_large"),
        ErrorCode::TooManyConnections => t!("error.too_many_connections"),
        ErrorCode::IdleTimeout => t!("error.idle_timeout"),
        ErrorCode::ShuttingDown => t!("error.shutting_down"),
        ErrorCode::Unavailable => t!("error.unavailable"),
        ErrorCode::Internal => t!("error.internal"),
        ErrorCode::AccountDisabled => t!("error.account_disabled"),
        ErrorCode::QuotaExceeded => t!("error.quota_exceeded"),
    };
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_resolve_from_posix_names() {
        assert_eq!(resolve("ru_RU.UTF-8"), "ru");
        assert_eq!(resolve("zh_CN.UTF-8"), "zh-CN");
        assert_eq!(resolve("zh"), "zh-CN");
        assert_eq!(resolve("uk_UA"), "uk");
        assert_eq!(resolve("de"), "de");
        assert_eq!(resolve("C"), "en");
        assert_eq!(resolve(""), "en");
        assert_eq!(resolve("pt_BR"), "en");
        assert_eq!(supported("pt_BR"), None);
        assert_eq!(supported("xx"), None);
        assert_eq!(supported("RU"), Some("ru"));
        assert_eq!(supported("zh-cn"), Some("zh-CN"));
    }

    #[test]
    fn every_error_code_has_its_own_sentence_in_every_language() {
        for lang in LANGUAGES {
            rust_i18n::set_locale(lang);
            let sentences: std::collections::HashSet<String> =
                ErrorCode::ALL.iter().map(|code| error_sentence(*code)).collect();
            assert_eq!(sentences.len(), ErrorCode::ALL.len(), "{lang}");
            assert!(sentences.iter().all(|s| !s.starts_with("error.")), "{lang}: a key is untranslated");
        }
    }
}
