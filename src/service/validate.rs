//! Input rules for account fields, shared by the API and the CLI.

use crate::config::AuthConfig;
use crate::error::{AppError, ErrorCode, Result};
use crate::service::password::MAX_PASSWORD_BYTES;

/// Longest nickname, in characters.
pub const MAX_NICKNAME_CHARS: usize = 32;
/// Longest avatar URL, in bytes.
pub const MAX_AVATAR_BYTES: usize = 512;

/// Usernames: 3-32 of `A-Z a-z 0-9 _ . -`, starting with a letter or digit. Returns the name
/// as given and its lower-cased form (what uniqueness and lookups use).
pub fn username(raw: &str) -> Result<(String, String)> {
    let name = raw.trim();
    let valid = (3..=32).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !valid {
        return Err(AppError::code(ErrorCode::InvalidUsername));
    }
    Ok((name.to_string(), name.to_ascii_lowercase()))
}

/// The lower-cased lookup form of a typed username (no validation: used for login).
pub fn username_key(raw: &str) -> String {
    raw.trim().to_ascii_lowercase()
}

/// The configured password rules; `confirm`, when given, must match exactly.
pub fn password(config: &AuthConfig, password: &str, confirm: Option<&str>) -> Result<()> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::with_message(
            ErrorCode::InvalidPassword,
            format!("password longer than {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    if password.chars().count() < config.password_min_length {
        return Err(AppError::with_message(
            ErrorCode::InvalidPassword,
            format!("password shorter than {} characters", config.password_min_length),
        ));
    }
    if config.password_require_letter_and_digit
        && !(password.chars().any(char::is_alphabetic)
            && password.chars().any(|c| c.is_ascii_digit()))
    {
        return Err(AppError::with_message(
            ErrorCode::InvalidPassword,
            "password needs at least one letter and one digit",
        ));
    }
    if confirm.is_some_and(|c| c != password) {
        return Err(AppError::code(ErrorCode::ConfirmPasswordMismatch));
    }
    Ok(())
}

/// Nicknames: 1-32 characters after trimming, no control characters.
pub fn nickname(raw: &str) -> Result<String> {
    let nick = raw.trim();
    let count = nick.chars().count();
    if count == 0 || count > MAX_NICKNAME_CHARS || nick.chars().any(char::is_control) {
        return Err(AppError::code(ErrorCode::InvalidNickname));
    }
    Ok(nick.to_string())
}

/// Birth dates: a real calendar date `YYYY-MM-DD` between 1900-01-01 and today.
pub fn birth_date(raw: &str) -> Result<String> {
    let date = chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::code(ErrorCode::InvalidTimeFormat))?;
    let earliest = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default();
    if date < earliest || date > chrono::Utc::now().date_naive() {
        return Err(AppError::with_message(
            ErrorCode::InvalidTimeFormat,
            "birth_date must be between 1900-01-01 and today",
        ));
    }
    Ok(date.format("%Y-%m-%d").to_string())
}

/// Avatars: empty (none) or an http(s) URL of at most 512 bytes.
pub fn avatar(raw: &str) -> Result<String> {
    let avatar = raw.trim();
    if avatar.is_empty() {
        return Ok(String::new());
    }
    let ok = avatar.len() <= MAX_AVATAR_BYTES
        && url::Url::parse(avatar)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        return Err(AppError::code(ErrorCode::InvalidAvatar));
    }
    Ok(avatar.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(username(" Alice_1 ").unwrap(), ("Alice_1".into(), "alice_1".into()));
        for bad in ["ab", "_alice", "al ice", "ålice", &"a".repeat(33), "a%b"] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords() {
        let c = AuthConfig::default();
        assert!(password(&c, "abcdefg1", Some("abcdefg1")).is_ok());
        assert!(password(&c, "abcdefgh", None).is_err(), "needs a digit");
        assert!(password(&c, "12345678", None).is_err(), "needs a letter");
        assert!(password(&c, "abc1", None).is_err(), "too short");
        assert!(password(&c, &format!("a1{}", "x".repeat(71)), None).is_err(), "73 bytes");
        assert!(password(&c, &format!("a1{}", "x".repeat(70)), None).is_ok(), "72 bytes");
        let err = password(&c, "abcdefg1", Some("abcdefg2")).unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::ConfirmPasswordMismatch);
    }

    #[test]
    fn dates_nicknames_avatars() {
        assert_eq!(birth_date("2001-02-03").unwrap(), "2001-02-03");
        for bad in ["2001-02-30", "03/02/2001", "1800-01-01", "2999-01-01", ""] {
            assert!(birth_date(bad).is_err(), "{bad:?}");
        }
        assert!(nickname("").is_err());
        assert!(nickname("a\u{7}b").is_err());
        assert_eq!(nickname(" 小明 ").unwrap(), "小明");
        assert!(avatar("javascript:alert(1)").is_err());
        assert!(avatar("https://cdn.example.com/a.png").is_ok());
    }
}
