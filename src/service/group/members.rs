//! Membership from inside: leave, the member list, in-group nicknames, adding and removing
//! members (optionally banning), roles and mutes.

use serde_json::json;

use super::MAX_GROUP_NICKNAME_CHARS;
use super::admission::add_checked;
use super::event::GroupEvent;
use super::rules::*;
use super::view::*;
use crate::bus::GroupEventKind;
use crate::db::group::MemberChanges;
use crate::db::now_ms;
use crate::domain::{GroupId, GroupRole, GroupStatus, UserId};
use crate::error::{AppError, ErrorCode, Result};
use crate::state::Core;

/// Leave a group. The owner must transfer ownership or dissolve the group first.
pub async fn leave(state: &Core, user_id: UserId, group_id: GroupId) -> Result<()> {
    let g = load_group(state, group_id).await?;
    let me = require_member(state, &g, user_id).await?;
    if me.role == GroupRole::Owner {
        return Err(AppError::code(ErrorCode::OwnerCannotLeave));
    }
    if !state.db.group_member_leave(g.id, user_id, now_ms()).await? {
        return Err(AppError::code(ErrorCode::NotGroupMember));
    }
    if g.status == GroupStatus::Active {
        GroupEvent::new(g.id, GroupEventKind::MemberLeft, user_id)
            .targets(vec![user_id])
            .also_to(&[user_id])
            .send(state)
            .await;
    }
    Ok(())
}

/// The member list (members only).
pub async fn members(state: &Core, user_id: UserId, group_id: GroupId) -> Result<Vec<MemberView>> {
    let g = load_group(state, group_id).await?;
    require_member(state, &g, user_id).await?;
    let now = now_ms();
    Ok(state
        .db
        .group_member_list(g.id)
        .await?
        .iter()
        .map(|(m, u)| member_view(m, u, now))
        .collect())
}

/// Set my in-group nickname (empty clears it).
pub async fn set_nickname(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    nickname: &str,
) -> Result<()> {
    let (g, _) = member_context(state, group_id, user_id).await?;
    let nick = nickname.trim();
    if nick.chars().count() > MAX_GROUP_NICKNAME_CHARS || nick.chars().any(char::is_control) {
        return Err(AppError::code(ErrorCode::InvalidGroupNickname));
    }
    let changes = MemberChanges {
        nickname: Some(nick.to_string()),
        updater_id: Some(user_id),
        updated_at: Some(now_ms()),
        ..Default::default()
    };
    state.db.group_member_update(g.id, user_id, changes).await?;
    GroupEvent::new(g.id, GroupEventKind::NicknameChanged, user_id)
        .targets(vec![user_id])
        .values(json!({"group_nickname": nick}))
        .send(state)
        .await;
    Ok(())
}

/// Add members (owner/admins): active friends of the caller, not banned. Existing members are
/// skipped. Returns how many joined.
pub async fn add_members(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    user_ids: &[UserId],
) -> Result<Count> {
    let ids = check_member_list(state, user_ids)?;
    let (g, _) = admin_context(state, group_id, user_id).await?;
    let ids: Vec<UserId> = ids.into_iter().filter(|&id| id != user_id).collect();
    if ids.is_empty() {
        return Ok(Count { count: 0 });
    }
    require_active_users(state, &ids).await?;
    let mut banned = Vec::new();
    for &id in &ids {
        if state.db.group_ban_exists(g.id, id).await? {
            banned.push(id);
        }
    }
    if !banned.is_empty() {
        return Err(AppError::code(ErrorCode::GroupBanned).with_data(json!({"user_ids": banned})));
    }
    let mut new_ids = Vec::new();
    for &id in &ids {
        if state.db.group_member_find(g.id, id).await?.is_none() {
            new_ids.push(id);
        }
    }
    require_friends(state, user_id, &new_ids).await?;
    if new_ids.is_empty() {
        return Ok(Count { count: 0 });
    }
    let added = add_checked(state, &g, new_ids, user_id).await?;
    if !added.is_empty() {
        GroupEvent::new(g.id, GroupEventKind::MembersAdded, user_id)
            .targets(added.clone())
            .send(state)
            .await;
    }
    Ok(Count { count: added.len() })
}

/// Remove members (owner: members and admins; admins: members), optionally banning them.
pub async fn remove_members(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    user_ids: &[UserId],
    ban: bool,
) -> Result<Count> {
    let ids = check_member_list(state, user_ids)?;
    let (g, me) = admin_context(state, group_id, user_id).await?;
    let ids: Vec<UserId> = ids.into_iter().filter(|&id| id != user_id).collect();
    let roles: Vec<i16> = [GroupRole::Member.as_i16(), GroupRole::Admin.as_i16()]
        .into_iter()
        .filter(|&r| outranks(me.role, r))
        .collect();
    let out = state.db.group_member_remove(g.id, ids, roles, ban, user_id, now_ms()).await?;
    if !out.removed.is_empty() || !out.banned.is_empty() {
        GroupEvent::new(g.id, GroupEventKind::MembersRemoved, user_id)
            .targets(out.removed.clone())
            .values(json!({"banned": out.banned}))
            .also_to(&out.removed)
            .send(state)
            .await;
    }
    Ok(Count { count: out.removed.len() })
}

/// Appoint/dismiss an admin (owner only) and/or mute/unmute a member (owner/admins; only
/// plain members can be muted, optionally until a time).
pub async fn update_member(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    target_id: UserId,
    input: MemberUpdateInput,
) -> Result<()> {
    check_group_id(group_id)?;
    if target_id.0 <= 0 {
        return Err(AppError::code(ErrorCode::InvalidUserId));
    }
    if target_id == user_id {
        return Err(AppError::code(ErrorCode::CannotEditSelf));
    }
    if input.role.is_none() && input.speak_status.is_none() && input.muted_until.is_none() {
        return Err(AppError::code(ErrorCode::GroupNothingToUpdate));
    }
    let (g, me) = member_context(state, group_id, user_id).await?;
    let target = state
        .db
        .group_member_find(g.id, target_id)
        .await?
        .ok_or_else(|| AppError::code(ErrorCode::TargetNotGroupMember))?;
    require_admin(&me)?;
    if !outranks(me.role, target.role) {
        return Err(AppError::code(ErrorCode::CannotEditPeerAdmin));
    }
    let now = now_ms();
    let mut changes =
        MemberChanges { updater_id: Some(user_id), updated_at: Some(now), ..Default::default() };
    let mut role_after = target.role;
    if let Some(role) = input.role {
        if !matches!(GroupRole::from_i16(role), Some(GroupRole::Member | GroupRole::Admin)) {
            return Err(AppError::code(ErrorCode::InvalidRole));
        }
        require_owner(&me)?;
        changes.role = Some(role);
        role_after = role;
        if role == GroupRole::Admin {
            changes.speak_status = Some(1);
            changes.muted_until = Some(None);
        }
    }
    let mute = mute_changes(input.speak_status, input.muted_until, now)?;
    if let Some((speak, until)) = mute {
        if speak == 0 && role_after != GroupRole::Member {
            return Err(AppError::code(ErrorCode::AdminCannotBeMuted));
        }
        changes.speak_status = Some(speak);
        changes.muted_until = Some(until);
    }
    state.db.group_member_update(g.id, target_id, changes).await?;
    if input.role.is_some_and(|r| r != target.role) {
        GroupEvent::new(g.id, GroupEventKind::RoleChanged, user_id)
            .targets(vec![target_id])
            .values(json!({"role": role_after}))
            .send(state)
            .await;
    }
    if let Some((speak, until)) = mute {
        GroupEvent::speak_changed(g.id, user_id, target_id, speak, until).send(state).await;
    }
    Ok(())
}

/// `(speak_status, muted_until)` to store for a mute request, if any.
pub(super) fn mute_changes(
    speak: Option<i16>,
    until: Option<i64>,
    now: i64,
) -> Result<Option<(i16, Option<i64>)>> {
    if let Some(s) = speak
        && !matches!(s, 0 | 1)
    {
        return Err(AppError::code(ErrorCode::GroupSpeakInvalid));
    }
    match (speak, until) {
        (None, None) => Ok(None),
        (Some(1), Some(_)) => Err(AppError::with_message(
            ErrorCode::InvalidMuteUntil,
            "muted_until only goes with speak_status 0",
        )),
        (Some(1), None) => Ok(Some((1, None))),
        (_, Some(t)) if t <= now => Err(AppError::code(ErrorCode::InvalidMuteUntil)),
        (_, t) => Ok(Some((0, t))),
    }
}
