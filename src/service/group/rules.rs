//! The guards every group operation starts from: input checks, loading the group and the
//! caller's membership, ranks, who may invite, who may recall, who may send.

use serde_json::json;

use super::view::is_muted;
use super::{MAX_ANNOUNCEMENT_CHARS, MAX_NAME_CHARS};
use crate::db::group::{GroupRow, LinkRow, MemberRow};
use crate::db::now_ms;
use crate::db::user::UserRow;
use crate::domain::{GroupId, GroupRole, GroupStatus, UserId};
use crate::error::{AppError, ErrorCode, Result};
use crate::service::friend;
use crate::state::Core;

pub(super) fn check_group_id(id: GroupId) -> Result<()> {
    if id.0 <= 0 { Err(AppError::code(ErrorCode::InvalidGroupId)) } else { Ok(()) }
}

pub(super) fn check_user_ids(ids: &[UserId], empty: ErrorCode, cap: usize) -> Result<Vec<UserId>> {
    if ids.is_empty() {
        return Err(AppError::code(empty));
    }
    if ids.iter().any(|id| id.0 <= 0) {
        return Err(AppError::code(ErrorCode::InvalidUserId));
    }
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > cap {
        return Err(AppError::with_message(
            ErrorCode::InvalidParams,
            format!("at most {cap} user ids per request"),
        ));
    }
    Ok(ids)
}

/// The user ids of a request to add, remove or invite people: at least one, all valid, at
/// most a full group's worth.
pub(super) fn check_member_list(state: &Core, ids: &[UserId]) -> Result<Vec<UserId>> {
    let cap = state.config.groups.max_members as usize;
    check_user_ids(ids, ErrorCode::GroupMemberListEmpty, cap)
}

/// The server-wide ceiling as stored in `max_member`.
pub(super) fn server_max(state: &Core) -> i32 {
    i32::try_from(state.config.groups.max_members).unwrap_or(i32::MAX)
}

pub(super) async fn load_group(state: &Core, id: GroupId) -> Result<GroupRow> {
    check_group_id(id)?;
    state.db.group_find(id).await?.ok_or_else(|| AppError::code(ErrorCode::GroupNotFound))
}

pub(super) fn ensure_active(g: &GroupRow) -> Result<()> {
    if g.status == GroupStatus::Active {
        Ok(())
    } else {
        Err(AppError::code(ErrorCode::GroupDissolved))
    }
}

pub(super) async fn require_member(
    state: &Core,
    g: &GroupRow,
    user_id: UserId,
) -> Result<MemberRow> {
    state
        .db
        .group_member_find(g.id, user_id)
        .await?
        .ok_or_else(|| AppError::code(ErrorCode::NotGroupMember))
}

pub(super) fn require_admin(m: &MemberRow) -> Result<()> {
    if m.role == GroupRole::Owner || m.role == GroupRole::Admin {
        Ok(())
    } else {
        Err(AppError::code(ErrorCode::NotAdmin))
    }
}

pub(super) fn require_owner(m: &MemberRow) -> Result<()> {
    if m.role == GroupRole::Owner { Ok(()) } else { Err(AppError::code(ErrorCode::NotOwner)) }
}

/// The rank rule of every group action one member takes on another (remove, ban, mute,
/// appoint or dismiss, recall their message): the owner acts on admins and plain members,
/// admins act on plain members only, plain members act on nobody, and nobody acts on the
/// owner. What an action additionally requires (the owner alone appoints admins) is checked
/// by that action.
pub fn outranks(actor_role: i16, target_role: i16) -> bool {
    let target = GroupRole::from_i16(target_role);
    match GroupRole::from_i16(actor_role) {
        Some(GroupRole::Owner) => target != Some(GroupRole::Owner),
        Some(GroupRole::Admin) => target == Some(GroupRole::Member),
        _ => false,
    }
}

/// Whether a member may invite people (directly or by creating a link) under the group's
/// current settings: the owner and admins always, plain members while `member_invite` is on.
pub fn may_invite(g: &GroupRow, m: &MemberRow) -> bool {
    m.role != GroupRole::Member || g.member_invite == 1
}

/// Whether an unrevoked, unexpired link still works: its creator is still the member who made
/// it (a membership that began after the link does not revive it) and may still invite.
pub(super) fn link_works(g: &GroupRow, link: &LinkRow, creator: Option<&MemberRow>) -> bool {
    creator.is_some_and(|m| m.created_at <= link.created_at && may_invite(g, m))
}

/// Whether `actor` may recall `sender`'s message in the group whatever the recall window:
/// `Ok(true)` for the owner and admins on their own messages and on those of members they
/// outrank ([`outranks`]; a sender who is no longer a member counts as a plain member),
/// `Ok(false)` for plain members and non-members (they recall only their own, within the
/// window), and CANNOT_EDIT_PEER_ADMIN when an admin aims at another admin or the owner.
pub async fn may_recall_for(
    state: &Core,
    group_id: GroupId,
    actor: UserId,
    sender: UserId,
) -> Result<bool> {
    let Some(me) = state.db.group_member_find(group_id, actor).await? else { return Ok(false) };
    if me.role == GroupRole::Member {
        return Ok(false);
    }
    if sender == actor {
        return Ok(true);
    }
    let target_role = state
        .db
        .group_member_find(group_id, sender)
        .await?
        .map_or(GroupRole::Member.as_i16(), |m| m.role);
    if outranks(me.role, target_role) {
        Ok(true)
    } else {
        Err(AppError::code(ErrorCode::CannotEditPeerAdmin))
    }
}

/// An active group and the caller's membership in it.
pub(super) async fn member_context(
    state: &Core,
    group_id: GroupId,
    user_id: UserId,
) -> Result<(GroupRow, MemberRow)> {
    let g = load_group(state, group_id).await?;
    let me = require_member(state, &g, user_id).await?;
    ensure_active(&g)?;
    Ok((g, me))
}

/// [`member_context`] for what only the owner and admins may do.
pub(super) async fn admin_context(
    state: &Core,
    group_id: GroupId,
    user_id: UserId,
) -> Result<(GroupRow, MemberRow)> {
    let (g, me) = member_context(state, group_id, user_id).await?;
    require_admin(&me)?;
    Ok((g, me))
}

pub(super) fn full_error(max: i32, total: i32) -> AppError {
    AppError::code(ErrorCode::GroupFull).with_data(json!({"max": max, "total": total}))
}

pub(super) fn validate_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::code(ErrorCode::GroupNameEmpty));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AppError::code(ErrorCode::GroupNameTooLong));
    }
    Ok(name.to_string())
}

pub(super) fn validate_announcement(raw: &str) -> Result<String> {
    let text = raw.trim();
    if text.chars().count() > MAX_ANNOUNCEMENT_CHARS {
        return Err(AppError::code(ErrorCode::GroupAnnouncementTooLong));
    }
    Ok(text.to_string())
}

/// Make sure every id is an active account.
pub(super) async fn require_active_users(state: &Core, ids: &[UserId]) -> Result<Vec<UserRow>> {
    let users = state.db.users_by_ids(ids.to_vec()).await?;
    let missing: Vec<UserId> =
        ids.iter().copied().filter(|id| !users.iter().any(|u| u.id == *id)).collect();
    if !missing.is_empty() {
        return Err(
            AppError::code(ErrorCode::GroupMemberInactive).with_data(json!({"user_ids": missing}))
        );
    }
    Ok(users)
}

pub(super) async fn require_friends(state: &Core, me: UserId, ids: &[UserId]) -> Result<()> {
    let mut strangers = Vec::new();
    for &id in ids {
        if !friend::are_friends(state, me, id).await? {
            strangers.push(id);
        }
    }
    if strangers.is_empty() {
        Ok(())
    } else {
        Err(AppError::code(ErrorCode::GroupMemberNotFriend)
            .with_data(json!({"user_ids": strangers})))
    }
}

/// Whether `user_id` may send a message to the group now: the group exists and is not
/// dissolved, the user is a member, is not muted (a timed mute that ended does not count), and
/// the group is not muted as a whole unless the user is the owner or an admin.
pub async fn can_send(state: &Core, group_id: GroupId, user_id: UserId) -> Result<()> {
    let g = load_group(state, group_id).await?;
    ensure_active(&g)?;
    let me = require_member(state, &g, user_id).await?;
    if g.speak_status == 0 && me.role == GroupRole::Member {
        return Err(AppError::code(ErrorCode::GroupAllMuted));
    }
    if is_muted(&me, now_ms()) {
        return Err(AppError::code(ErrorCode::MemberMuted));
    }
    Ok(())
}
