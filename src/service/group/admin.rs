//! Admin operations behind `jim group …`: no caller role checks; events go through the
//! control table so running servers act on them at once.

use serde_json::json;

use super::event::{ADMIN, GroupEvent, Via};
use super::lifecycle::do_dissolve;
use super::members::mute_changes;
use super::rules::*;
use super::view::*;
use crate::bus::GroupEventKind;
use crate::db::group::{GroupChanges, GroupRow, MemberChanges, MemberRow};
use crate::db::now_ms;
use crate::domain::{GroupId, GroupRole, UserId};
use crate::error::{AppError, ErrorCode, Result};
use crate::state::Core;

/// A page of groups after `after_id`.
pub async fn admin_list(state: &Core, after_id: i64, limit: i64) -> Result<Vec<GroupInfo>> {
    Ok(state
        .db
        .group_list(after_id, limit.clamp(1, 1000))
        .await?
        .iter()
        .map(|g| info_of(g, None))
        .collect())
}

/// One group with its members.
pub async fn admin_show(state: &Core, group_id: GroupId) -> Result<(GroupInfo, Vec<MemberView>)> {
    let g = load_group(state, group_id).await?;
    let now = now_ms();
    let members = state
        .db
        .group_member_list(g.id)
        .await?
        .iter()
        .map(|(m, u)| member_view(m, u, now))
        .collect();
    Ok((info_of(&g, None), members))
}

/// Mute the whole group, or one member (optionally until `until`, Unix ms).
pub async fn admin_mute(
    state: &Core,
    group_id: GroupId,
    member: Option<UserId>,
    until: Option<i64>,
) -> Result<()> {
    let g = load_group(state, group_id).await?;
    ensure_active(&g)?;
    let now = now_ms();
    let Some(uid) = member else {
        if until.is_some() {
            return Err(AppError::invalid("--until applies to one member (--member)"));
        }
        return set_speak(state, &g, None, 0, None, now).await;
    };
    if require_target(state, &g, uid).await?.role != GroupRole::Member {
        return Err(AppError::code(ErrorCode::AdminCannotBeMuted));
    }
    let (speak, until) = mute_changes(Some(0), until, now)?.unwrap_or((0, None));
    set_speak(state, &g, Some(uid), speak, until, now).await
}

/// Lift the group-wide mute, or one member's mute.
pub async fn admin_unmute(state: &Core, group_id: GroupId, member: Option<UserId>) -> Result<()> {
    let g = load_group(state, group_id).await?;
    ensure_active(&g)?;
    if let Some(uid) = member {
        require_target(state, &g, uid).await?;
    }
    set_speak(state, &g, member, 1, None, now_ms()).await
}

async fn require_target(state: &Core, g: &GroupRow, uid: UserId) -> Result<MemberRow> {
    state
        .db
        .group_member_find(g.id, uid)
        .await?
        .ok_or_else(|| AppError::code(ErrorCode::TargetNotGroupMember))
}

/// Store `speak` (0 muted, 1 not) for the whole group (`member` None) or one member (with
/// `until`), and tell the members.
async fn set_speak(
    state: &Core,
    g: &GroupRow,
    member: Option<UserId>,
    speak: i16,
    until: Option<i64>,
    now: i64,
) -> Result<()> {
    let event = match member {
        None => {
            let changes = GroupChanges {
                speak_status: Some(speak),
                updated_at: Some(now),
                ..Default::default()
            };
            state.db.group_update(g.id, changes).await?;
            GroupEvent::new(g.id, GroupEventKind::InfoUpdated, ADMIN)
                .values(json!({"speak_status": speak}))
        }
        Some(uid) => {
            let changes = MemberChanges {
                speak_status: Some(speak),
                muted_until: Some(until),
                updated_at: Some(now),
                ..Default::default()
            };
            state.db.group_member_update(g.id, uid, changes).await?;
            GroupEvent::speak_changed(g.id, ADMIN, uid, speak, until)
        }
    };
    event.via(Via::Control).send(state).await;
    Ok(())
}

/// Dissolve a group as an administrator.
pub async fn admin_dissolve(state: &Core, group_id: GroupId) -> Result<()> {
    let g = load_group(state, group_id).await?;
    ensure_active(&g)?;
    do_dissolve(state, &g, ADMIN, Via::Control).await
}
