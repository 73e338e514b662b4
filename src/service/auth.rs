//! Registration, login (with failure counting, captcha and locks), sessions and their
//! revocation, and the token check every authenticated request goes through.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::bus::RevokeReason;
use crate::bus::auth_cache::{Epoch, Verified};
use crate::db::now_ms;
use crate::db::session::SessionRow;
use crate::db::user::UserRow;
use crate::domain::{OnlineStatus, UserId, UserStatus};
use crate::error::{AppError, ErrorCode, Result};
use crate::service::{captcha, email, validate};
use crate::state::Core;

/// Who is calling, as far as the transport knows.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: String,
    /// The language mail sent for this request is written in (from `Accept-Language`).
    pub lang: crate::service::mail::Lang,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: i64,
    pub username: String,
    /// The revocation epoch read when this request was authenticated (see [`AuthCache`]);
    /// later checks of the same request file what they find under it.
    ///
    /// [`AuthCache`]: crate::bus::auth_cache::AuthCache
    pub epoch: Option<Epoch>,
}

/// A new account, as returned by registration.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserSummary {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    pub nickname: String,
}

// Registration input (the original's fields): also the body of `/api/v1/auth/register`,
// documented as `RegisterRequest`. (A plain comment: a doc comment would be the schema's
// description.)
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = RegisterRequest)]
pub struct RegisterInput {
    /// 3-32 characters: letters, digits, `_ . -`, starting with a letter or digit; unique
    /// without regard to case.
    #[schema(pattern = r"^\s*[A-Za-z0-9][A-Za-z0-9_.-]{2,31}\s*$")]
    pub username: String,
    /// At least 8 characters with letters and digits (configurable); at most 72 bytes.
    pub password: String,
    pub confirm_password: String,
    /// 1-32 characters; defaults to the username.
    pub nickname: Option<String>,
    /// `YYYY-MM-DD`, between 1900-01-01 and today.
    pub birth_date: Option<String>,
    /// Answer to the captcha (when `auth.captcha_on_register`).
    pub captcha: Option<String>,
    pub captcha_id: Option<String>,
    /// Required when the server has `auth.require_email` (ignored otherwise): a code is
    /// mailed to it, and the account can log in once `/api/v1/auth/email/verify` took it.
    pub email: Option<String>,
}

// Login input: also the body of `/api/v1/auth/login`, documented as `LoginRequest`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = LoginRequest)]
pub struct LoginInput {
    /// The username, or the account's verified email address.
    #[schema(pattern = r"\S")]
    pub username: String,
    #[schema(min_length = 1)]
    pub password: String,
    /// Required after `auth.login_captcha_after` failures (the error says `need_captcha`).
    pub captcha: Option<String>,
    pub captcha_id: Option<String>,
}

/// A successful login.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LoginOutput {
    /// Opaque bearer token; send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Id of the session this token belongs to.
    pub session_id: i64,
}

/// One of my sessions.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub user_agent: String,
    pub ip: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// What a client needs to know before anyone signs in: which forms to offer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuthOptions {
    /// Whether this server sends mail: binding an address and "forgot password" work.
    pub mail: bool,
    /// Whether registration takes an email address that must be verified before login.
    pub require_email: bool,
    /// Whether registration asks for a captcha.
    pub captcha_on_register: bool,
}

/// The sign-in and registration options of this server.
pub fn options(state: &Core) -> AuthOptions {
    let config = &state.config;
    AuthOptions {
        mail: config.mail.enabled(),
        require_email: config.auth.require_email,
        captcha_on_register: config.auth.captcha_on_register,
    }
}

/// Check the registration switch and window.
fn registration_open(state: &Core) -> Result<()> {
    let auth = &state.config.auth;
    if auth.registration != crate::config::Registration::Open {
        return Err(AppError::code(ErrorCode::RegistrationClosed));
    }
    let now = chrono::Utc::now();
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    if let Some(opens) = parse(&auth.registration_opens_at)
        && now < opens
    {
        return Err(AppError::with_message(
            ErrorCode::RegistrationClosed,
            format!("registration opens at {}", auth.registration_opens_at),
        ));
    }
    if let Some(closes) = parse(&auth.registration_closes_at)
        && now >= closes
    {
        return Err(AppError::with_message(
            ErrorCode::RegistrationClosed,
            format!("registration closed at {}", auth.registration_closes_at),
        ));
    }
    Ok(())
}

/// Create an account through the public API: cheap checks first, then the captcha (consumed
/// whatever happens next), then the insert, where a lost race is `ACCOUNT_EXISTS`.
///
/// With `auth.require_email`, the address is checked before the account is made, and the
/// code that verifies it is mailed after.
pub async fn register(
    state: &Core,
    input: RegisterInput,
    client: &ClientInfo,
) -> Result<UserSummary> {
    registration_open(state)?;
    let (username, norm) = validate::username(&input.username)?;
    validate::password(&state.config.auth, &input.password, Some(&input.confirm_password))?;
    let nickname = match input.nickname.as_deref().map(str::trim) {
        None | Some("") => username.clone(),
        Some(n) => validate::nickname(n)?,
    };
    let birth_date = match input.birth_date.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(validate::birth_date(d)?),
    };
    let email = if state.config.auth.require_email {
        Some(email::registration_address(state, input.email.as_deref()).await?)
    } else {
        None
    };
    if state.config.auth.captcha_on_register {
        captcha::verify(state, input.captcha_id.as_deref(), input.captcha.as_deref()).await?;
    }
    let created = create_user(state, username, norm, &input.password, nickname, birth_date).await?;
    if let Some(email) = email {
        email::start_registration(
            state,
            created.id,
            &created.username,
            &email,
            client,
            client.lang,
        )
        .await?;
    }
    Ok(created)
}

/// Insert a validated account (shared by registration and `jim user create`).
pub async fn create_user(
    state: &Core,
    username: String,
    norm: String,
    password: &str,
    nickname: String,
    birth_date: Option<String>,
) -> Result<UserSummary> {
    if state.db.user_find_by_username(norm.clone()).await?.is_some() {
        return Err(AppError::code(ErrorCode::AccountExists));
    }
    let password_hash = state.hasher.hash(password).await?;
    let now = now_ms();
    let user = UserRow {
        id: UserId(0),
        username: username.clone(),
        username_norm: norm,
        password_hash,
        nickname: nickname.clone(),
        avatar: String::new(),
        birth_date,
        online_status: OnlineStatus::Online.as_i16(),
        status: UserStatus::Active.as_i16(),
        created_at: now,
        updated_at: now,
        email: None,
        email_norm: None,
        email_verified: false,
    };
    match state.db.user_insert(user).await {
        Ok(id) => Ok(UserSummary { id, username, nickname }),
        Err(e) if e.is_unique_violation() => Err(AppError::code(ErrorCode::AccountExists)),
        Err(e) => Err(e.into()),
    }
}

fn failure_data(fail_times: i64, need_captcha: bool) -> serde_json::Value {
    if need_captcha { json!({"fail_times": fail_times, "need_captcha": true}) } else { json!({}) }
}

/// Log in. Every refusal that could reveal whether the account exists looks the same;
/// throttles (per IP, per account) apply before any bcrypt work.
///
/// Each attempt is counted (reserved) against the account's failure counter before its
/// password is checked, so a burst of parallel attempts on one account, from one address or
/// many, runs no more checks than the same attempts one at a time would: attempt n of a burst
/// sees the n - 1 before it as failures. A reservation becomes the failure when the password
/// is wrong, and is given back when the password is right or the attempt is refused before
/// its check (locked, no or a wrong captcha). The per-address counter holds failures only,
/// so many people logging in at once from one address are not refused.
pub async fn login(state: &Core, input: LoginInput, client: ClientInfo) -> Result<LoginOutput> {
    let result = check_login(state, input, client).await;
    crate::metrics::login(result.is_ok());
    result
}

async fn check_login(state: &Core, input: LoginInput, client: ClientInfo) -> Result<LoginOutput> {
    let auth = &state.config.auth;
    let window = Duration::from_secs(auth.login_lock_secs);
    let captcha_after = i64::from(auth.login_captcha_after);
    let lock_after = i64::from(auth.login_lock_after);
    if input.username.trim().is_empty() || input.password.is_empty() {
        return Err(AppError::invalid("username and password are required"));
    }

    // The address's counter only ever holds failures: a burst of right passwords from one
    // address (a NAT, a school) must not lock it out. The account's bound is the tight one.
    let ip_key = client.ip.map(|ip| format!("login_fail_ip:{ip}"));
    if let Some(key) = &ip_key {
        let failures = state.cache.get(key).await?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        if failures >= i64::from(auth.login_ip_max_failures) {
            return Err(AppError::with_message(
                ErrorCode::RateLimited,
                "too many failed logins from this address, try again later",
            ));
        }
    }

    let norm = validate::username_key(&input.username);
    let user = email::find_by_login(state, &input.username).await?;
    // Counting by user id means "Alice", "alice " and "ALICE" share one counter. Unknown names
    // get a counter of their own so that their answers look exactly like a real account's.
    let account_key = match &user {
        Some(u) => format!("login_fail:user:{}", u.id),
        None => format!("login_fail:name:{norm}"),
    };
    // This attempt's reservation: attempt n of a burst sees the n - 1 before it as failures.
    let failures = state.cache.incr(&account_key, window).await? - 1;
    if failures >= lock_after {
        give_back(state, &account_key).await;
        return Err(AppError::code(ErrorCode::TooManyLoginFailures)
            .with_data(failure_data(failures.min(lock_after), true)));
    }
    if failures >= captcha_after
        && let Err(e) =
            captcha::verify(state, input.captcha_id.as_deref(), input.captcha.as_deref()).await
    {
        give_back(state, &account_key).await;
        return Err(e.with_data(failure_data(failures, true)));
    }

    let checked = match &user {
        Some(u) => state.hasher.verify(&input.password, &u.password_hash).await,
        None => state.hasher.verify_dummy(&input.password).await.map(|()| false),
    };
    let matched = match checked {
        Ok(matched) => matched,
        Err(e) => {
            give_back(state, &account_key).await;
            return Err(e);
        }
    };
    let user = match (matched, user) {
        (true, Some(user)) => user,
        _ => {
            // The account's reservation stands as this failure; the address counts it now.
            if let Some(key) = &ip_key {
                state.cache.incr(key, window).await?;
            }
            let n = failures + 1;
            if n >= lock_after {
                return Err(AppError::code(ErrorCode::TooManyLoginFailures)
                    .with_data(failure_data(lock_after, true)));
            }
            return Err(AppError::code(ErrorCode::WrongCredentials)
                .with_data(failure_data(n, n >= captcha_after)));
        }
    };
    // A right password resets the account's failures, this attempt's reservation with them.
    state.cache.del(&account_key).await?;
    check_status(&user)?;
    // With verified registration, an account that registered with an address waits for it.
    if auth.require_email && user.email.is_some() && !user.email_verified {
        return Err(AppError::code(ErrorCode::EmailNotVerified));
    }

    let token = new_token();
    let now = now_ms();
    let expires_at = now + (auth.session_ttl_secs as i64) * 1000;
    let session_id = state
        .db
        .session_insert(SessionRow {
            id: 0,
            user_id: user.id,
            token_hash: state.secret.keyed_hash(token.as_bytes()),
            user_agent: client.user_agent.chars().take(256).collect(),
            ip: client.ip.map(|i| i.to_string()).unwrap_or_default(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            revoked_at: None,
        })
        .await?;
    Ok(LoginOutput { token, expires_at: expires_at / 1000, session_id })
}

/// Give back a login attempt reserved under `key` (see [`login`]) that was refused before
/// its password check. Best effort: a counter that cannot be reached keeps the attempt until
/// it expires, which only errs on the side of caution.
async fn give_back(state: &Core, key: &str) {
    if let Err(e) = state.cache.decr(key).await {
        slog::warn!(state.log, "cannot give back a login reservation"; "error" => e.to_string());
    }
}

fn check_status(user: &UserRow) -> Result<()> {
    match UserStatus::from_i16(user.status) {
        Some(UserStatus::Active) => Ok(()),
        Some(UserStatus::Deleted) => Err(AppError::code(ErrorCode::AccountDeleted)),
        // An unknown stored value locks the account like a disabled one.
        Some(UserStatus::Disabled) | None => Err(AppError::code(ErrorCode::AccountDisabled)),
    }
}

/// 256 bits of randomness, URL-safe base64.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How often `last_seen_at` is written for an active session.
const TOUCH_EVERY_MS: i64 = 60_000;

/// Resolve a bearer token to its live session and enabled account: from memory when this
/// process verified it since the last revocation anywhere (see [`AuthCache`]), else from
/// the database; so a logout or a disable on any instance is honoured at once.
///
/// [`AuthCache`]: crate::bus::auth_cache::AuthCache
pub async fn authenticate(state: &Core, token: &str) -> Result<Principal> {
    let token = token.trim();
    if token.is_empty() {
        return Err(AppError::code(ErrorCode::TokenEmpty));
    }
    if token.len() > 128 {
        return Err(AppError::code(ErrorCode::TokenInvalid));
    }
    let hash = state.secret.keyed_hash(token.as_bytes());
    let now = now_ms();
    // Read before the database, so that what the database says is filed under an epoch no
    // later than the one it was true at.
    let epoch = state.auth_cache.epoch().await;
    if let Some(epoch) = epoch
        && let Some(known) = state.auth_cache.get(&hash, epoch)
        && known.expires_at > now
    {
        touch_when_due(state, &hash, known.session_id, known.last_seen_at, now);
        return Ok(Principal {
            user_id: known.user_id,
            session_id: known.session_id,
            username: known.username,
            epoch: Some(epoch),
        });
    }
    let Some((session, user)) = state.db.session_find_by_token_hash(hash.clone()).await? else {
        return Err(AppError::code(ErrorCode::TokenInvalid));
    };
    if session.revoked_at.is_some() {
        return Err(AppError::code(ErrorCode::TokenRevoked));
    }
    if session.expires_at <= now {
        return Err(AppError::code(ErrorCode::TokenExpired));
    }
    check_status(&user).map_err(|e| e.with_status(crate::error::status::UNAUTHORIZED))?;
    if let Some(epoch) = epoch {
        let known = Verified {
            user_id: user.id,
            session_id: session.id,
            username: user.username.clone(),
            expires_at: session.expires_at,
            last_seen_at: session.last_seen_at,
        };
        state.auth_cache.put(hash.clone(), epoch, known);
    }
    touch_when_due(state, &hash, session.id, session.last_seen_at, now);
    Ok(Principal { user_id: user.id, session_id: session.id, username: user.username, epoch })
}

/// Record activity on a session at most once a minute. Best effort and off the request
/// path: a lost touch only makes "last seen" older.
fn touch_when_due(state: &Core, hash: &str, session_id: i64, last_seen_at: i64, now: i64) {
    if now - last_seen_at > TOUCH_EVERY_MS {
        state.auth_cache.seen(hash, now);
        let db = state.db.clone();
        tokio::spawn(async move {
            let _ = db.session_touch(session_id, now).await;
        });
    }
}

/// End the caller's session.
pub async fn logout(state: &Core, principal: &Principal) -> Result<()> {
    let ids = state
        .db
        .session_revoke(principal.user_id, Some(principal.session_id), None, now_ms())
        .await?;
    state.notifier.announce_revocation(principal.user_id, ids, RevokeReason::Logout).await;
    Ok(())
}

/// The caller's live sessions, newest first.
pub async fn list_sessions(state: &Core, principal: &Principal) -> Result<Vec<SessionView>> {
    let rows = state.db.session_list_live(principal.user_id, now_ms()).await?;
    Ok(rows
        .into_iter()
        .map(|s| SessionView {
            current: s.id == principal.session_id,
            id: s.id,
            user_agent: s.user_agent,
            ip: s.ip,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
        })
        .collect())
}

/// Revoke one of my sessions, or all but the current one. Returns the ids revoked.
pub async fn revoke_sessions(
    state: &Core,
    principal: &Principal,
    session_id: Option<i64>,
    all_others: bool,
) -> Result<Vec<i64>> {
    let ids = match (session_id, all_others) {
        (Some(id), false) => {
            let ids = state.db.session_revoke(principal.user_id, Some(id), None, now_ms()).await?;
            if ids.is_empty() {
                return Err(AppError::code(ErrorCode::SessionNotFound));
            }
            ids
        }
        (None, true) => {
            state
                .db
                .session_revoke(principal.user_id, None, Some(principal.session_id), now_ms())
                .await?
        }
        _ => return Err(AppError::invalid("give either session_id or all_others = true")),
    };
    state
        .notifier
        .announce_revocation(principal.user_id, ids.clone(), RevokeReason::SessionRevoked)
        .await;
    Ok(ids)
}

/// Change my password (the old one is required); my other sessions end.
pub async fn change_password(
    state: &Core,
    principal: &Principal,
    old_password: &str,
    new_password: &str,
    confirm_password: &str,
) -> Result<()> {
    let user = state
        .db
        .user_find_by_id(principal.user_id)
        .await?
        .ok_or_else(|| AppError::code(ErrorCode::UserNotFound))?;
    if !state.hasher.verify(old_password, &user.password_hash).await? {
        return Err(AppError::code(ErrorCode::WrongPassword));
    }
    validate::password(&state.config.auth, new_password, Some(confirm_password))?;
    let hash = state.hasher.hash(new_password).await?;
    let now = now_ms();
    state.db.user_set_password_hash(user.id, hash, now).await?;
    let ids = state.db.session_revoke(user.id, None, Some(principal.session_id), now).await?;
    state.notifier.announce_revocation(user.id, ids, RevokeReason::PasswordChanged).await;
    Ok(())
}
