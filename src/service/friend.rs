//! Friends: search, invitations, the friend list, remarks, one-sided delete, block — and the
//! private-chat permission that follows from them. The relation of a pair is one row with two
//! 2-bit fields: bit `0b10` belongs to the smaller id ("A"), bit `0b01` to the larger ("B").

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::bus::auth_cache::Epoch;
use crate::bus::{Event, FriendEventKind};
use crate::db::friend::{AcceptOutcome, InviteRow, RelationChanges, RelationRow};
use crate::db::now_ms;
use crate::db::user::UserRow;
use crate::domain::{MessageType, OnlineStatus, RequestStatus, SessionType, UserId, UserStatus};
use crate::error::{AppError, ErrorCode, Result};
use crate::state::Core;
use crate::store::{NewMessage, private_room_id};

/// Longest invitation note and reply, in characters.
pub const MAX_NOTE_CHARS: usize = 100;
/// Longest remark, in characters.
pub const MAX_REMARK_CHARS: usize = 30;
/// Largest page of search results and friends.
pub const MAX_PAGE: i64 = 100;
/// Most relations loaded for one user's friend list.
const RELATION_CAP: i64 = 5000;
/// The greeting sent when two users become friends.
pub const GREETING_TEXT: &str = "We are friends now. Let's chat!";

/// `caller`'s bit in a pair's fields (and the other user's bit).
fn bits(caller: UserId, other: UserId) -> (i16, i16) {
    if caller < other { (0b10, 0b01) } else { (0b01, 0b10) }
}

/// How `caller` and `other` stand, read from the pair's row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Standing {
    /// `caller` counts `other` as a friend.
    pub i_befriend: bool,
    /// `other` counts `caller` as a friend.
    pub they_befriend: bool,
    /// `caller` blocked `other`.
    pub i_blocked: bool,
    /// `other` blocked `caller`.
    pub they_blocked: bool,
}

impl Standing {
    pub fn of(row: Option<&RelationRow>, caller: UserId, other: UserId) -> Self {
        let Some(r) = row else { return Standing::default() };
        let (mine, theirs) = bits(caller, other);
        Standing {
            i_befriend: r.status & mine != 0,
            they_befriend: r.status & theirs != 0,
            i_blocked: r.block_status & mine == 0,
            they_blocked: r.block_status & theirs == 0,
        }
    }

    pub fn mutual(&self) -> bool {
        self.i_befriend && self.they_befriend
    }

    /// Friends both ways with no block either way: the two may write to each other, and
    /// see each other's read positions.
    pub fn may_chat(&self) -> bool {
        self.mutual() && !self.i_blocked && !self.they_blocked
    }

    fn check_blocks(&self) -> Result<()> {
        if self.they_blocked {
            return Err(AppError::code(ErrorCode::BlockedByTarget));
        }
        if self.i_blocked {
            return Err(AppError::code(ErrorCode::TargetBlocked));
        }
        Ok(())
    }
}

/// An invitation as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = FriendInviteView)]
pub struct InviteView {
    pub id: i64,
    /// The inviter.
    #[schema(value_type = i64)]
    pub user_id: UserId,
    /// The invitee.
    #[schema(value_type = i64)]
    pub target_id: UserId,
    pub note: String,
    pub reply: String,
    /// 0 pending, 1 accepted, 2 rejected.
    pub status: i16,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<InviteRow> for InviteView {
    fn from(r: InviteRow) -> Self {
        InviteView {
            id: r.id,
            user_id: r.user_id,
            target_id: r.target_id,
            note: r.note,
            reply: r.reply,
            status: r.status,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A user as search results show them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserCard {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub nickname: String,
    pub avatar: String,
}

/// One entry of my friend list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FriendView {
    #[schema(value_type = i64)]
    pub user_id: UserId,
    pub nickname: String,
    pub avatar: String,
    /// My remark for them ("" when none).
    pub remark: String,
    /// Their chosen status; `invisible` shows as 0 (offline).
    pub online_status: i16,
    /// Whether they count me as a friend too (private chat needs both).
    pub mutual: bool,
    /// Whether I blocked them.
    pub blocked: bool,
}

/// The outcome of an invitation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InviteOutcome {
    /// `invited` (waiting for an answer) or `friends` (mutual consent or a restore).
    pub result: &'static str,
    pub invite: Option<InviteView>,
    /// The invitation again in the original JIM's shape, for its front ends (absent when
    /// there is no invitation).
    #[serde(flatten)]
    pub original: OriginalInvite,
}

impl InviteOutcome {
    fn new(result: &'static str, invite: Option<InviteView>) -> Self {
        let original = invite.as_ref().map(OriginalInvite::from).unwrap_or_default();
        InviteOutcome { result, invite, original }
    }
}

/// An invitation in the original JIM's shape, which its front ends read at the top of a
/// `friend_invite` push's `data`: the status is under `type`, and `created_at` is an RFC 3339
/// time. Sent beside this server's own fields, never instead of them; every field is there
/// when there is an invitation, none when there is not.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct OriginalInvite {
    /// The invitation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The inviter.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub user_id: Option<UserId>,
    /// The invitee.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub target_id: Option<UserId>,
    /// The invitation's status (0 pending, 1 accepted, 2 rejected), under the original's name.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub status: Option<i16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// RFC 3339, e.g. `2026-12-07T14:04:33.123Z`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl From<&InviteView> for OriginalInvite {
    fn from(v: &InviteView) -> Self {
        let created_at = chrono::DateTime::from_timestamp_millis(v.created_at)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        OriginalInvite {
            id: Some(v.id),
            user_id: Some(v.user_id),
            target_id: Some(v.target_id),
            status: Some(v.status),
            note: Some(v.note.clone()),
            reply: Some(v.reply.clone()),
            created_at: Some(created_at),
        }
    }
}

/// The `data` of a `friend_invite` / `friend_event` push: this server's fields (`kind`,
/// `actor_id`, `friend_id`, `invite`) and, for an invitation, the original's fields beside them.
pub fn push_data(
    kind: FriendEventKind,
    actor_id: UserId,
    friend_id: UserId,
    invite: Option<&serde_json::Value>,
) -> serde_json::Value {
    let mut data =
        json!({"kind": kind, "actor_id": actor_id, "friend_id": friend_id, "invite": invite});
    let original = invite
        .and_then(|v| serde_json::from_value::<InviteView>(v.clone()).ok())
        .map(|view| json!(OriginalInvite::from(&view)));
    if let (Some(serde_json::Value::Object(fields)), Some(out)) = (original, data.as_object_mut()) {
        out.extend(fields);
    }
    data
}

fn ensure_target_id(target: UserId, caller: UserId) -> Result<()> {
    if target.0 <= 0 {
        return Err(AppError::code(ErrorCode::InvalidUserId));
    }
    if target == caller {
        return Err(AppError::code(ErrorCode::FriendSelf));
    }
    Ok(())
}

fn short_text(text: &str, max: usize, code: ErrorCode) -> Result<String> {
    let t = text.trim();
    if t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(AppError::code(code));
    }
    Ok(t.to_string())
}

async fn load_target(state: &Core, target: UserId) -> Result<UserRow> {
    let user = state.db.user_find_by_id(target).await?;
    match user {
        None => Err(AppError::code(ErrorCode::TargetNotExists)),
        Some(u) if u.status == UserStatus::Disabled => {
            Err(AppError::code(ErrorCode::TargetDisabled))
        }
        Some(u) if u.status == UserStatus::Deleted => Err(AppError::code(ErrorCode::TargetDeleted)),
        Some(u) => Ok(u),
    }
}

async fn publish(state: &Core, event: Event) {
    if let Err(e) = state.bus.publish(event).await {
        // The change is committed; clients catch up through the list routes.
        slog::warn!(state.log, "friend event not published"; "error" => e.to_string());
    }
}

/// Store and publish the greeting from `from` to `to` through the normal message path.
/// Failures are logged: the friendship itself is already committed.
pub async fn send_greeting(
    state: &Core,
    from: UserId,
    to: UserId,
) -> Option<crate::store::StoredMessage> {
    let message = NewMessage {
        room_id: private_room_id(from.get(), to.get()),
        session_type: SessionType::Private.as_i16(),
        message_type: MessageType::Text.as_i16(),
        sender_id: from.get(),
        receiver_id: to.get(),
        action_id: format!("greeting-{}", uuid::Uuid::new_v4().simple()),
        body: json!({ "text": GREETING_TEXT }).to_string(),
        created_at: now_ms(),
    };
    let push = crate::service::chat::push_on_commit(state, vec![from.min(to), from.max(to)]);
    match state.messages.append_then(message, push).await {
        Ok(stored) => Some(stored),
        Err(e) => {
            slog::error!(state.log, "greeting not stored"; "error" => format!("{e:#}"));
            None
        }
    }
}

async fn became_friends(state: &Core, actor: UserId, other: UserId, invite: Option<InviteView>) {
    publish(
        state,
        Event::Friend {
            recipient_ids: vec![actor, other],
            kind: FriendEventKind::FriendAdded,
            actor_id: actor,
            friend_id: other,
            invite: invite.map(|i| json!(i)),
        },
    )
    .await;
    send_greeting(state, actor, other).await;
}

/// Invite `target` (or become friends at once when they invited me first, or when only I
/// had deleted them).
pub async fn invite(
    state: &Core,
    caller: UserId,
    target: UserId,
    note: &str,
) -> Result<InviteOutcome> {
    ensure_target_id(target, caller)?;
    let note = short_text(note, MAX_NOTE_CHARS, ErrorCode::InvalidNote)?;
    load_target(state, target).await?;
    let relation = state.db.relation_get(caller, target).await?;
    let standing = Standing::of(relation.as_ref(), caller, target);
    standing.check_blocks()?;
    if standing.mutual() {
        return Err(AppError::code(ErrorCode::AlreadyFriends));
    }
    let now = now_ms();
    for _ in 0..3 {
        if let Some(pending) = state.db.invite_pending(caller, target).await? {
            if pending.user_id == caller {
                return Err(AppError::code(ErrorCode::InviteAlreadyPending));
            }
            // They invited me: my invitation is consent.
            return accept_pending(state, caller, pending, String::new()).await;
        }
        if standing.they_befriend {
            // Only I had deleted them: restore at once.
            state
                .db
                .relation_modify(caller, target, now, move |r| RelationChanges {
                    status: 3,
                    block_status: r.block_status,
                    remark_on_a: r.remark_on_a.clone(),
                    remark_on_b: r.remark_on_b.clone(),
                    updated_at: now,
                })
                .await?;
            became_friends(state, caller, target, None).await;
            return Ok(InviteOutcome::new("friends", None));
        }
        match state.db.invite_insert(caller, target, note.clone(), now).await {
            Ok(row) => {
                let view = InviteView::from(row);
                publish(
                    state,
                    Event::Friend {
                        recipient_ids: vec![target, caller],
                        kind: FriendEventKind::InviteReceived,
                        actor_id: caller,
                        friend_id: target,
                        invite: Some(json!(view)),
                    },
                )
                .await;
                return Ok(InviteOutcome::new("invited", Some(view)));
            }
            // Someone created the pair's pending invitation in the meantime: look again.
            Err(e) if e.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Unavailable(anyhow::anyhow!("invitation kept racing")))
}

async fn accept_pending(
    state: &Core,
    caller: UserId,
    invite: InviteRow,
    reply: String,
) -> Result<InviteOutcome> {
    let inviter = invite.user_id;
    let now = now_ms();
    match state.db.invite_accept(invite.id, inviter, caller, reply, now).await? {
        AcceptOutcome::AlreadyHandled => Err(AppError::code(ErrorCode::InviteAlreadyHandled)),
        AcceptOutcome::Accepted => {
            let view = state.db.invite_find(invite.id).await?.map(InviteView::from);
            publish(
                state,
                Event::Friend {
                    recipient_ids: vec![inviter, caller],
                    kind: FriendEventKind::InviteAccepted,
                    actor_id: caller,
                    friend_id: inviter,
                    invite: view.as_ref().map(|v| json!(v)),
                },
            )
            .await;
            became_friends(state, caller, inviter, view.clone()).await;
            Ok(InviteOutcome::new("friends", view))
        }
    }
}

/// Accept (`status` 1) or reject (2) an invitation I received.
pub async fn answer(
    state: &Core,
    caller: UserId,
    invite_id: i64,
    status: i16,
    reply: &str,
) -> Result<InviteOutcome> {
    if invite_id <= 0 {
        return Err(AppError::invalid("id must be a positive invitation id"));
    }
    let answer = match RequestStatus::from_i16(status) {
        Some(a @ (RequestStatus::Accepted | RequestStatus::Rejected)) => a,
        _ => return Err(AppError::code(ErrorCode::InviteStatusInvalid)),
    };
    let reply = short_text(reply, MAX_NOTE_CHARS, ErrorCode::InviteReplyTooLong)?;
    let invite = state
        .db
        .invite_find(invite_id)
        .await?
        .ok_or_else(|| AppError::code(ErrorCode::InviteNotFound))?;
    if invite.target_id != caller {
        // Not mine to answer; do not reveal whose it is.
        return Err(AppError::code(ErrorCode::InviteNotFound));
    }
    if invite.status != RequestStatus::Pending {
        return Err(AppError::code(ErrorCode::InviteAlreadyHandled));
    }
    if answer == RequestStatus::Accepted {
        load_target(state, invite.user_id).await?;
        let relation = state.db.relation_get(caller, invite.user_id).await?;
        Standing::of(relation.as_ref(), caller, invite.user_id).check_blocks()?;
        return accept_pending(state, caller, invite, reply).await;
    }
    if !state.db.invite_reject(invite.id, reply, now_ms()).await? {
        return Err(AppError::code(ErrorCode::InviteAlreadyHandled));
    }
    let view = state.db.invite_find(invite.id).await?.map(InviteView::from);
    // The inviter learns the answer (with the reply); the rejecter's other devices sync.
    publish(
        state,
        Event::Friend {
            recipient_ids: vec![invite.user_id, caller],
            kind: FriendEventKind::InviteRejected,
            actor_id: caller,
            friend_id: invite.user_id,
            invite: view.as_ref().map(|v| json!(v)),
        },
    )
    .await;
    Ok(InviteOutcome::new("rejected", view))
}

/// Invitations I received (`incoming`) or sent, newest first.
pub async fn invitations(
    state: &Core,
    caller: UserId,
    incoming: bool,
    status: Option<i16>,
    before_id: Option<i64>,
    limit: Option<i64>,
) -> Result<Vec<InviteView>> {
    if status.is_some_and(|s| RequestStatus::from_i16(s).is_none()) {
        return Err(AppError::invalid("status must be 0 (pending), 1 (accepted) or 2 (rejected)"));
    }
    let before = before_id.filter(|b| *b > 0).unwrap_or(i64::MAX);
    let limit = limit.unwrap_or(20).clamp(1, MAX_PAGE);
    let rows = state.db.invite_list(caller, incoming, status, before, limit).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// How many invitations wait for my answer.
pub async fn pending_count(state: &Core, caller: UserId) -> Result<i64> {
    Ok(state.db.invite_count_pending(caller).await?)
}

/// Search by exact id or by nickname prefix (≥ 2 characters, compared literally). Skips
/// disabled and deleted users, me, and users who blocked me. Keyset paging by id.
pub async fn find(
    state: &Core,
    caller: UserId,
    user_id: Option<UserId>,
    nickname: Option<&str>,
    start_id: Option<i64>,
    limit: Option<i64>,
) -> Result<Vec<UserCard>> {
    let limit = limit.unwrap_or(20).clamp(1, MAX_PAGE);
    let nickname = nickname.map(str::trim).filter(|n| !n.is_empty());
    // A nickname that is given must be valid, even where user_id decides the search.
    if nickname.is_some_and(|n| n.chars().count() < 2) {
        return Err(AppError::code(ErrorCode::FindNicknameTooShort));
    }
    let candidates = match (user_id, nickname) {
        (Some(id), _) => {
            if id.0 <= 0 {
                return Err(AppError::code(ErrorCode::InvalidUserId));
            }
            state.db.users_by_ids(vec![id]).await?
        }
        (None, Some(nick)) => {
            let after = start_id.unwrap_or(0).max(0);
            state.db.users_by_nickname_prefix(nick.to_string(), after, limit * 2).await?
        }
        (None, None) => return Err(AppError::code(ErrorCode::FindParamsMissing)),
    };
    let blockers: std::collections::HashSet<UserId> = state
        .db
        .relation_list(caller, RELATION_CAP)
        .await?
        .iter()
        .filter_map(|r| {
            let other = if r.user_a_id == caller { r.user_b_id } else { r.user_a_id };
            Standing::of(Some(r), caller, other).they_blocked.then_some(other)
        })
        .collect();
    Ok(candidates
        .into_iter()
        .filter(|u| u.id != caller && !blockers.contains(&u.id))
        .take(limit as usize)
        .map(|u| UserCard { id: u.id, nickname: u.nickname, avatar: u.avatar })
        .collect())
}

/// My friends (everyone I count as a friend), by user id after `after_id`.
pub async fn list(
    state: &Core,
    caller: UserId,
    after_id: Option<i64>,
    limit: Option<i64>,
) -> Result<Vec<FriendView>> {
    let after = after_id.unwrap_or(0);
    let limit = limit.unwrap_or(MAX_PAGE).clamp(1, 1000) as usize;
    let relations = state.db.relation_list(caller, RELATION_CAP).await?;
    let mut entries: Vec<(UserId, Standing, String)> = relations
        .iter()
        .filter_map(|r| {
            let other = if r.user_a_id == caller { r.user_b_id } else { r.user_a_id };
            let standing = Standing::of(Some(r), caller, other);
            // My remark for them lives in their column.
            let remark = if caller < other { r.remark_on_b.clone() } else { r.remark_on_a.clone() };
            (standing.i_befriend && other.get() > after).then_some((other, standing, remark))
        })
        .collect();
    entries.sort_by_key(|e| e.0);
    entries.truncate(limit);
    let users = state.db.users_by_ids(entries.iter().map(|e| e.0).collect()).await?;
    let by_id: std::collections::HashMap<UserId, UserRow> =
        users.into_iter().map(|u| (u.id, u)).collect();
    Ok(entries
        .into_iter()
        .filter_map(|(id, standing, remark)| {
            let u = by_id.get(&id)?;
            Some(FriendView {
                user_id: id,
                nickname: u.nickname.clone(),
                avatar: u.avatar.clone(),
                remark,
                online_status: if u.online_status == OnlineStatus::Invisible
                    || !state.presence.is_online(id)
                {
                    OnlineStatus::SHOWN_OFFLINE
                } else {
                    u.online_status
                },
                mutual: standing.mutual(),
                blocked: standing.i_blocked,
            })
        })
        .collect())
}

/// What `/friend/update` may change.
#[derive(Debug, Clone, Default)]
pub struct FriendUpdate {
    /// 0: delete (one-sided).
    pub status: Option<i16>,
    /// 0: block, 1: unblock.
    pub block_status: Option<i16>,
    /// My remark for them; empty clears it.
    pub remark: Option<String>,
    /// With a delete: also hide our conversation from my history.
    pub delete_history: bool,
}

/// Whether `/friend/update` changed anything.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UpdateOutcome {
    pub changed: bool,
}

/// Delete, block, unblock, or set my remark for `target`.
pub async fn update(
    state: &Core,
    caller: UserId,
    target: UserId,
    update: FriendUpdate,
) -> Result<UpdateOutcome> {
    ensure_target_id(target, caller)?;
    if update.status.is_none() && update.block_status.is_none() && update.remark.is_none() {
        return Err(AppError::code(ErrorCode::FriendNothingSet));
    }
    if update.status.is_some() && update.block_status.is_some() {
        return Err(AppError::code(ErrorCode::FriendStatusXorBlock));
    }
    if update.status.is_some_and(|s| s != 0) {
        return Err(AppError::code(ErrorCode::FriendStatusMustBe0));
    }
    if update.block_status.is_some_and(|b| !matches!(b, 0 | 1)) {
        return Err(AppError::code(ErrorCode::FriendBlockMustBe0Or1));
    }
    let remark = match &update.remark {
        Some(r) => Some(short_text(r, MAX_REMARK_CHARS, ErrorCode::InvalidRemark)?),
        None => None,
    };
    let existing = state.db.relation_get(caller, target).await?;
    if existing.is_none() {
        // Blocking a stranger is allowed (it stops their invitations); the rest needs a relation.
        if update.block_status.is_none() || remark.is_some() {
            return Err(AppError::code(ErrorCode::FriendNoRelation));
        }
        if state.db.user_find_by_id(target).await?.is_none() {
            return Err(AppError::code(ErrorCode::TargetNotExists));
        }
    }
    let (mine, _) = bits(caller, target);
    let now = now_ms();
    let (status_change, block_change, remark_change) =
        (update.status, update.block_status, remark.clone());
    let (before, after) = state
        .db
        .relation_modify(caller, target, now, move |r| {
            let mut next = RelationChanges {
                status: r.status,
                block_status: r.block_status,
                remark_on_a: r.remark_on_a.clone(),
                remark_on_b: r.remark_on_b.clone(),
                updated_at: now,
            };
            if status_change == Some(0) {
                next.status &= !mine;
            }
            match block_change {
                Some(0) => next.block_status &= !mine,
                Some(1) => next.block_status |= mine,
                _ => {}
            }
            if let Some(remark) = remark_change.clone() {
                if caller < target { next.remark_on_b = remark } else { next.remark_on_a = remark }
            }
            next
        })
        .await?;
    // A bit cleared is a friendship ended (status) or a block begun (block_status): no
    // process may go on trusting "allowed". Before anything else that could fail.
    if before.status & !after.status != 0 || before.block_status & !after.block_status != 0 {
        state.notifier.invalidate_verified().await;
    }
    if update.status == Some(0) && update.delete_history {
        crate::service::chat::clear_private_history(state, caller, target).await?;
    }
    let mut changed = false;
    let mut announce = |kind| {
        changed = true;
        Event::Friend {
            recipient_ids: vec![caller],
            kind,
            actor_id: caller,
            friend_id: target,
            invite: None,
        }
    };
    let mut events = Vec::new();
    if before.status != after.status {
        events.push(announce(FriendEventKind::FriendDeleted));
    }
    if before.block_status != after.block_status {
        let kind = if update.block_status == Some(0) {
            FriendEventKind::Blocked
        } else {
            FriendEventKind::Unblocked
        };
        events.push(announce(kind));
    }
    if (before.remark_on_a, before.remark_on_b) != (after.remark_on_a, after.remark_on_b) {
        events.push(announce(FriendEventKind::RemarkChanged));
    }
    for event in events {
        publish(state, event).await;
    }
    Ok(UpdateOutcome { changed })
}

/// Whether `sender` may send a private message to `target`: mutual friends, nobody blocked.
pub async fn can_chat(state: &Core, sender: UserId, target: UserId) -> Result<()> {
    let epoch = state.auth_cache.epoch().await;
    can_chat_at(state, sender, target, epoch).await
}

/// [`can_chat`] with the revocation epoch the caller read already (at authentication): an
/// answer found allowed at that epoch is taken from memory (see [`AuthCache`]).
///
/// [`AuthCache`]: crate::bus::auth_cache::AuthCache
pub async fn can_chat_at(
    state: &Core,
    sender: UserId,
    target: UserId,
    epoch: Option<Epoch>,
) -> Result<()> {
    if sender == target {
        return Err(AppError::code(ErrorCode::FriendSelf));
    }
    if let Some(epoch) = epoch
        && state.auth_cache.chat_allowed(sender, target, epoch)
    {
        return Ok(());
    }
    let found = state.db.relation_with_status(sender, target).await?;
    let relation = found.as_ref().and_then(|(_, relation)| relation.as_ref());
    let standing = Standing::of(relation, sender, target);
    standing.check_blocks()?;
    if !standing.mutual() {
        return Err(AppError::code(ErrorCode::NotFriends));
    }
    match found {
        Some((status, _)) if status == UserStatus::Active => {
            if let Some(epoch) = epoch {
                state.auth_cache.allow_chat(sender, target, epoch);
            }
            Ok(())
        }
        _ => Err(AppError::code(ErrorCode::TargetNotExists)),
    }
}

/// Whether `a` and `b` are friends in the sense every rule but private chat's own checks
/// uses (adding someone to a group, say): [`Standing::may_chat`], friends both ways with no
/// block either way.
pub async fn are_friends(state: &Core, a: UserId, b: UserId) -> Result<bool> {
    if a == b {
        return Ok(false);
    }
    let relation = state.db.relation_get(a, b).await?;
    Ok(Standing::of(relation.as_ref(), a, b).may_chat())
}

/// How `user_id` appears to friends: their chosen status while connected anywhere
/// (invisible shows as 0, offline), 0 when not connected.
pub async fn visible_status(state: &Core, user_id: UserId) -> Result<i16> {
    if !state.presence.is_online(user_id) {
        return Ok(OnlineStatus::SHOWN_OFFLINE);
    }
    let user = state.db.user_find_by_id(user_id).await?;
    Ok(match user {
        Some(u) if u.status == UserStatus::Active && u.online_status != OnlineStatus::Invisible => {
            u.online_status
        }
        _ => OnlineStatus::SHOWN_OFFLINE,
    })
}

/// Users who count `user_id` as their friend (they see its presence).
pub async fn friend_ids(state: &Core, user_id: UserId) -> Result<Vec<UserId>> {
    let relations = state.db.relation_list(user_id, RELATION_CAP).await?;
    Ok(relations
        .iter()
        .filter_map(|r| {
            let other = if r.user_a_id == user_id { r.user_b_id } else { r.user_a_id };
            Standing::of(Some(r), user_id, other).they_befriend.then_some(other)
        })
        .collect())
}
