//! Groups: create, join (by policy, request, invitation or link), leave, info and lists, roles,
//! ownership transfer, moderation (mute, remove, ban), dissolve — and the admin operations
//! behind `jim group …`.
//!
//! Permission matrix (the original's §4.2.9 with its ⚠ rows corrected): only the owner and
//! admins edit group info, mute, add, remove, list bans, list invite links and handle join
//! requests; only the owner appoints admins, transfers ownership and dissolves; admins act on
//! plain members only ([`outranks`], which removal, mutes, role changes and the recall of
//! someone else's message all follow); when the whole group is muted the owner and admins
//! still speak.
//!
//! Invitations and links: whoever may invite ([`may_invite`]) may invite people and create
//! links. A link carries its creator's right, checked when it is used: it works only while
//! its creator is still the member who made it and may still invite. Joining by any path,
//! leaving and removal close the user's pending invitations and join requests, so an old one
//! cannot bring a removed user back.
//!
//! History policy on dissolve: the group and its member rows are kept, marked dissolved.
//! Former members can still read the group's info, member list and message history; nobody
//! can join, be added, change anything or send messages any more.

use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use serde_json::{Value, json};

use crate::bus::{Event, GroupEventKind};
use crate::db::group::{
    ACCEPTED, AddOutcome, GROUP_ACTIVE, GroupChanges, GroupRow, LinkRow, MemberChanges, MemberRow,
    NewGroup, POLICY_APPROVAL, POLICY_INVITE_ONLY, POLICY_OPEN, REJECTED, RELATION_MUTUAL,
    ROLE_ADMIN, ROLE_MEMBER, ROLE_OWNER,
};
use crate::db::now_ms;
use crate::error::{AppError, ErrorCode, Result};
use crate::service::{auth, validate};
use crate::state::AppState;

/// Longest group name, in characters (as in the original).
pub const MAX_NAME_CHARS: usize = 50;
/// Longest announcement, in characters.
pub const MAX_ANNOUNCEMENT_CHARS: usize = 1000;
/// Longest in-group nickname, in characters.
pub const MAX_GROUP_NICKNAME_CHARS: usize = 32;
/// Longest join-request message, in characters.
pub const MAX_REQUEST_MESSAGE_CHARS: usize = 200;

/// A group as its members (and, for open groups, prospective members) see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupInfo {
    pub group_id: i64,
    pub name: String,
    pub avatar: String,
    pub announcement: String,
    /// `open`, `approval` or `invite_only`.
    pub join_policy: String,
    pub max_member: i32,
    pub member_count: i32,
    pub owner_id: i64,
    /// 0: everyone but the owner and admins is muted; 1: normal.
    pub speak_status: i16,
    /// Whether plain members may invite people and create invite links.
    pub member_invite: bool,
    /// `active` or `dissolved`.
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// My role (0 member, 1 owner, 2 admin); null when I am not a member.
    pub my_role: Option<i16>,
    /// My in-group nickname; null when I am not a member.
    pub my_nickname: Option<String>,
}

/// One member in a member list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub user_id: i64,
    pub username: String,
    /// The account's nickname.
    pub nickname: String,
    /// The in-group nickname (empty: none).
    pub group_nickname: String,
    /// 0 member, 1 owner, 2 admin.
    pub role: i16,
    /// Whether the member is muted right now.
    pub muted: bool,
    /// When the mute ends (Unix ms); null for an indefinite mute or none.
    pub muted_until: Option<i64>,
    pub joined_at: i64,
}

/// What `/group/create` returns (the original's fields).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Created {
    pub group_id: i64,
    pub group_name: String,
}

/// What joining did: `joined`, or `requested` (an approval group: wait for an admin).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JoinResult {
    pub group_id: i64,
    pub status: String,
}

/// A number of rows affected (the original's `{count}`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Count {
    pub count: usize,
}

/// One entry of a ban list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BanView {
    pub user_id: i64,
    pub username: String,
    pub nickname: String,
    pub banned_by: i64,
    pub banned_at: i64,
}

/// A pending join request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    pub user_id: i64,
    pub username: String,
    pub nickname: String,
    pub message: String,
    pub requested_at: i64,
}

/// A pending invitation to a group.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InviteView {
    pub group_id: i64,
    pub group_name: String,
    pub inviter_id: i64,
    pub invited_at: i64,
}

/// An invite link.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkView {
    pub group_id: i64,
    /// What joining (`/group/link/join`) and revoking (`/group/link/revoke`) take.
    pub token: String,
    /// Who created it; the link works only while they may invite.
    pub creator_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    /// How many people joined through it.
    pub uses: i32,
}

impl From<&LinkRow> for LinkView {
    fn from(l: &LinkRow) -> Self {
        LinkView {
            group_id: l.group_id,
            token: l.token.clone(),
            creator_id: l.creator_id,
            created_at: l.created_at,
            expires_at: l.expires_at,
            uses: l.uses,
        }
    }
}

/// Input of `create`.
#[derive(Debug, Clone, Default)]
pub struct CreateInput {
    pub member_ids: Vec<i64>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub join_policy: Option<String>,
}

/// Input of `update`; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UpdateInput {
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub announcement: Option<String>,
    pub join_policy: Option<String>,
    pub speak_status: Option<i16>,
    pub member_invite: Option<bool>,
    pub max_member: Option<i32>,
    pub owner_id: Option<i64>,
}

/// Input of `update_member`.
#[derive(Debug, Clone, Default)]
pub struct MemberUpdateInput {
    pub role: Option<i16>,
    pub speak_status: Option<i16>,
    /// Unix ms; implies a mute.
    pub muted_until: Option<i64>,
}

/// Wire name of a join policy.
pub fn policy_name(policy: i16) -> &'static str {
    match policy {
        POLICY_OPEN => "open",
        POLICY_APPROVAL => "approval",
        _ => "invite_only",
    }
}

fn parse_policy(raw: &str) -> Result<i16> {
    match raw.trim() {
        "open" => Ok(POLICY_OPEN),
        "approval" => Ok(POLICY_APPROVAL),
        "invite_only" => Ok(POLICY_INVITE_ONLY),
        _ => Err(AppError::code(ErrorCode::InvalidJoinPolicy)),
    }
}

/// Human name of a role.
pub fn role_name(role: i16) -> &'static str {
    match role {
        ROLE_OWNER => "owner",
        ROLE_ADMIN => "admin",
        _ => "member",
    }
}

/// Whether a member is muted at `now` (an expired timed mute no longer counts).
pub fn is_muted(m: &MemberRow, now: i64) -> bool {
    m.speak_status == 0 && m.muted_until.is_none_or(|until| until > now)
}

fn info_of(g: &GroupRow, me: Option<&MemberRow>) -> GroupInfo {
    GroupInfo {
        group_id: g.id,
        name: g.name.clone(),
        avatar: g.avatar.clone(),
        announcement: g.announcement.clone(),
        join_policy: policy_name(g.join_policy).into(),
        max_member: g.max_member,
        member_count: g.member_count,
        owner_id: g.owner_id,
        speak_status: g.speak_status,
        member_invite: g.member_invite == 1,
        status: if g.status == GROUP_ACTIVE { "active" } else { "dissolved" }.into(),
        created_at: g.created_at,
        updated_at: g.updated_at,
        my_role: me.map(|m| m.role),
        my_nickname: me.map(|m| m.nickname.clone()),
    }
}

fn check_group_id(id: i64) -> Result<()> {
    if id <= 0 { Err(AppError::code(ErrorCode::InvalidGroupId)) } else { Ok(()) }
}

fn check_user_ids(ids: &[i64], empty: ErrorCode, cap: usize) -> Result<Vec<i64>> {
    if ids.is_empty() {
        return Err(AppError::code(empty));
    }
    if ids.iter().any(|&id| id <= 0) {
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

/// The server-wide ceiling as stored in `max_member`.
fn server_max(state: &AppState) -> i32 {
    i32::try_from(state.config.groups.max_members).unwrap_or(i32::MAX)
}

async fn load_group(state: &AppState, id: i64) -> Result<GroupRow> {
    check_group_id(id)?;
    state.db.group_find(id).await?.ok_or_else(|| AppError::code(ErrorCode::GroupNotFound))
}

fn ensure_active(g: &GroupRow) -> Result<()> {
    if g.status == GROUP_ACTIVE { Ok(()) } else { Err(AppError::code(ErrorCode::GroupDissolved)) }
}

async fn require_member(state: &AppState, g: &GroupRow, user_id: i64) -> Result<MemberRow> {
    state
        .db
        .group_member_find(g.id, user_id)
        .await?
        .ok_or_else(|| AppError::code(ErrorCode::NotGroupMember))
}

fn require_admin(m: &MemberRow) -> Result<()> {
    if m.role == ROLE_OWNER || m.role == ROLE_ADMIN {
        Ok(())
    } else {
        Err(AppError::code(ErrorCode::NotAdmin))
    }
}

fn require_owner(m: &MemberRow) -> Result<()> {
    if m.role == ROLE_OWNER { Ok(()) } else { Err(AppError::code(ErrorCode::NotOwner)) }
}

/// The rank rule of every group action one member takes on another (remove, ban, mute,
/// appoint or dismiss, recall their message): the owner acts on admins and plain members,
/// admins act on plain members only, plain members act on nobody, and nobody acts on the
/// owner. What an action additionally requires (the owner alone appoints admins) is checked
/// by that action.
pub fn outranks(actor_role: i16, target_role: i16) -> bool {
    match actor_role {
        ROLE_OWNER => target_role != ROLE_OWNER,
        ROLE_ADMIN => target_role == ROLE_MEMBER,
        _ => false,
    }
}

/// Whether a member may invite people (directly or by creating a link) under the group's
/// current settings: the owner and admins always, plain members while `member_invite` is on.
pub fn may_invite(g: &GroupRow, m: &MemberRow) -> bool {
    m.role != ROLE_MEMBER || g.member_invite == 1
}

/// Whether an unrevoked, unexpired link still works: its creator is still the member who made
/// it (a membership that began after the link does not revive it) and may still invite.
fn link_works(g: &GroupRow, link: &LinkRow, creator: Option<&MemberRow>) -> bool {
    creator.is_some_and(|m| m.created_at <= link.created_at && may_invite(g, m))
}

/// Whether `actor` may recall `sender`'s message in the group whatever the recall window:
/// `Ok(true)` for the owner and admins on their own messages and on those of members they
/// outrank ([`outranks`]; a sender who is no longer a member counts as a plain member),
/// `Ok(false)` for plain members and non-members (they recall only their own, within the
/// window), and CANNOT_EDIT_PEER_ADMIN when an admin aims at another admin or the owner.
pub async fn may_recall_for(
    state: &AppState,
    group_id: i64,
    actor: i64,
    sender: i64,
) -> Result<bool> {
    let Some(me) = state.db.group_member_find(group_id, actor).await? else { return Ok(false) };
    if me.role == ROLE_MEMBER {
        return Ok(false);
    }
    if sender == actor {
        return Ok(true);
    }
    let target_role =
        state.db.group_member_find(group_id, sender).await?.map_or(ROLE_MEMBER, |m| m.role);
    if outranks(me.role, target_role) {
        Ok(true)
    } else {
        Err(AppError::code(ErrorCode::CannotEditPeerAdmin))
    }
}

/// An active group and the caller's membership in it.
async fn member_context(
    state: &AppState,
    group_id: i64,
    user_id: i64,
) -> Result<(GroupRow, MemberRow)> {
    let g = load_group(state, group_id).await?;
    let me = require_member(state, &g, user_id).await?;
    ensure_active(&g)?;
    Ok((g, me))
}

fn full_error(max: i32, total: i32) -> AppError {
    AppError::code(ErrorCode::GroupFull).with_data(json!({"max": max, "total": total}))
}

/// Whether `a` and `b` are friends: a `user_relation` row whose `status` says both sides
/// count the other as a friend (§4.1.1: 3). The one place group rules ask about friendship.
pub async fn are_friends(state: &AppState, a: i64, b: i64) -> Result<bool> {
    if a == b {
        return Ok(false);
    }
    Ok(state.db.relation_status_of(a, b).await? == Some(RELATION_MUTUAL))
}

/// How an event reaches the instances: published on the bus by a server, recorded in the
/// control table by the CLI (running servers relay it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Bus,
    Control,
}

#[allow(clippy::too_many_arguments)]
async fn emit(
    state: &AppState,
    via: Via,
    group_id: i64,
    kind: GroupEventKind,
    actor_id: i64,
    target_ids: Vec<i64>,
    values: Value,
    recipients: Option<Vec<i64>>,
    extra: &[i64],
) {
    let mut member_ids = match recipients {
        Some(ids) => ids,
        None => match state.db.group_member_ids(group_id, None).await {
            Ok(ids) => ids,
            Err(e) => {
                slog::warn!(state.log, "group event: cannot load members"; "error" => e.to_string());
                Vec::new()
            }
        },
    };
    member_ids.extend_from_slice(extra);
    member_ids.sort_unstable();
    member_ids.dedup();
    let event = Event::Group { group_id, kind, actor_id, target_ids, values, member_ids };
    match via {
        Via::Control => auth::notify_servers(state, event).await,
        Via::Bus => {
            if let Err(e) = state.bus.publish(event.clone()).await {
                slog::warn!(state.log, "group event publish failed; using control table"; "error" => e.to_string());
                auth::notify_servers(state, event).await;
            }
        }
    }
}

fn validate_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::code(ErrorCode::GroupNameEmpty));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AppError::code(ErrorCode::GroupNameTooLong));
    }
    Ok(name.to_string())
}

fn validate_announcement(raw: &str) -> Result<String> {
    let text = raw.trim();
    if text.chars().count() > MAX_ANNOUNCEMENT_CHARS {
        return Err(AppError::code(ErrorCode::GroupAnnouncementTooLong));
    }
    Ok(text.to_string())
}

/// Make sure every id is an active account.
async fn require_active_users(
    state: &AppState,
    ids: &[i64],
) -> Result<Vec<crate::db::user::UserRow>> {
    let users = state.db.users_by_ids(ids.to_vec()).await?;
    let missing: Vec<i64> =
        ids.iter().copied().filter(|id| !users.iter().any(|u| u.id == *id)).collect();
    if !missing.is_empty() {
        return Err(
            AppError::code(ErrorCode::GroupMemberInactive).with_data(json!({"user_ids": missing}))
        );
    }
    Ok(users)
}

async fn require_friends(state: &AppState, me: i64, ids: &[i64]) -> Result<()> {
    let mut strangers = Vec::new();
    for &id in ids {
        if !are_friends(state, me, id).await? {
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

/// Create a group with the caller as owner and `member_ids` (active friends of the caller) as
/// members. The default name joins the members' nicknames.
pub async fn create(state: &AppState, creator_id: i64, input: CreateInput) -> Result<Created> {
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
    let policy =
        input.join_policy.as_deref().map(parse_policy).transpose()?.unwrap_or(POLICY_INVITE_ONLY);
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
            NewGroup {
                name: name.clone(),
                avatar,
                announcement: String::new(),
                join_policy: policy,
                max_member: limit,
                member_count: total,
                owner_id: creator_id,
                speak_status: 1,
                status: GROUP_ACTIVE,
                creator_id,
                updater_id: creator_id,
                created_at: now,
                updated_at: now,
                member_invite: 0,
            },
            ids.clone(),
        )
        .await?;
    emit(
        state,
        Via::Bus,
        group_id,
        GroupEventKind::Created,
        creator_id,
        others,
        json!({"name": name}),
        Some(ids),
        &[],
    )
    .await;
    Ok(Created { group_id, group_name: name })
}

/// Nicknames (or usernames when empty) of the creator and members, joined and cut to the
/// name limit; never empty.
fn default_name(
    creator: &crate::db::user::UserRow,
    members: &[crate::db::user::UserRow],
) -> String {
    let names: Vec<&str> = std::iter::once(creator)
        .chain(members.iter())
        .map(|u| if u.nickname.trim().is_empty() { u.username.as_str() } else { u.nickname.trim() })
        .filter(|n| !n.is_empty())
        .collect();
    let joined: String = names.join(", ").chars().take(MAX_NAME_CHARS).collect();
    let joined = joined.trim().trim_end_matches(',').to_string();
    if joined.is_empty() { "Group".into() } else { joined }
}

/// Join a group: `open` groups at once, `approval` groups by a join request, `invite_only`
/// groups not at all (use an invitation or a link).
pub async fn join(
    state: &AppState,
    user_id: i64,
    group_id: i64,
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
    match g.join_policy {
        POLICY_OPEN => {
            admit(state, &g, user_id, user_id, user_id, "join").await?;
            Ok(JoinResult { group_id: g.id, status: "joined".into() })
        }
        POLICY_APPROVAL => {
            let message = message.unwrap_or_default().trim().to_string();
            if message.chars().count() > MAX_REQUEST_MESSAGE_CHARS
                || message.chars().any(char::is_control)
            {
                return Err(AppError::invalid(format!(
                    "message must be at most {MAX_REQUEST_MESSAGE_CHARS} characters"
                )));
            }
            state.db.group_request_upsert(g.id, user_id, message.clone(), now_ms()).await?;
            let admins =
                state.db.group_member_ids(g.id, Some(vec![ROLE_OWNER, ROLE_ADMIN])).await?;
            emit(
                state,
                Via::Bus,
                g.id,
                GroupEventKind::JoinRequested,
                user_id,
                vec![user_id],
                json!({"message": message}),
                Some(admins),
                &[],
            )
            .await;
            Ok(JoinResult { group_id: g.id, status: "requested".into() })
        }
        _ => Err(AppError::code(ErrorCode::GroupInviteOnly)),
    }
}

/// Add `ids` inside the seat-counting transaction, mapping its outcome to errors: any banned
/// id → GROUP_BANNED (nothing added), too few seats → GROUP_FULL. Returns the ids added.
async fn add_checked(state: &AppState, g: &GroupRow, ids: Vec<i64>, by: i64) -> Result<Vec<i64>> {
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
async fn admit(
    state: &AppState,
    g: &GroupRow,
    joiner: i64,
    added_by: i64,
    actor: i64,
    via: &str,
) -> Result<bool> {
    let added = add_checked(state, g, vec![joiner], added_by).await?;
    if added.is_empty() {
        return Ok(false);
    }
    let values = json!({ "via": via });
    emit(state, Via::Bus, g.id, GroupEventKind::MemberJoined, actor, added, values, None, &[])
        .await;
    Ok(true)
}

/// Leave a group. The owner must transfer ownership or dissolve the group first.
pub async fn leave(state: &AppState, user_id: i64, group_id: i64) -> Result<()> {
    let g = load_group(state, group_id).await?;
    let me = require_member(state, &g, user_id).await?;
    if me.role == ROLE_OWNER {
        return Err(AppError::code(ErrorCode::OwnerCannotLeave));
    }
    if !state.db.group_member_leave(g.id, user_id, now_ms()).await? {
        return Err(AppError::code(ErrorCode::NotGroupMember));
    }
    if g.status == GROUP_ACTIVE {
        emit(
            state,
            Via::Bus,
            g.id,
            GroupEventKind::MemberLeft,
            user_id,
            vec![user_id],
            json!({}),
            None,
            &[user_id],
        )
        .await;
    }
    Ok(())
}

/// Group info: for members (dissolved groups included), and for anyone when the group can be
/// joined without an invitation.
pub async fn info(state: &AppState, user_id: i64, group_id: i64) -> Result<GroupInfo> {
    let g = load_group(state, group_id).await?;
    let me = state.db.group_member_find(g.id, user_id).await?;
    if me.is_none() && !(g.status == GROUP_ACTIVE && g.join_policy != POLICY_INVITE_ONLY) {
        return Err(AppError::code(ErrorCode::NotGroupMember));
    }
    Ok(info_of(&g, me.as_ref()))
}

fn member_view(m: &MemberRow, u: &crate::db::user::UserRow, now: i64) -> MemberView {
    let muted = is_muted(m, now);
    MemberView {
        user_id: m.user_id,
        username: u.username.clone(),
        nickname: u.nickname.clone(),
        group_nickname: m.nickname.clone(),
        role: m.role,
        muted,
        muted_until: if muted { m.muted_until } else { None },
        joined_at: m.created_at,
    }
}

/// The member list (members only).
pub async fn members(state: &AppState, user_id: i64, group_id: i64) -> Result<Vec<MemberView>> {
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

/// The groups I am in (dissolved ones included, marked `dissolved`, so history stays
/// reachable).
pub async fn my_groups(state: &AppState, user_id: i64) -> Result<Vec<GroupInfo>> {
    Ok(state
        .db
        .group_list_for_user(user_id)
        .await?
        .iter()
        .map(|(g, m)| info_of(g, Some(m)))
        .collect())
}

/// Set my in-group nickname (empty clears it).
pub async fn set_nickname(
    state: &AppState,
    user_id: i64,
    group_id: i64,
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
    emit(
        state,
        Via::Bus,
        g.id,
        GroupEventKind::NicknameChanged,
        user_id,
        vec![user_id],
        json!({"group_nickname": nick}),
        None,
        &[],
    )
    .await;
    Ok(())
}

/// Edit group info (owner/admins) and/or transfer ownership (`owner_id`, owner only).
pub async fn update(
    state: &AppState,
    user_id: i64,
    group_id: i64,
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
        let avatar = validate::avatar(avatar)?;
        values.insert("avatar".into(), json!(avatar));
        changes.avatar = Some(avatar);
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
    if !values.is_empty() {
        changes.updater_id = Some(user_id);
        changes.updated_at = Some(now_ms());
        if !state.db.group_update(g.id, changes).await? {
            return Err(AppError::code(ErrorCode::GroupDissolved));
        }
        emit(
            state,
            Via::Bus,
            g.id,
            GroupEventKind::InfoUpdated,
            user_id,
            Vec::new(),
            Value::Object(values),
            None,
            &[],
        )
        .await;
    }
    if let Some(new_owner) = input.owner_id {
        do_transfer(state, &g, user_id, new_owner).await?;
    }
    Ok(())
}

fn check_transfer_target(me: i64, new_owner: i64) -> Result<()> {
    if new_owner <= 0 {
        return Err(AppError::code(ErrorCode::InvalidUserId));
    }
    if new_owner == me {
        return Err(AppError::code(ErrorCode::CannotEditSelf));
    }
    Ok(())
}

async fn do_transfer(state: &AppState, g: &GroupRow, me: i64, new_owner: i64) -> Result<()> {
    if state.db.group_member_find(g.id, new_owner).await?.is_none() {
        return Err(AppError::code(ErrorCode::NewOwnerNotMember));
    }
    if !state.db.group_transfer(g.id, me, new_owner, now_ms()).await? {
        return Err(AppError::code(ErrorCode::NewOwnerNotMember));
    }
    emit(
        state,
        Via::Bus,
        g.id,
        GroupEventKind::OwnerTransferred,
        me,
        vec![new_owner],
        json!({"owner_id": new_owner, "previous_owner_role": ROLE_ADMIN}),
        None,
        &[],
    )
    .await;
    Ok(())
}

/// Transfer ownership (owner only): the new owner must be a member; the old owner becomes an
/// admin; both in one transaction.
pub async fn transfer(state: &AppState, user_id: i64, group_id: i64, new_owner: i64) -> Result<()> {
    let (g, me) = member_context(state, group_id, user_id).await?;
    require_owner(&me)?;
    check_transfer_target(user_id, new_owner)?;
    do_transfer(state, &g, user_id, new_owner).await
}

/// Add members (owner/admins): active friends of the caller, not banned. Existing members are
/// skipped. Returns how many joined.
pub async fn add_members(
    state: &AppState,
    user_id: i64,
    group_id: i64,
    user_ids: &[i64],
) -> Result<Count> {
    let ids = check_user_ids(
        user_ids,
        ErrorCode::GroupMemberListEmpty,
        state.config.groups.max_members as usize,
    )?;
    let (g, me) = member_context(state, group_id, user_id).await?;
    require_admin(&me)?;
    let ids: Vec<i64> = ids.into_iter().filter(|&id| id != user_id).collect();
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
        emit(
            state,
            Via::Bus,
            g.id,
            GroupEventKind::MembersAdded,
            user_id,
            added.clone(),
            json!({}),
            None,
            &[],
        )
        .await;
    }
    Ok(Count { count: added.len() })
}

/// Remove members (owner: members and admins; admins: members), optionally banning them.
pub async fn remove_members(
    state: &AppState,
    user_id: i64,
    group_id: i64,
    user_ids: &[i64],
    ban: bool,
) -> Result<Count> {
    let ids = check_user_ids(
        user_ids,
        ErrorCode::GroupMemberListEmpty,
        state.config.groups.max_members as usize,
    )?;
    let (g, me) = member_context(state, group_id, user_id).await?;
    require_admin(&me)?;
    let ids: Vec<i64> = ids.into_iter().filter(|&id| id != user_id).collect();
    let roles: Vec<i16> =
        [ROLE_MEMBER, ROLE_ADMIN].into_iter().filter(|&r| outranks(me.role, r)).collect();
    let out = state.db.group_member_remove(g.id, ids, roles, ban, user_id, now_ms()).await?;
    if !out.removed.is_empty() || !out.banned.is_empty() {
        emit(
            state,
            Via::Bus,
            g.id,
            GroupEventKind::MembersRemoved,
            user_id,
            out.removed.clone(),
            json!({"banned": out.banned}),
            None,
            &out.removed,
        )
        .await;
    }
    Ok(Count { count: out.removed.len() })
}

/// Appoint/dismiss an admin (owner only) and/or mute/unmute a member (owner/admins; only
/// plain members can be muted, optionally until a time).
pub async fn update_member(
    state: &AppState,
    user_id: i64,
    group_id: i64,
    target_id: i64,
    input: MemberUpdateInput,
) -> Result<()> {
    check_group_id(group_id)?;
    if target_id <= 0 {
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
        if !matches!(role, ROLE_MEMBER | ROLE_ADMIN) {
            return Err(AppError::code(ErrorCode::InvalidRole));
        }
        require_owner(&me)?;
        changes.role = Some(role);
        role_after = role;
        if role == ROLE_ADMIN {
            changes.speak_status = Some(1);
            changes.muted_until = Some(None);
        }
    }
    let mute = mute_changes(input.speak_status, input.muted_until, now)?;
    if let Some((speak, until)) = mute {
        if speak == 0 && role_after != ROLE_MEMBER {
            return Err(AppError::code(ErrorCode::AdminCannotBeMuted));
        }
        changes.speak_status = Some(speak);
        changes.muted_until = Some(until);
    }
    state.db.group_member_update(g.id, target_id, changes).await?;
    if input.role.is_some_and(|r| r != target.role) {
        emit(
            state,
            Via::Bus,
            g.id,
            GroupEventKind::RoleChanged,
            user_id,
            vec![target_id],
            json!({"role": role_after}),
            None,
            &[],
        )
        .await;
    }
    if let Some((speak, until)) = mute {
        let kind =
            if speak == 0 { GroupEventKind::MemberMuted } else { GroupEventKind::MemberUnmuted };
        emit(
            state,
            Via::Bus,
            g.id,
            kind,
            user_id,
            vec![target_id],
            json!({"speak_status": speak, "muted_until": until}),
            None,
            &[],
        )
        .await;
    }
    Ok(())
}

/// `(speak_status, muted_until)` to store for a mute request, if any.
fn mute_changes(
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

/// The ban list (owner/admins).
pub async fn bans(state: &AppState, user_id: i64, group_id: i64) -> Result<Vec<BanView>> {
    let g = load_group(state, group_id).await?;
    let me = require_member(state, &g, user_id).await?;
    require_admin(&me)?;
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
pub async fn unban(state: &AppState, user_id: i64, group_id: i64, target_id: i64) -> Result<()> {
    if target_id <= 0 {
        return Err(AppError::code(ErrorCode::InvalidUserId));
    }
    let (g, me) = member_context(state, group_id, user_id).await?;
    require_admin(&me)?;
    if !state.db.group_ban_delete(g.id, target_id).await? {
        return Err(AppError::code(ErrorCode::GroupBanNotFound));
    }
    emit(
        state,
        Via::Bus,
        g.id,
        GroupEventKind::MemberUnbanned,
        user_id,
        vec![target_id],
        json!({}),
        Some(state.db.group_member_ids(g.id, Some(vec![ROLE_OWNER, ROLE_ADMIN])).await?),
        &[],
    )
    .await;
    Ok(())
}

/// Pending join requests (owner/admins).
pub async fn requests(state: &AppState, user_id: i64, group_id: i64) -> Result<Vec<RequestView>> {
    let g = load_group(state, group_id).await?;
    let me = require_member(state, &g, user_id).await?;
    require_admin(&me)?;
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
    state: &AppState,
    user_id: i64,
    group_id: i64,
    requester: i64,
    accept: bool,
) -> Result<()> {
    if requester <= 0 {
        return Err(AppError::code(ErrorCode::InvalidUserId));
    }
    let (g, me) = member_context(state, group_id, user_id).await?;
    require_admin(&me)?;
    if !state.db.group_request_is_pending(g.id, requester).await? {
        return Err(AppError::code(ErrorCode::GroupRequestNotFound));
    }
    let now = now_ms();
    if !accept {
        state.db.group_request_resolve(g.id, requester, REJECTED, user_id, now).await?;
        emit(
            state,
            Via::Bus,
            g.id,
            GroupEventKind::JoinRequestRejected,
            user_id,
            vec![requester],
            json!({}),
            Some(vec![requester]),
            &[],
        )
        .await;
        return Ok(());
    }
    require_active_users(state, &[requester]).await?;
    admit(state, &g, requester, user_id, user_id, "request").await?;
    state.db.group_request_resolve(g.id, requester, ACCEPTED, user_id, now).await?;
    Ok(())
}

/// Invite people directly (owner/admins; plain members when the group allows it). The
/// invitee joins by accepting. Returns how many invitations were sent.
pub async fn invite(
    state: &AppState,
    user_id: i64,
    group_id: i64,
    user_ids: &[i64],
) -> Result<Count> {
    let ids = check_user_ids(
        user_ids,
        ErrorCode::GroupMemberListEmpty,
        state.config.groups.max_members as usize,
    )?;
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
        emit(
            state,
            Via::Bus,
            g.id,
            GroupEventKind::Invited,
            user_id,
            invited.clone(),
            json!({"group_name": g.name}),
            Some(invited.clone()),
            &[],
        )
        .await;
    }
    Ok(Count { count: invited.len() })
}

/// My pending invitations.
pub async fn my_invites(state: &AppState, user_id: i64) -> Result<Vec<InviteView>> {
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
    state: &AppState,
    user_id: i64,
    group_id: i64,
    accept: bool,
) -> Result<()> {
    let g = load_group(state, group_id).await?;
    if !state.db.group_invite_is_pending(g.id, user_id).await? {
        return Err(AppError::code(ErrorCode::GroupInviteNotFound));
    }
    let now = now_ms();
    if !accept {
        state.db.group_invite_resolve(g.id, user_id, REJECTED, now).await?;
        return Ok(());
    }
    ensure_active(&g)?;
    if state.db.group_member_find(g.id, user_id).await?.is_some() {
        state.db.group_invite_resolve(g.id, user_id, ACCEPTED, now).await?;
        return Err(AppError::code(ErrorCode::AlreadyGroupMember));
    }
    admit(state, &g, user_id, user_id, user_id, "invite").await?;
    state.db.group_invite_resolve(g.id, user_id, ACCEPTED, now).await?;
    Ok(())
}

/// Create an invite link (owner/admins; plain members when the group allows it). It expires
/// after `ttl_secs` (at most the configured `groups.invite_link_ttl_secs`).
pub async fn create_link(
    state: &AppState,
    user_id: i64,
    group_id: i64,
    ttl_secs: Option<i64>,
) -> Result<LinkView> {
    let (g, me) = member_context(state, group_id, user_id).await?;
    if !may_invite(&g, &me) {
        return Err(AppError::code(ErrorCode::GroupInviteNotAllowed));
    }
    let max_ttl = state.config.groups.invite_link_ttl_secs as i64;
    let ttl = ttl_secs.unwrap_or(max_ttl);
    if !(60..=max_ttl).contains(&ttl) {
        return Err(AppError::invalid(format!("ttl_secs must be between 60 and {max_ttl}")));
    }
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = now_ms();
    let expires_at = now + ttl * 1000;
    let link = LinkRow {
        id: 0,
        group_id: g.id,
        token,
        creator_id: user_id,
        expires_at,
        revoked_at: None,
        created_at: now,
        uses: 0,
    };
    state.db.group_link_insert(link.clone()).await?;
    Ok(LinkView::from(&link))
}

/// The group's links that still work (see [`link_works`]), newest first (owner/admins), so
/// they can revoke what they do not want.
pub async fn links(state: &AppState, user_id: i64, group_id: i64) -> Result<Vec<LinkView>> {
    let (g, me) = member_context(state, group_id, user_id).await?;
    require_admin(&me)?;
    Ok(state
        .db
        .group_link_list_unexpired(g.id, now_ms())
        .await?
        .iter()
        .filter(|(link, creator)| link_works(&g, link, creator.as_ref()))
        .map(|(link, _)| LinkView::from(link))
        .collect())
}

/// Join through an invite link (whatever the join policy; never when banned; only while the
/// link's creator may still invite, see [`link_works`]).
pub async fn join_by_link(state: &AppState, user_id: i64, token: &str) -> Result<JoinResult> {
    let token = token.trim();
    if token.is_empty() || token.len() > 64 {
        return Err(AppError::code(ErrorCode::GroupLinkInvalid));
    }
    let link = state
        .db
        .group_link_find(token.to_string())
        .await?
        .filter(|l| l.revoked_at.is_none() && l.expires_at > now_ms())
        .ok_or_else(|| AppError::code(ErrorCode::GroupLinkInvalid))?;
    let g = load_group(state, link.group_id).await?;
    ensure_active(&g)?;
    let creator = state.db.group_member_find(g.id, link.creator_id).await?;
    if !link_works(&g, &link, creator.as_ref()) {
        return Err(AppError::with_message(
            ErrorCode::GroupLinkInvalid,
            "the link's creator may no longer invite to this group",
        ));
    }
    if state.db.group_member_find(g.id, user_id).await?.is_some() {
        return Err(AppError::code(ErrorCode::AlreadyGroupMember));
    }
    if state.db.group_ban_exists(g.id, user_id).await? {
        return Err(AppError::code(ErrorCode::GroupBanned));
    }
    if admit(state, &g, user_id, link.creator_id, user_id, "link").await?
        && let Err(e) = state.db.group_link_count_use(link.id).await
    {
        // The join is done and stays done; only the counter shown to admins misses one.
        slog::warn!(state.log, "invite link use not counted"; "error" => e.to_string());
    }
    Ok(JoinResult { group_id: g.id, status: "joined".into() })
}

/// Revoke an invite link (owner/admins, or whoever created it).
pub async fn revoke_link(state: &AppState, user_id: i64, group_id: i64, token: &str) -> Result<()> {
    let (g, me) = member_context(state, group_id, user_id).await?;
    let link = state
        .db
        .group_link_find(token.trim().to_string())
        .await?
        .filter(|l| l.group_id == g.id && l.revoked_at.is_none())
        .ok_or_else(|| AppError::code(ErrorCode::GroupLinkInvalid))?;
    if link.creator_id != user_id {
        require_admin(&me)?;
    }
    state.db.group_link_revoke(g.id, link.token, now_ms()).await?;
    Ok(())
}

/// Dissolve a group (owner only). Members are told; see the module docs for what stays.
pub async fn dissolve(state: &AppState, user_id: i64, group_id: i64) -> Result<()> {
    let (g, me) = member_context(state, group_id, user_id).await?;
    require_owner(&me)?;
    do_dissolve(state, &g, user_id, Via::Bus).await
}

async fn do_dissolve(state: &AppState, g: &GroupRow, by: i64, via: Via) -> Result<()> {
    if !state.db.group_dissolve(g.id, by, now_ms()).await? {
        return Err(AppError::code(ErrorCode::GroupDissolved));
    }
    emit(
        state,
        via,
        g.id,
        GroupEventKind::Dissolved,
        by,
        Vec::new(),
        json!({"status": "dissolved"}),
        None,
        &[],
    )
    .await;
    Ok(())
}

/// Whether `user_id` may send a message to the group now: the group exists and is not
/// dissolved, the user is a member, is not muted (a timed mute that ended does not count), and
/// the group is not muted as a whole unless the user is the owner or an admin.
pub async fn can_send(state: &AppState, group_id: i64, user_id: i64) -> Result<()> {
    let g = load_group(state, group_id).await?;
    ensure_active(&g)?;
    let me = require_member(state, &g, user_id).await?;
    if g.speak_status == 0 && me.role == ROLE_MEMBER {
        return Err(AppError::code(ErrorCode::GroupAllMuted));
    }
    if is_muted(&me, now_ms()) {
        return Err(AppError::code(ErrorCode::MemberMuted));
    }
    Ok(())
}

// ---- admin operations (`jim group …`): no caller role checks, events through the control
// table so running servers act on them at once.

/// A page of groups after `after_id`.
pub async fn admin_list(state: &AppState, after_id: i64, limit: i64) -> Result<Vec<GroupInfo>> {
    Ok(state
        .db
        .group_list(after_id, limit.clamp(1, 1000))
        .await?
        .iter()
        .map(|g| info_of(g, None))
        .collect())
}

/// One group with its members.
pub async fn admin_show(state: &AppState, group_id: i64) -> Result<(GroupInfo, Vec<MemberView>)> {
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
    state: &AppState,
    group_id: i64,
    member: Option<i64>,
    until: Option<i64>,
) -> Result<()> {
    let g = load_group(state, group_id).await?;
    ensure_active(&g)?;
    let now = now_ms();
    match member {
        None => {
            if until.is_some() {
                return Err(AppError::invalid("--until applies to one member (--member)"));
            }
            let changes =
                GroupChanges { speak_status: Some(0), updated_at: Some(now), ..Default::default() };
            state.db.group_update(g.id, changes).await?;
            emit(
                state,
                Via::Control,
                g.id,
                GroupEventKind::InfoUpdated,
                0,
                Vec::new(),
                json!({"speak_status": 0}),
                None,
                &[],
            )
            .await;
        }
        Some(uid) => {
            let m = state
                .db
                .group_member_find(g.id, uid)
                .await?
                .ok_or_else(|| AppError::code(ErrorCode::TargetNotGroupMember))?;
            if m.role != ROLE_MEMBER {
                return Err(AppError::code(ErrorCode::AdminCannotBeMuted));
            }
            let (speak, until) = mute_changes(Some(0), until, now)?.unwrap_or((0, None));
            let changes = MemberChanges {
                speak_status: Some(speak),
                muted_until: Some(until),
                updated_at: Some(now),
                ..Default::default()
            };
            state.db.group_member_update(g.id, uid, changes).await?;
            emit(
                state,
                Via::Control,
                g.id,
                GroupEventKind::MemberMuted,
                0,
                vec![uid],
                json!({"speak_status": 0, "muted_until": until}),
                None,
                &[],
            )
            .await;
        }
    }
    Ok(())
}

/// Lift the group-wide mute, or one member's mute.
pub async fn admin_unmute(state: &AppState, group_id: i64, member: Option<i64>) -> Result<()> {
    let g = load_group(state, group_id).await?;
    ensure_active(&g)?;
    let now = now_ms();
    match member {
        None => {
            let changes =
                GroupChanges { speak_status: Some(1), updated_at: Some(now), ..Default::default() };
            state.db.group_update(g.id, changes).await?;
            emit(
                state,
                Via::Control,
                g.id,
                GroupEventKind::InfoUpdated,
                0,
                Vec::new(),
                json!({"speak_status": 1}),
                None,
                &[],
            )
            .await;
        }
        Some(uid) => {
            state
                .db
                .group_member_find(g.id, uid)
                .await?
                .ok_or_else(|| AppError::code(ErrorCode::TargetNotGroupMember))?;
            let changes = MemberChanges {
                speak_status: Some(1),
                muted_until: Some(None),
                updated_at: Some(now),
                ..Default::default()
            };
            state.db.group_member_update(g.id, uid, changes).await?;
            emit(
                state,
                Via::Control,
                g.id,
                GroupEventKind::MemberUnmuted,
                0,
                vec![uid],
                json!({"speak_status": 1, "muted_until": null}),
                None,
                &[],
            )
            .await;
        }
    }
    Ok(())
}

/// Dissolve a group as an administrator.
pub async fn admin_dissolve(state: &AppState, group_id: i64) -> Result<()> {
    let g = load_group(state, group_id).await?;
    ensure_active(&g)?;
    do_dissolve(state, &g, 0, Via::Control).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::user::UserRow;

    fn user(id: i64, username: &str, nickname: &str) -> UserRow {
        UserRow {
            id,
            username: username.into(),
            username_norm: username.to_lowercase(),
            password_hash: String::new(),
            nickname: nickname.into(),
            avatar: String::new(),
            birth_date: None,
            online_status: 1,
            status: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn default_names_are_never_empty() {
        let members = [user(2, "bob", ""), user(3, "carol", "Carol")];
        assert_eq!(default_name(&user(1, "ann", "Ann"), &members), "Ann, bob, Carol");
        let long: Vec<UserRow> = (0..20).map(|i| user(i, "u", &"x".repeat(10))).collect();
        assert_eq!(default_name(&user(99, "ann", "Ann"), &long).chars().count(), MAX_NAME_CHARS);
        assert_eq!(default_name(&user(1, "a", " "), &[]), "a");
    }

    #[test]
    fn mute_requests() {
        let now = 1_000;
        assert_eq!(mute_changes(None, None, now).unwrap(), None);
        assert_eq!(mute_changes(Some(0), None, now).unwrap(), Some((0, None)));
        assert_eq!(mute_changes(None, Some(2_000), now).unwrap(), Some((0, Some(2_000))));
        assert_eq!(mute_changes(Some(1), None, now).unwrap(), Some((1, None)));
        for (speak, until) in [(Some(2), None), (Some(1), Some(2_000)), (None, Some(500))] {
            assert!(mute_changes(speak, until, now).is_err(), "{speak:?} {until:?}");
        }
    }

    #[test]
    fn timed_mutes_expire() {
        let m = MemberRow {
            id: 1,
            group_id: 1,
            user_id: 1,
            role: ROLE_MEMBER,
            nickname: String::new(),
            speak_status: 0,
            muted_until: Some(5),
            creator_id: 0,
            updater_id: 0,
            created_at: 0,
            updated_at: 0,
        };
        assert!(is_muted(&m, 4));
        assert!(!is_muted(&m, 5));
        assert!(is_muted(&MemberRow { muted_until: None, ..m.clone() }, i64::MAX));
        assert!(!is_muted(&MemberRow { speak_status: 1, ..m }, 0));
    }

    #[test]
    fn ranks() {
        assert!(outranks(ROLE_OWNER, ROLE_ADMIN) && outranks(ROLE_OWNER, ROLE_MEMBER));
        assert!(outranks(ROLE_ADMIN, ROLE_MEMBER));
        for (actor, target) in [
            (ROLE_OWNER, ROLE_OWNER),
            (ROLE_ADMIN, ROLE_ADMIN),
            (ROLE_ADMIN, ROLE_OWNER),
            (ROLE_MEMBER, ROLE_MEMBER),
            (ROLE_MEMBER, ROLE_ADMIN),
            (ROLE_MEMBER, ROLE_OWNER),
        ] {
            assert!(!outranks(actor, target), "{actor} on {target}");
        }
    }

    #[test]
    fn policies_round_trip() {
        for name in ["open", "approval", "invite_only"] {
            assert_eq!(policy_name(parse_policy(name).unwrap()), name);
        }
        assert!(parse_policy("public").is_err());
    }
}
