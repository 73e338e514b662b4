//! What clients see of groups (info, members, bans, requests, invitations, links), what
//! they send in, and the wire names of policies and roles.

use serde::Serialize;

use crate::db::group::{GroupRow, LinkRow, MemberRow};
use crate::db::user::UserRow;
use crate::domain::{GroupId, GroupRole, GroupStatus, JoinPolicy, UserId};
use crate::error::{AppError, ErrorCode, Result};

/// A group as its members (and, for open groups, prospective members) see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupInfo {
    #[schema(value_type = i64)]
    pub group_id: GroupId,
    pub name: String,
    pub avatar: String,
    pub announcement: String,
    /// `open`, `approval` or `invite_only`.
    pub join_policy: String,
    pub max_member: i32,
    pub member_count: i32,
    #[schema(value_type = i64)]
    pub owner_id: UserId,
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
    #[schema(value_type = i64)]
    pub user_id: UserId,
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
    #[schema(value_type = i64)]
    pub group_id: GroupId,
    pub group_name: String,
}

/// What joining did: `joined`, or `requested` (an approval group: wait for an admin).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JoinResult {
    #[schema(value_type = i64)]
    pub group_id: GroupId,
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
    #[schema(value_type = i64)]
    pub user_id: UserId,
    pub username: String,
    pub nickname: String,
    #[schema(value_type = i64)]
    pub banned_by: UserId,
    pub banned_at: i64,
}

/// A pending join request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    #[schema(value_type = i64)]
    pub user_id: UserId,
    pub username: String,
    pub nickname: String,
    pub message: String,
    pub requested_at: i64,
}

/// A pending invitation to a group.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InviteView {
    #[schema(value_type = i64)]
    pub group_id: GroupId,
    pub group_name: String,
    #[schema(value_type = i64)]
    pub inviter_id: UserId,
    pub invited_at: i64,
}

/// An invite link.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkView {
    #[schema(value_type = i64)]
    pub group_id: GroupId,
    /// What joining (`/group/link/join`) and revoking (`/group/link/revoke`) take.
    pub token: String,
    /// Who created it; the link works only while they may invite.
    #[schema(value_type = i64)]
    pub creator_id: UserId,
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
    pub member_ids: Vec<UserId>,
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
    pub owner_id: Option<UserId>,
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
/// (an unknown stored number reads as invite-only, the most closed).
pub fn policy_name(policy: i16) -> &'static str {
    JoinPolicy::from_i16(policy).unwrap_or(JoinPolicy::InviteOnly).name()
}

pub(super) fn parse_policy(raw: &str) -> Result<i16> {
    JoinPolicy::from_name(raw.trim())
        .map(JoinPolicy::as_i16)
        .ok_or_else(|| AppError::code(ErrorCode::InvalidJoinPolicy))
}

/// Human name of a role (an unknown stored number reads as a plain member).
pub fn role_name(role: i16) -> &'static str {
    GroupRole::from_i16(role).unwrap_or(GroupRole::Member).name()
}

/// Whether a member is muted at `now` (an expired timed mute no longer counts).
pub fn is_muted(m: &MemberRow, now: i64) -> bool {
    m.speak_status == 0 && m.muted_until.is_none_or(|until| until > now)
}

pub(super) fn info_of(g: &GroupRow, me: Option<&MemberRow>) -> GroupInfo {
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
        status: if g.status == GroupStatus::Active { "active" } else { "dissolved" }.into(),
        created_at: g.created_at,
        updated_at: g.updated_at,
        my_role: me.map(|m| m.role),
        my_nickname: me.map(|m| m.nickname.clone()),
    }
}

pub(super) fn member_view(m: &MemberRow, u: &UserRow, now: i64) -> MemberView {
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
