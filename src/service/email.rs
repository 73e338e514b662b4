//! Email addresses of accounts and what they are for: binding one (verified with a mailed
//! code before it counts), logging in with it, resetting a forgotten password, and verified
//! registration. Codes are 6 digits, kept only as keyed hashes, work once, expire after
//! `mail.code_ttl_secs`, survive `mail.code_max_tries` wrong answers, and are throttled per
//! address, account and client IP. Nothing here tells a caller who has an account.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::bus::RevokeReason;
use crate::db::mail::{EmailCodeRow, NewEmailCode};
use crate::db::now_ms;
use crate::db::user::UserRow;
use crate::domain::{UserId, UserStatus};
use crate::error::{AppError, ErrorCode, Result};
use crate::service::auth::{ClientInfo, Principal};
use crate::service::mail::{self, Content, Lang};
use crate::service::validate;
use crate::state::Core;

/// Longest address (RFC 5321's limit on a path).
pub const MAX_EMAIL_LEN: usize = 254;

/// What a code proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Binding a (new) address to a signed-in account.
    Bind = 1,
    /// Resetting a forgotten password.
    Reset = 2,
    /// Verifying the address an account registered with (`auth.require_email`).
    Register = 3,
}

/// The window of the per-hour throttles.
const HOUR: Duration = Duration::from_secs(3600);

/// An address as typed (trimmed) and its lower-cased form, or 400 `INVALID_EMAIL`: at most
/// 254 characters, one `@` between a local part of at most 64 and a domain with a dot, no
/// spaces, control characters (CR/LF: header injection) or `<>()[],;:"\`; and accepted by
/// the mail library.
pub fn address(raw: &str) -> Result<(String, String)> {
    let email = raw.trim();
    let invalid = || AppError::code(ErrorCode::InvalidEmail);
    if email.is_empty()
        || email.len() > MAX_EMAIL_LEN
        || email.chars().any(|c| c.is_control() || c.is_whitespace() || "<>()[],;:\"\\".contains(c))
    {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.len() >= 3
        && domain.contains('.')
        && !domain.contains('@')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return Err(invalid());
    }
    if email.parse::<lettre::Address>().is_err() {
        return Err(invalid());
    }
    Ok((email.to_string(), email.to_lowercase()))
}

/// A typed login (username or address): no control characters (CR/LF), not too long.
fn login_text(raw: &str) -> Result<String> {
    let login = raw.trim();
    if login.is_empty() {
        return Err(AppError::invalid("login is required"));
    }
    if login.len() > MAX_EMAIL_LEN || login.chars().any(char::is_control) {
        return Err(AppError::invalid("login must be a username or an email address"));
    }
    Ok(login.to_string())
}

/// The account a typed login names: a verified address when it has an `@`, else a username.
pub async fn find_by_login(state: &Core, login: &str) -> Result<Option<UserRow>> {
    let login = login.trim();
    if login.contains('@') {
        Ok(state.db.user_find_by_email(login.to_lowercase()).await?)
    } else {
        Ok(state.db.user_find_by_username(validate::username_key(login)).await?)
    }
}

/// Count one use of `key` in the current hour; 429 `RATE_LIMITED` past `limit`.
async fn throttle(state: &Core, key: &str, limit: u32, what: &'static str) -> Result<()> {
    let used = state.cache.incr(key, HOUR).await?;
    if used > i64::from(limit) {
        return Err(AppError::with_message(ErrorCode::RateLimited, what));
    }
    Ok(())
}

async fn throttle_ip(state: &Core, client: &ClientInfo) -> Result<()> {
    match client.ip {
        Some(ip) => {
            throttle(
                state,
                &format!("mail_ip:{ip}"),
                state.config.mail.requests_per_ip_per_hour,
                "too many email requests from this address, try again later",
            )
            .await
        }
        None => Ok(()),
    }
}

/// Throttles of mailing a code to `email_norm` for `user_id`.
async fn throttle_code(state: &Core, user_id: UserId, email_norm: &str) -> Result<()> {
    let mail = &state.config.mail;
    throttle(
        state,
        &format!("mail_account:{user_id}"),
        mail.codes_per_account_per_hour,
        "too many codes asked for this account, try again later",
    )
    .await?;
    throttle(
        state,
        &format!("mail_address:{email_norm}"),
        mail.codes_per_address_per_hour,
        "too many codes sent to this address, try again later",
    )
    .await
}

fn code_hash(state: &Core, user_id: UserId, purpose: Purpose, code: &str) -> String {
    state.secret.keyed_hash(format!("email-code:{user_id}:{}:{code}", purpose as i16).as_bytes())
}

/// Make a new code for `(user, purpose)` sent to `email` (the previous one ends) and return
/// it; only its keyed hash is stored.
async fn issue_code(
    state: &Core,
    user_id: UserId,
    purpose: Purpose,
    email: &str,
) -> Result<String> {
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let now = now_ms();
    state
        .db
        .email_code_replace(
            NewEmailCode {
                user_id,
                purpose: purpose as i16,
                email: email.to_string(),
                code_hash: code_hash(state, user_id, purpose, &code),
                tries: 0,
                expires_at: now + (state.config.mail.code_ttl_secs as i64) * 1000,
                created_at: now,
            },
            now,
        )
        .await?;
    Ok(code)
}

/// Whether a typed code has the form of one (6 digits).
fn code_form(code: &str) -> Result<&str> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(AppError::with_message(ErrorCode::EmailCodeInvalid, "the code is 6 digits"))
    }
}

/// Check `typed` against the live code `row`: each answer is counted before it is compared
/// (429 once `mail.code_max_tries` were wrong), an expired code is refused (as
/// `EMAIL_CODE_EXPIRED` when `say_expired`, else like a wrong one), and a right one is used
/// up in the same step that accepts it.
async fn check_code(
    state: &Core,
    row: &EmailCodeRow,
    purpose: Purpose,
    typed: &str,
    say_expired: bool,
) -> Result<()> {
    let max_tries = state.config.mail.code_max_tries as i32;
    if !state.db.email_code_count_try(row.id, max_tries).await? {
        return Err(AppError::code(ErrorCode::EmailCodeTooManyTries));
    }
    let now = now_ms();
    if row.expires_at <= now {
        return Err(AppError::code(if say_expired {
            ErrorCode::EmailCodeExpired
        } else {
            ErrorCode::EmailCodeInvalid
        }));
    }
    if code_hash(state, row.user_id, purpose, typed) != row.code_hash {
        let tries_left = (max_tries - row.tries - 1).max(0);
        return Err(AppError::code(ErrorCode::EmailCodeInvalid)
            .with_data(serde_json::json!({ "tries_left": tries_left })));
    }
    if !state.db.email_code_use(row.id, now).await? {
        return Err(AppError::code(ErrorCode::EmailCodeInvalid));
    }
    Ok(())
}

async fn load(state: &Core, user_id: UserId) -> Result<UserRow> {
    state.db.user_find_by_id(user_id).await?.ok_or_else(|| AppError::code(ErrorCode::UserNotFound))
}

/// Store `email` as the account's verified address; 409 `EMAIL_TAKEN` when another account
/// verified it first.
async fn set_verified(state: &Core, user_id: UserId, email: &str) -> Result<()> {
    match state.db.user_set_email(user_id, Some(email.to_string()), true, now_ms()).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_unique_violation() => Err(AppError::code(ErrorCode::EmailTaken)),
        Err(e) => Err(e.into()),
    }
}

/// What binding answers: where the code went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodeSent {
    /// The address the code was mailed to.
    pub email: String,
    /// Seconds the code stays valid.
    pub expires_in: u64,
}

/// Mail a code to `email` that binds it to my account once verified. 409 `EMAIL_TAKEN`
/// when another account has it verified, `EMAIL_UNCHANGED` when it is mine already.
pub async fn request_bind(
    state: &Core,
    principal: &Principal,
    email: &str,
    client: &ClientInfo,
    lang: Lang,
) -> Result<CodeSent> {
    mail::require_mail(state)?;
    let (email, norm) = address(email)?;
    let user = load(state, principal.user_id).await?;
    if user.email_verified && user.email_norm.as_deref() == Some(norm.as_str()) {
        return Err(AppError::code(ErrorCode::EmailUnchanged));
    }
    if state.db.user_find_by_email(norm.clone()).await?.is_some_and(|other| other.id != user.id) {
        return Err(AppError::code(ErrorCode::EmailTaken));
    }
    throttle_ip(state, client).await?;
    throttle_code(state, user.id, &norm).await?;
    let code = issue_code(state, user.id, Purpose::Bind, &email).await?;
    mail::enqueue(state, &email, &user.username, lang, Content::BindCode { code: &code }).await?;
    Ok(CodeSent { email, expires_in: state.config.mail.code_ttl_secs })
}

/// Bind the address my newest bind code was mailed to, with that code. The old address, if
/// any, is told.
pub async fn verify_bind(
    state: &Core,
    principal: &Principal,
    code: &str,
    lang: Lang,
) -> Result<()> {
    mail::require_mail(state)?;
    let code = code_form(code)?;
    let user = load(state, principal.user_id).await?;
    let row = state.db.email_code_live(user.id, Purpose::Bind as i16).await?.ok_or_else(|| {
        AppError::with_message(ErrorCode::EmailCodeInvalid, "no code was asked for")
    })?;
    check_code(state, &row, Purpose::Bind, code, true).await?;
    set_verified(state, user.id, &row.email).await?;
    if let (true, Some(old)) = (user.email_verified, user.email.as_deref())
        && !old.eq_ignore_ascii_case(&row.email)
    {
        let notice = Content::AddressChanged { new_address: &row.email };
        mail::enqueue(state, old, &user.username, lang, notice).await?;
    }
    Ok(())
}

/// Remove my address; my password is required. The removed address is told (when mail is
/// on and it was verified).
pub async fn remove(state: &Core, principal: &Principal, password: &str, lang: Lang) -> Result<()> {
    let user = load(state, principal.user_id).await?;
    if !state.hasher.verify(password, &user.password_hash).await? {
        return Err(AppError::code(ErrorCode::WrongPassword));
    }
    let Some(old) = user.email.clone() else {
        return Err(AppError::code(ErrorCode::EmailNotSet));
    };
    state.db.user_set_email(user.id, None, false, now_ms()).await?;
    if user.email_verified && state.config.mail.enabled() {
        mail::enqueue(state, &old, &user.username, lang, Content::AddressRemoved).await?;
    }
    Ok(())
}

/// "I forgot my password": mail a reset code to the account's verified address. Answers the
/// same whether or not `login` names an account, has an address, or was throttled for its
/// account; only the per-IP and per-login throttles (which do not depend on the account)
/// answer 429.
pub async fn forgot(state: &Core, login: &str, client: &ClientInfo, lang: Lang) -> Result<()> {
    mail::require_mail(state)?;
    let login = login_text(login)?;
    let key = login.to_lowercase();
    throttle_ip(state, client).await?;
    throttle(
        state,
        &format!("mail_forgot:{key}"),
        state.config.mail.codes_per_account_per_hour,
        "too many reset codes asked for, try again later",
    )
    .await?;
    // Tries at codes for names without one start over with each request, as a real code's do.
    state.cache.del(&format!("mail_reset_try:{key}")).await?;
    let Some(user) = find_by_login(state, &login).await? else { return Ok(()) };
    let (Some(email), true) = (user.email.clone(), user.email_verified) else { return Ok(()) };
    if user.status != UserStatus::Active.as_i16() {
        return Ok(());
    }
    if throttle_code(state, user.id, &email.to_lowercase()).await.is_err() {
        return Ok(());
    }
    let code = issue_code(state, user.id, Purpose::Reset, &email).await?;
    mail::enqueue(state, &email, &user.username, lang, Content::ResetCode { code: &code }).await
}

/// Set a new password with a mailed reset code: every session of the account ends (sockets
/// included, on every instance) and the address is told. A login without an account or a
/// live code answers like a wrong code, and runs out of tries like one.
pub async fn reset(
    state: &Core,
    login: &str,
    code: &str,
    new_password: &str,
    client: &ClientInfo,
    lang: Lang,
) -> Result<()> {
    mail::require_mail(state)?;
    let login = login_text(login)?;
    let code = code_form(code)?;
    validate::password(&state.config.auth, new_password, None)?;
    throttle_ip(state, client).await?;
    let user = find_by_login(state, &login).await?;
    let row = match &user {
        Some(u) if u.email_verified => {
            state.db.email_code_live(u.id, Purpose::Reset as i16).await?
        }
        _ => None,
    };
    let (Some(user), Some(row)) = (user, row) else {
        let key = format!("mail_reset_try:{}", login.to_lowercase());
        let ttl = Duration::from_secs(state.config.mail.code_ttl_secs);
        if state.cache.incr(&key, ttl).await? > i64::from(state.config.mail.code_max_tries) {
            return Err(AppError::code(ErrorCode::EmailCodeTooManyTries));
        }
        return Err(AppError::code(ErrorCode::EmailCodeInvalid));
    };
    check_code(state, &row, Purpose::Reset, code, false).await?;
    let hash = state.hasher.hash(new_password).await?;
    let now = now_ms();
    state.db.user_set_password_hash(user.id, hash, now).await?;
    let ids = state.db.session_revoke(user.id, None, None, now).await?;
    state.notifier.announce_revocation(user.id, ids, RevokeReason::PasswordReset).await;
    // The login failures of the account are forgiven with the new password.
    state.cache.del(&format!("login_fail:user:{}", user.id)).await?;
    mail::enqueue(state, &row.email, &user.username, lang, Content::PasswordReset).await
}

/// Registration with `auth.require_email`: keep the new account's address (unverified) and
/// mail it the code that verifies it.
pub async fn start_registration(
    state: &Core,
    user_id: UserId,
    username: &str,
    email: &str,
    client: &ClientInfo,
    lang: Lang,
) -> Result<()> {
    state.db.user_set_email(user_id, Some(email.to_string()), false, now_ms()).await?;
    send_registration_code(state, user_id, username, email, client, lang).await
}

async fn send_registration_code(
    state: &Core,
    user_id: UserId,
    username: &str,
    email: &str,
    client: &ClientInfo,
    lang: Lang,
) -> Result<()> {
    throttle_ip(state, client).await?;
    throttle_code(state, user_id, &email.to_lowercase()).await?;
    let code = issue_code(state, user_id, Purpose::Register, email).await?;
    mail::enqueue(state, email, username, lang, Content::RegisterCode { code: &code }).await
}

/// Check what registration with `auth.require_email` needs: mail on, an address that is
/// valid and not another account's. Returns the address.
pub async fn registration_address(state: &Core, email: Option<&str>) -> Result<String> {
    mail::require_mail(state)?;
    let raw = email.map(str::trim).filter(|e| !e.is_empty());
    let (email, norm) = address(raw.ok_or_else(|| AppError::code(ErrorCode::EmailRequired))?)?;
    if state.db.user_find_by_email(norm).await?.is_some() {
        return Err(AppError::code(ErrorCode::EmailTaken));
    }
    Ok(email)
}

/// Mail a new registration code to the unverified address of account `username`. Answers
/// the same whatever the account.
pub async fn resend_registration(
    state: &Core,
    username: &str,
    client: &ClientInfo,
    lang: Lang,
) -> Result<()> {
    mail::require_mail(state)?;
    let login = login_text(username)?;
    throttle_ip(state, client).await?;
    let Some(user) = state.db.user_find_by_username(validate::username_key(&login)).await? else {
        return Ok(());
    };
    let (Some(email), false) = (user.email.clone(), user.email_verified) else { return Ok(()) };
    match send_registration_code(state, user.id, &user.username, &email, client, lang).await {
        Err(e) if e.error_code() == ErrorCode::RateLimited => Ok(()),
        other => other,
    }
}

/// Verify the address account `username` registered with, with the code mailed to it.
pub async fn verify_registration(state: &Core, username: &str, code: &str) -> Result<()> {
    mail::require_mail(state)?;
    let login = login_text(username)?;
    let code = code_form(code)?;
    let user = state.db.user_find_by_username(validate::username_key(&login)).await?;
    let row = match &user {
        Some(u) if !u.email_verified => {
            state.db.email_code_live(u.id, Purpose::Register as i16).await?
        }
        _ => None,
    };
    let (Some(user), Some(row)) = (user, row) else {
        return Err(AppError::code(ErrorCode::EmailCodeInvalid));
    };
    check_code(state, &row, Purpose::Register, code, true).await?;
    set_verified(state, user.id, &row.email).await
}

/// `jim user set-email`: bind `email` to the account as verified (an empty one removes the
/// address). 409 `EMAIL_TAKEN` when another account has it.
pub async fn admin_set(state: &Core, user_id: UserId, email: &str) -> Result<Option<String>> {
    load(state, user_id).await?;
    if email.trim().is_empty() {
        state.db.user_set_email(user_id, None, false, now_ms()).await?;
        return Ok(None);
    }
    let (email, norm) = address(email)?;
    if state.db.user_find_by_email(norm).await?.is_some_and(|other| other.id != user_id) {
        return Err(AppError::code(ErrorCode::EmailTaken));
    }
    set_verified(state, user_id, &email).await?;
    Ok(Some(email))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_folded() {
        assert_eq!(
            address("  Ann.Lee+jim@Example.COM ").unwrap(),
            ("Ann.Lee+jim@Example.COM".to_string(), "ann.lee+jim@example.com".to_string())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "ann@exa mple.com",
            "ann@example.com\r\nBcc: eve@example.com",
            "ann@example.com\nX: y",
            "Ann <ann@example.com>",
            "ann@-example.com",
            "ann@example..com",
        ] {
            assert!(address(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(address(&long).is_err());
        let too_long = format!("a@{}.com", "b".repeat(250));
        assert!(address(&too_long).is_err());
    }

    #[test]
    fn codes_have_six_digits() {
        assert!(code_form(" 012345 ").is_ok());
        for bad in ["12345", "1234567", "12345a", "", "12 345"] {
            assert!(code_form(bad).is_err(), "{bad:?}");
        }
    }
}
