//! The ways into a group and the ban list that closes them: joining by policy, join requests
//! (answered by the owner or an admin), invitations (answered by the invitee), bans. Requests
//! and invitations are answered by one path, [`settle`]: the rules differ only in who
//! answers, what is checked first and who is told.

use serde_json::json;

use super::MAX_REQUEST_MESSAGE_CHARS;
use super::event::GroupEvent;
use super::rules::*;
use super::view::*;
use crate::bus::GroupEventKind;
use crate::db::group::{AddOutcome, Admission, GroupRow};
use crate::db::now_ms;
use crate::domain::{GroupId, GroupRole, JoinPolicy, RequestStatus, UserId};
use crate::error::{AppError, ErrorCode, Result};
use crate::state::Core;

/// Join a group: `open` groups at once, `approval` groups by a join request, `invite_only`
/// groups not at all (use an invitation or a link).
pub async fn join(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    message: Option<String>,
) -> Result<JoinResult> {
    let g = load_group(state, group_id).await?;
    ensure_active(&g)?;
    if state.db.group_member_find(g.id, user_id).await?.is_some() {
        return Err(AppError::code(ErrorCode::AlreadyGroupMember));
    }
    if state.db.group_ban_exists(g.id, user_id).await? {
        return Err(AppError::code(ErrorCode::GroupBanned));
    }
    match JoinPolicy::from_i16(g.join_policy) {
        Some(JoinPolicy::Open) => {
            admit(state, &g, user_id, user_id, user_id, "join").await?;
            Ok(JoinResult { group_id: g.id, status: "joined".into() })
        }
        Some(JoinPolicy::Approval) => {
            let message = message.unwrap_or_default().trim().to_string();
            if message.chars().count() > MAX_REQUEST_MESSAGE_CHARS
                || message.chars().any(char::is_control)
            {
                return Err(AppError::invalid(format!(
                    "message must be at most {MAX_REQUEST_MESSAGE_CHARS} characters"
                )));
            }
            state.db.group_request_upsert(g.id, user_id, message.clone(), now_ms()).await?;
            let admins = admin_ids(state, g.id).await?;
            GroupEvent::new(g.id, GroupEventKind::JoinRequested, user_id)
                .targets(vec![user_id])
                .values(json!({"message": message}))
                .to(admins)
                .send(state)
                .await;
            Ok(JoinResult { group_id: g.id, status: "requested".into() })
        }
        _ => Err(AppError::code(ErrorCode::GroupInviteOnly)),
    }
}

/// Add `ids` inside the seat-counting transaction, mapping its outcome to errors: any banned
/// id → GROUP_BANNED (nothing added), too few seats → GROUP_FULL. Returns the ids added.
pub(super) async fn add_checked(
    state: &Core,
    g: &GroupRow,
    ids: Vec<UserId>,
    by: UserId,
) -> Result<Vec<UserId>> {
    match state.db.group_member_add(g.id, ids, by, server_max(state), now_ms()).await? {
        AddOutcome::Added { added, banned, .. } => {
            if !banned.is_empty() && added.is_empty() {
                return Err(
                    AppError::code(ErrorCode::GroupBanned).with_data(json!({"user_ids": banned}))
                );
            }
            Ok(added)
        }
        AddOutcome::Full { max, total } => Err(full_error(max, total)),
        AddOutcome::NotFound => Err(AppError::code(ErrorCode::GroupNotFound)),
        AddOutcome::Dissolved => Err(AppError::code(ErrorCode::GroupDissolved)),
    }
}

/// Seat one `joiner` (limit and bans checked in the same transaction; recorded as added by
/// `added_by`; their pending invitations and join requests closed) and tell the members,
/// whichever way they came in (`via`). False when they were a member already.
pub(super) async fn admit(
    state: &Core,
    g: &GroupRow,
    joiner: UserId,
    added_by: UserId,
    actor: UserId,
    via: &str,
) -> Result<bool> {
    let added = add_checked(state, g, vec![joiner], added_by).await?;
    if added.is_empty() {
        return Ok(false);
    }
    let values = json!({ "via": via });
    GroupEvent::new(g.id, GroupEventKind::MemberJoined, actor)
        .targets(added)
        .values(values)
        .send(state)
        .await;
    Ok(true)
}

/// The owner and admins of the group: who answers join requests and watches the ban list.
async fn admin_ids(state: &Core, group_id: GroupId) -> Result<Vec<UserId>> {
    Ok(state
        .db
        .group_member_ids(
            group_id,
            Some(vec![GroupRole::Owner.as_i16(), GroupRole::Admin.as_i16()]),
        )
        .await?)
}

/// The group, when `user_id` is its owner or an admin (a dissolved group's lists stay
/// readable).
async fn admin_reading(state: &Core, group_id: GroupId, user_id: UserId) -> Result<GroupRow> {
    let g = load_group(state, group_id).await?;
    require_admin(&require_member(state, &g, user_id).await?)?;
    Ok(g)
}

/// The ban list (owner/admins).
pub async fn bans(state: &Core, user_id: UserId, group_id: GroupId) -> Result<Vec<BanView>> {
    let g = admin_reading(state, group_id, user_id).await?;
    Ok(state
        .db
        .group_ban_list(g.id)
        .await?
        .into_iter()
        .map(|(b, u)| BanView {
            user_id: b.user_id,
            username: u.username,
            nickname: u.nickname,
            banned_by: b.banned_by,
            banned_at: b.created_at,
        })
        .collect())
}

/// Lift a ban (owner/admins).
pub async fn unban(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    target_id: UserId,
) -> Result<()> {
    if target_id.0 <= 0 {
        return Err(AppError::code(ErrorCode::InvalidUserId));
    }
    let (g, _) = admin_context(state, group_id, user_id).await?;
    if !state.db.group_ban_delete(g.id, target_id).await? {
        return Err(AppError::code(ErrorCode::GroupBanNotFound));
    }
    GroupEvent::new(g.id, GroupEventKind::MemberUnbanned, user_id)
        .targets(vec![target_id])
        .to(admin_ids(state, g.id).await?)
        .send(state)
        .await;
    Ok(())
}

/// Pending join requests (owner/admins).
pub async fn requests(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
) -> Result<Vec<RequestView>> {
    let g = admin_reading(state, group_id, user_id).await?;
    Ok(state
        .db
        .group_request_list_pending(g.id)
        .await?
        .into_iter()
        .map(|(r, u)| RequestView {
            user_id: r.user_id,
            username: u.username,
            nickname: u.nickname,
            message: r.message,
            requested_at: r.updated_at,
        })
        .collect())
}

/// Accept or reject a pending join request (owner/admins).
pub async fn handle_request(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    requester: UserId,
    accept: bool,
) -> Result<()> {
    if requester.0 <= 0 {
        return Err(AppError::code(ErrorCode::InvalidUserId));
    }
    let (g, _) = admin_context(state, group_id, user_id).await?;
    settle(state, &g, Admission::Request, requester, user_id, accept).await
}

/// Invite people directly (owner/admins; plain members when the group allows it). The
/// invitee joins by accepting. Returns how many invitations were sent.
pub async fn invite(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    user_ids: &[UserId],
) -> Result<Count> {
    let ids = check_member_list(state, user_ids)?;
    let (g, me) = member_context(state, group_id, user_id).await?;
    if !may_invite(&g, &me) {
        return Err(AppError::code(ErrorCode::GroupInviteNotAllowed));
    }
    require_active_users(state, &ids).await?;
    let now = now_ms();
    let mut invited = Vec::new();
    for &id in &ids {
        if state.db.group_ban_exists(g.id, id).await? {
            return Err(AppError::code(ErrorCode::GroupBanned).with_data(json!({"user_ids": [id]})));
        }
    }
    for &id in &ids {
        if id == user_id || state.db.group_member_find(g.id, id).await?.is_some() {
            continue;
        }
        state.db.group_invite_upsert(g.id, user_id, id, now).await?;
        invited.push(id);
    }
    if !invited.is_empty() {
        GroupEvent::new(g.id, GroupEventKind::Invited, user_id)
            .targets(invited.clone())
            .values(json!({"group_name": g.name}))
            .to(invited.clone())
            .send(state)
            .await;
    }
    Ok(Count { count: invited.len() })
}

/// My pending invitations.
pub async fn my_invites(state: &Core, user_id: UserId) -> Result<Vec<InviteView>> {
    Ok(state
        .db
        .group_invite_list_pending(user_id)
        .await?
        .into_iter()
        .map(|(i, g)| InviteView {
            group_id: g.id,
            group_name: g.name,
            inviter_id: i.inviter_id,
            invited_at: i.updated_at,
        })
        .collect())
}

/// Accept or reject my pending invitation to a group.
pub async fn answer_invite(
    state: &Core,
    user_id: UserId,
    group_id: GroupId,
    accept: bool,
) -> Result<()> {
    let g = load_group(state, group_id).await?;
    settle(state, &g, Admission::Invitation, user_id, user_id, accept).await
}

/// Answer the pending `kind` admission of `user_id` as `answerer` (an admin for a request,
/// the invitee for an invitation). A rejection closes it (a rejected requester is told); an
/// acceptance seats the user as added by the answerer, in an active group, and closes it.
async fn settle(
    state: &Core,
    g: &GroupRow,
    kind: Admission,
    user_id: UserId,
    answerer: UserId,
    accept: bool,
) -> Result<()> {
    let (not_found, via) = match kind {
        Admission::Request => (ErrorCode::GroupRequestNotFound, "request"),
        Admission::Invitation => (ErrorCode::GroupInviteNotFound, "invite"),
    };
    if !state.db.group_admission_is_pending(kind, g.id, user_id).await? {
        return Err(AppError::code(not_found));
    }
    let now = now_ms();
    if !accept {
        state
            .db
            .group_admission_resolve(kind, g.id, user_id, RequestStatus::Rejected, answerer, now)
            .await?;
        if kind == Admission::Request {
            GroupEvent::new(g.id, GroupEventKind::JoinRequestRejected, answerer)
                .targets(vec![user_id])
                .to(vec![user_id])
                .send(state)
                .await;
        }
        return Ok(());
    }
    ensure_active(g)?;
    match kind {
        // The admin answers for someone else: they must still have an active account.
        Admission::Request => {
            require_active_users(state, &[user_id]).await?;
        }
        Admission::Invitation => {
            if state.db.group_member_find(g.id, user_id).await?.is_some() {
                state
                    .db
                    .group_admission_resolve(
                        kind,
                        g.id,
                        user_id,
                        RequestStatus::Accepted,
                        answerer,
                        now,
                    )
                    .await?;
                return Err(AppError::code(ErrorCode::AlreadyGroupMember));
            }
        }
    }
    admit(state, g, user_id, answerer, answerer, via).await?;
    state
        .db
        .group_admission_resolve(kind, g.id, user_id, RequestStatus::Accepted, answerer, now)
        .await?;
    Ok(())
}
