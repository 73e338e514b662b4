//! Profiles (read and edit my own) and the admin operations behind `jim user …`.

use serde::Serialize;

use crate::bus::RevokeReason;
use crate::db::now_ms;
use crate::db::user::{ProfileChanges, UserRow};
use crate::domain::{OnlineStatus, UserId, UserStatus};
use crate::error::{AppError, ErrorCode, Result};
use crate::service::auth::{self, UserSummary};
use crate::service::{media, validate};
use crate::state::Core;

/// What `/profile/info` returns.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Profile {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    pub nickname: String,
    pub avatar: String,
    /// `YYYY-MM-DD`, or null when unset.
    pub birth_date: Option<String>,
    /// 1 online, 2 away, 3 busy, 4 invisible.
    pub online_status: i16,
    /// My email address: verified, or (registration with `auth.require_email`) waiting for
    /// its code. Null when I have none. An address being bound shows here once verified.
    pub email: Option<String>,
    pub email_verified: bool,
}

impl From<UserRow> for Profile {
    fn from(u: UserRow) -> Self {
        Profile {
            id: u.id,
            username: u.username,
            nickname: u.nickname,
            avatar: u.avatar,
            birth_date: u.birth_date,
            online_status: u.online_status,
            email: u.email,
            email_verified: u.email_verified,
        }
    }
}

/// Profile edits; absent fields stay as they are. An empty `birth_date` or `avatar` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub nickname: Option<String>,
    pub avatar: Option<String>,
    pub birth_date: Option<String>,
    pub online_status: Option<i16>,
}

async fn load(state: &Core, user_id: UserId) -> Result<UserRow> {
    state.db.user_find_by_id(user_id).await?.ok_or_else(|| AppError::code(ErrorCode::UserNotFound))
}

/// My profile.
pub async fn profile(state: &Core, user_id: UserId) -> Result<Profile> {
    Ok(load(state, user_id).await?.into())
}

/// Edit my profile and return it.
pub async fn update_profile(
    state: &Core,
    user_id: UserId,
    update: ProfileUpdate,
) -> Result<Profile> {
    let mut changes = ProfileChanges::default();
    if let Some(nick) = &update.nickname {
        changes.nickname = Some(validate::nickname(nick)?);
    }
    if let Some(avatar) = &update.avatar {
        // An upload's id is taken (and the old avatar released) once everything else holds.
        changes.avatar = Some(if media::is_media_id(avatar) {
            String::new()
        } else {
            validate::avatar(avatar)?
        });
    }
    if let Some(date) = &update.birth_date {
        changes.birth_date =
            Some(if date.trim().is_empty() { None } else { Some(validate::birth_date(date)?) });
    }
    if let Some(status) = update.online_status {
        if OnlineStatus::from_i16(status).is_none() {
            return Err(AppError::code(ErrorCode::InvalidOnlineStatus));
        }
        changes.online_status = Some(status);
    }
    if changes.nickname.is_none()
        && changes.avatar.is_none()
        && changes.birth_date.is_none()
        && changes.online_status.is_none()
    {
        return Err(AppError::invalid("nothing to update"));
    }
    if let Some(avatar) = &update.avatar {
        changes.avatar =
            Some(media::set_avatar(state, user_id, media::AvatarOf::User(user_id), avatar).await?);
    }
    changes.updated_at = Some(now_ms());
    let status_changed = changes.online_status.is_some();
    state.db.user_update_profile(user_id, changes).await?;
    if status_changed {
        state.publisher.publish(crate::bus::Event::StatusChanged { user_id });
    }
    profile(state, user_id).await
}

/// Find a user by numeric id or by username (case-insensitive).
pub async fn find(state: &Core, id_or_name: &str) -> Result<UserRow> {
    let found = match id_or_name.trim().parse::<UserId>() {
        Ok(id) => state.db.user_find_by_id(id).await?,
        Err(_) => state.db.user_find_by_username(validate::username_key(id_or_name)).await?,
    };
    found.ok_or_else(|| {
        AppError::with_message(ErrorCode::UserNotFound, format!("no user {id_or_name:?}"))
    })
}

/// A page of users after `after_id`.
pub async fn list(state: &Core, after_id: i64, limit: i64) -> Result<Vec<UserRow>> {
    Ok(state.db.user_list(after_id, limit.clamp(1, 1000)).await?)
}

/// Create an account as an administrator: the same rules as registration, minus the captcha
/// and the registration switch.
pub async fn create(
    state: &Core,
    username: &str,
    password: &str,
    nickname: Option<&str>,
) -> Result<UserSummary> {
    let (username, norm) = validate::username(username)?;
    validate::password(&state.config.auth, password, None)?;
    let nickname = match nickname.map(str::trim) {
        None | Some("") => username.clone(),
        Some(n) => validate::nickname(n)?,
    };
    auth::create_user(state, username, norm, password, nickname, None).await
}

/// Who runs an admin action: the CLI reaches running servers through the control table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Api,
    Cli,
}

pub(crate) async fn revoke_all(
    state: &Core,
    user_id: UserId,
    reason: RevokeReason,
    actor: Actor,
) -> Result<()> {
    // The caller already committed a change that ends the sessions (a status, a password):
    // remembered sessions are dropped and sockets closed even if marking the rows failed.
    let revoked = state.db.session_revoke(user_id, None, None, now_ms()).await;
    match actor {
        Actor::Api => state.notifier.announce_revocation(user_id, Vec::new(), reason).await,
        Actor::Cli => {
            state.notifier.invalidate_verified().await;
            let event =
                crate::bus::Event::SessionsRevoked { user_id, session_ids: Vec::new(), reason };
            state.notifier.record_for_servers(event).await
        }
    }
    revoked?;
    Ok(())
}

/// Set an account's status (enable, disable, soft-delete). Disabling or deleting ends every
/// session of the user, and running servers close the user's sockets.
pub async fn set_status(
    state: &Core,
    user_id: UserId,
    status: UserStatus,
    actor: Actor,
) -> Result<()> {
    let user = load(state, user_id).await?;
    if user.status == UserStatus::Deleted && status != UserStatus::Deleted {
        return Err(AppError::with_message(
            ErrorCode::AccountDeleted,
            "a deleted account stays deleted",
        ));
    }
    state.db.user_set_status(user_id, status.as_i16(), now_ms()).await?;
    match status {
        UserStatus::Disabled => {
            revoke_all(state, user_id, RevokeReason::AccountDisabled, actor).await?
        }
        UserStatus::Deleted => {
            revoke_all(state, user_id, RevokeReason::AccountDeleted, actor).await?
        }
        UserStatus::Active => {}
    }
    Ok(())
}

/// Set a new password for a user; every session of the user ends.
pub async fn reset_password(
    state: &Core,
    user_id: UserId,
    password: &str,
    actor: Actor,
) -> Result<()> {
    validate::password(&state.config.auth, password, None)?;
    load(state, user_id).await?;
    let hash = state.hasher.hash(password).await?;
    state.db.user_set_password_hash(user_id, hash, now_ms()).await?;
    revoke_all(state, user_id, RevokeReason::PasswordReset, actor).await
}

/// Human name of a status value.
pub fn status_name(status: i16) -> &'static str {
    UserStatus::from_i16(status).map_or("unknown", UserStatus::name)
}
