//! The interface languages and the translated sentence for every failure the window shows.

use joint_wire::message::EndReason;
use joint_wire::{ClientError, ErrorCode};
use rust_i18n::t;

/// The languages the window speaks, in the selector's order; the first is the fallback.
pub const LANGUAGES: [&str; 7] = ["en", "ru", "de", "es", "fr", "zh-CN", "uk"];

/// Each language's name in itself, as the selector lists it (so anyone finds their own).
pub const LANGUAGE_NAMES: [&str; 7] =
    ["English", "Русский", "Deutsch", "Español", "Français", "简体中文", "Українська"];

/// The supported language a POSIX locale or language tag names (`ru_RU.UTF-8` → `ru`), or English.
pub fn resolve(wanted: &str) -> &'static str {
    let tag = wanted.split(['.', '@']).next().unwrap_or("").replace('_', "-");
    if let Some(exact) = LANGUAGES.iter().find(|l| l.eq_ignore_ascii_case(&tag)) {
        return exact;
    }
    let language = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
    LANGUAGES.iter().find(|l| l.split('-').next() == Some(language.as_str())).copied().unwrap_or(LANGUAGES[0])
}

/// The language of the environment (LC_ALL, LC_MESSAGES, LANG).
pub fn from_environment() -> &'static str {
    let wanted = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default();
    resolve(&wanted)
}

/// The sentence for a failed request, in the current language.
pub fn error_text(err: &ClientError) -> String {
    match err {
        ClientError::Broker(body) if body.code == ErrorCode::RateLimited => {
            let seconds = body.retry_after_ms.unwrap_or(1000).div_ceil(1000).max(1);
            format!("{} {}", code_text(body.code), t!("gui.err.wait", seconds = seconds))
        }
        ClientError::Broker(body) => code_text(body.code),
        ClientError::Connect(_) => t!("gui.err.unreachable").into_owned(),
        ClientError::Disconnected | ClientError::Closed => t!("gui.err.lost").into_owned(),
        ClientError::Protocol(_) => t!("gui.err.protocol").into_owned(),
        ClientError::RequestTooLarge { .. } => code_text(ErrorCode::BodyTooLarge),
    }
}

/// Why a session ended, for the sign-in window.
pub fn end_reason_text(reason: EndReason) -> String {
    match reason {
        EndReason::Logout => t!("gui.ended.logout"),
        EndReason::AccountDeleted => t!("gui.ended.account_deleted"),
        EndReason::PasswordChanged => t!("gui.ended.password_changed"),
        EndReason::Expired => t!("gui.ended.expired"),
        EndReason::Disabled => t!("gui.ended.disabled"),
    }
    .into_owned()
}

/// One sentence per broker error code (the shared `error.*` keys, except where the CLI's
/// sentence names a command).
pub fn code_text(code: ErrorCode) -> String {
    let text = match code {
        ErrorCode::BadFrame => t!("error.bad_frame"),
        ErrorCode::FrameTooLarge => t!("error.frame_too_large"),
        ErrorCode::UnsupportedVersion => t!("error.unsupported_version"),
        ErrorCode::UnknownOp => t!("error.unknown_op"),
        ErrorCode::InvalidArgument => t!("error.invalid_argument"),
        ErrorCode::Unauthenticated | ErrorCode::BadToken => t!("gui.err.signed_out"),
        ErrorCode::AlreadyAuthenticated => t!("error.already_authenticated"),
        ErrorCode::BadCredentials => t!("error.bad_credentials"),
        ErrorCode::RateLimited => t!("error.rate_limited"),
        ErrorCode::LoginTaken => t!("error.login_taken"),
        ErrorCode::NoSuchGroup => t!("error.no_such_group"),
        ErrorCode::GroupExists => t!("error.group_exists"),
        ErrorCode::UnknownUser => t!("error.unknown_user"),
        ErrorCode::NotMember => t!("error.not_member"),
        ErrorCode::NotAdmin => t!("error.not_admin"),
        ErrorCode::NotAllowed => t!("error.not_allowed"),
        ErrorCode::AdminCannotLeave => t!("gui.err.admin_cannot_leave"),
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
    use joint_wire::ErrorBody;

    #[test]
    fn locales_resolve_from_posix_names() {
        assert_eq!(resolve("ru_RU.UTF-8"), "ru");
        assert_eq!(resolve("zh_CN"), "zh-CN");
        assert_eq!(resolve("uk_UA.UTF-8"), "uk");
        assert_eq!(resolve("C"), "en");
        assert_eq!(resolve(""), "en");
    }

    #[test]
    fn rate_limiting_tells_the_wait_in_every_language() {
        let body = ErrorBody {
            code: ErrorCode::RateLimited,
            msg: String::new(),
            field: None,
            logins: None,
            retry_after_ms: Some(2_500),
        };
        for lang in LANGUAGES {
            rust_i18n::set_locale(lang);
            let text = error_text(&ClientError::Broker(body.clone()));
            assert!(text.contains('3'), "{lang}: {text}");
            assert!(!text.contains("gui.") && !text.contains("error."), "{lang}: {text}");
        }
        rust_i18n::set_locale("en");
    }
}
