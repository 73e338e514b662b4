//! A group's life: create, read (info, my groups), edit, transfer ownership, dissolve.

use serde_json::{Value, json};

use super::MAX_NAME_CHARS;
use super::event::{GroupEvent, Via};
use super::rules::*;
use super::view::*;
use crate::bus::GroupEventKind;
use crate::db::group::{GroupChanges, GroupRow};
use crate::db::now_ms;
use crate::db::user::UserRow;
use crate::domain::{GroupId, GroupRole, GroupStatus, JoinPolicy, UserId};
use crate::error::{AppError, ErrorCode, Result};
use crate::service::{media, validate};
use crate::state::Core;

/// Create a group with the caller as owner and `member_ids` (active friends of the caller) as
/// members. The default name joins the members' nicknames.
pub async fn create(state: &Core, creator_id: UserId, input: CreateInput) -> Result<Created> {
    let cap = state.config.groups.max_members as usize;
    let mut others = check_user_ids(&input.member_ids, ErrorCode::GroupMembersEmpty, cap.max(1))?;
    others.retain(|&id| id != creator_id);
    if others.is_empty() {
        return Err(AppError::with_message(
            ErrorCode::GroupMembersEmpty,
            "member_ids must name at least one other user",
        ));
    }
    let limit = state.config.groups.default_max_members.min(state.config.groups.max_members) as i32;
    let total = others.len() as i32 + 1;
    if total > limit {
        return Err(full_error(limit, total));
    }
    let name = input.name.as_deref().map(validate_name).transpose()?;
    let avatar = input.avatar.as_deref().map(validate::avatar).transpose()?.unwrap_or_default();
    let policy = input
        .join_policy
        .as_deref()
        .map(parse_policy)
        .transpose()?
        .unwrap_or(JoinPolicy::InviteOnly.as_i16());
    let members = require_active_users(state, &others).await?;
    require_friends(state, creator_id, &others).await?;
    let creator = state
        .db
        .user_find_by_id(creator_id)
        .await?
        .ok_or_else(|| AppError::code(ErrorCode::UserNotFound))?;
    let name = match name {
        Some(n) => n,
        None => default_name(&creator, &members),
    };
    let now = now_ms();
    let mut ids = others.clone();
    ids.push(creator_id);
    let group_id = state
        .db
        .group_create(
            GroupRow {
                id: GroupId(0),
                name: name.clone(),
                avatar,
                announcement: String::new(),
                join_policy: policy,
                max_member: limit,
                member_count: total,
                owner_id: creator_id,
                speak_status: 1,
                status: GroupStatus::Active.as_i16(),
                creator_id,
                updater_id: creator_id,
                created_at: now,
                updated_at: now,
                member_invite: 0,
            },
            ids.clone(),
        )
        .await?;
    GroupEvent::new(group_id, GroupEventKind::Created, creator_id)
        .targets(others)
        .values(json!({"name": name}))
        .to(ids)
        .send(state)
        .await;
    Ok(Created { group_id, group_name: name })
}

/// Nicknames (or usernames when empty) of the creator and members, joined and cut to the
/// name limit; never empty.
pub(super) fn default_name(creator: &UserRow, members: &[UserRow]) -> String {
    let names: Vec<&str> = std::iter::once(creator)
        .chain(members.iter())
        .map(|u| if u.nickname.trim().is_empty() { u.username.as_str() } else { u.nickname.trim() })
        .filter(|n| !n.is_empty())
        .collect();
    let joined: String = names.join(", ").chars().take(MAX_NAME_CHARS).collect();
    let joined = joined.trim().trim_end_matches(',').to_string();
    if joined.is_empty() { "Group".into() } else { joined }
}

/// Group info: for members (dissolved groups included), and for anyone when the group can be
/// joined without an invitation.
pub async fn info(state: &Core, user_id: UserId, group_id: GroupId) -> Result<GroupInfo> {
    let g = load_group(state, group_id).await?;
    let me = state.db.group_member_find(g.id, user_id).await?;
    if me.is_none() && !(g.status == GroupStatus::Active && g.join_policy != JoinPolicy::InviteOnly)
    {
        return Err(AppError::code(ErrorCode::NotGroupMember));
    }
    Ok(info_of(&g, me.as_ref()))
}

/// The groups I am in (dissolved ones included, marked `dissolved`, so history stays
/// reachable).
pub async fn my_groups(state: &Core, user_id: UserId) -> Result<Vec<GroupInfo>> {
    Ok(state
        .db
        .group_list_for_user(user_id)
        .await?
        .iter()
        .map(|(g, m)| info_of(g, Some(m)))
        .collect())
}

/// Edit group info (owner/admins) and/or transfer ownership (`owner_id`, owner only).
pub async fn update(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    input: UpdateInput,
) -> Result<()> {
    let (g, me) = member_context(state, group_id, user_id).await?;
    let mut changes = GroupChanges::default();
    let mut values = serde_json::Map::new();
    if let Some(name) = &input.name {
        let name = validate_name(name)?;
        values.insert("name".into(), json!(name));
        changes.name = Some(name);
    }
    if let Some(avatar) = &input.avatar {
        // Checked here; an upload's id is taken (and the old avatar released) below, once
        // the caller is known to be allowed.
        if !media::is_media_id(avatar) {
            validate::avatar(avatar)?;
        }
        values.insert("avatar".into(), Value::Null);
    }
    if let Some(text) = &input.announcement {
        let text = validate_announcement(text)?;
        values.insert("announcement".into(), json!(text));
        changes.announcement = Some(text);
    }
    if let Some(policy) = &input.join_policy {
        let policy = parse_policy(policy)?;
        values.insert("join_policy".into(), json!(policy_name(policy)));
        changes.join_policy = Some(policy);
    }
    if let Some(speak) = input.speak_status {
        if !matches!(speak, 0 | 1) {
            return Err(AppError::code(ErrorCode::GroupSpeakInvalid));
        }
        values.insert("speak_status".into(), json!(speak));
        changes.speak_status = Some(speak);
    }
    if let Some(on) = input.member_invite {
        values.insert("member_invite".into(), json!(on));
        changes.member_invite = Some(i16::from(on));
    }
    if let Some(max) = input.max_member {
        if max < g.member_count.max(2) || max > server_max(state) {
            return Err(AppError::code(ErrorCode::InvalidMaxMember)
                .with_data(json!({"min": g.member_count.max(2), "max": server_max(state)})));
        }
        values.insert("max_member".into(), json!(max));
        changes.max_member = Some(max);
    }
    if values.is_empty() && input.owner_id.is_none() {
        return Err(AppError::code(ErrorCode::GroupNothingToUpdate));
    }
    if !values.is_empty() {
        require_admin(&me)?;
    }
    if let Some(new_owner) = input.owner_id {
        require_owner(&me)?;
        check_transfer_target(user_id, new_owner)?;
    }
    if let Some(avatar) = &input.avatar {
        let avatar =
            media::set_avatar(state, user_id, media::AvatarOf::Group(g.id), avatar).await?;
        values.insert("avatar".into(), json!(avatar));
        changes.avatar = Some(avatar);
    }
    if !values.is_empty() {
        changes.updater_id = Some(user_id);
        changes.updated_at = Some(now_ms());
        if !state.db.group_update(g.id, changes).await? {
            return Err(AppError::code(ErrorCode::GroupDissolved));
        }
        GroupEvent::new(g.id, GroupEventKind::InfoUpdated, user_id)
            .values(Value::Object(values))
            .send(state)
            .await;
    }
    if let Some(new_owner) = input.owner_id {
        do_transfer(state, &g, user_id, new_owner).await?;
    }
    Ok(())
}

pub(super) fn check_transfer_target(me: UserId, new_owner: UserId) -> Result<()> {
    if new_owner.0 <= 0 {
        return Err(AppError::code(ErrorCode::InvalidUserId));
    }
    if new_owner == me {
        return Err(AppError::code(ErrorCode::CannotEditSelf));
    }
    Ok(())
}

pub(super) async fn do_transfer(
    state: &Core,
    g: &GroupRow,
    me: UserId,
    new_owner: UserId,
) -> Result<()> {
    if state.db.group_member_find(g.id, new_owner).await?.is_none() {
        return Err(AppError::code(ErrorCode::NewOwnerNotMember));
    }
    if !state.db.group_transfer(g.id, me, new_owner, now_ms()).await? {
        return Err(AppError::code(ErrorCode::NewOwnerNotMember));
    }
    GroupEvent::new(g.id, GroupEventKind::OwnerTransferred, me)
        .targets(vec![new_owner])
        .values(json!({"owner_id": new_owner, "previous_owner_role": GroupRole::Admin.as_i16()}))
        .send(state)
        .await;
    Ok(())
}

/// Transfer ownership (owner only): the new owner must be a member; the old owner becomes an
/// admin; both in one transaction.
pub async fn transfer(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    new_owner: UserId,
) -> Result<()> {
    let (g, me) = member_context(state, group_id, user_id).await?;
    require_owner(&me)?;
    check_transfer_target(user_id, new_owner)?;
    do_transfer(state, &g, user_id, new_owner).await
}

/// Dissolve a group (owner only). Members are told; see the module docs for what stays.
pub async fn dissolve(state: &Core, user_id: UserId, group_id: GroupId) -> Result<()> {
    let (g, me) = member_context(state, group_id, user_id).await?;
    require_owner(&me)?;
    do_dissolve(state, &g, user_id, Via::Bus).await
}

pub(super) async fn do_dissolve(state: &Core, g: &GroupRow, by: UserId, via: Via) -> Result<()> {
    if !state.db.group_dissolve(g.id, by, now_ms()).await? {
        return Err(AppError::code(ErrorCode::GroupDissolved));
    }
    GroupEvent::new(g.id, GroupEventKind::Dissolved, by)
        .values(json!({"status": "dissolved"}))
        .via(via)
        .send(state)
        .await;
    Ok(())
}
