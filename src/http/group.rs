//! `/api/v1/group/*`: the original's seven routes (create, join, leave, update, member/add,
//! member/update, member/remove) plus info, member list, my groups, in-group nickname,
//! transfer, bans, join requests, invitations, invite links (and the list of live ones) and
//! dissolve.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::envelope::{self, Envelope, ErrorEnvelope};
use super::extract::AuthUser;
use super::schema;
use crate::domain::{GroupId, UserId};
use crate::error::AppError;
use crate::service::group::{
    self, BanView, Count, CreateInput, Created, GroupInfo, InviteView, JoinResult, LinkView,
    MemberUpdateInput, MemberView, RequestView, UpdateInput,
};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRequest {
    /// The other initial members: existing, active friends of the caller (at most the
    /// server's group size).
    #[schema(schema_with = schema::user_ids)]
    pub member_ids: Vec<UserId>,
    /// 1-50 characters; default: the members' nicknames.
    pub name: Option<String>,
    /// An http(s) URL.
    pub avatar: Option<String>,
    /// `open`, `approval` or `invite_only` (default).
    #[schema(schema_with = schema::join_policy)]
    pub join_policy: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupIdRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct JoinRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    /// For `approval` groups: a note to the admins (at most 200 characters).
    #[schema(max_length = 200)]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    /// 1-50 characters.
    pub name: Option<String>,
    /// An http(s) URL; empty clears it.
    pub avatar: Option<String>,
    /// At most 1000 characters; empty clears it.
    pub announcement: Option<String>,
    #[schema(schema_with = schema::join_policy)]
    pub join_policy: Option<String>,
    /// 0 mutes everyone except the owner and admins; 1 lifts it.
    #[schema(schema_with = schema::speak_status)]
    pub speak_status: Option<i16>,
    /// Whether plain members may invite people and create invite links.
    pub member_invite: Option<bool>,
    /// Member limit, between the current count and the server's maximum.
    pub max_member: Option<i32>,
    /// Transfer ownership to this member (owner only; the old owner becomes an admin).
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub owner_id: Option<UserId>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupUserRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    #[schema(value_type = i64, minimum = 1)]
    pub user_id: UserId,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct GroupQuery {
    #[param(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserIdsRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    #[schema(schema_with = schema::user_ids)]
    pub user_ids: Vec<UserId>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MemberUpdateRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    /// The member to change (not yourself).
    #[schema(value_type = i64, minimum = 1)]
    pub user_id: UserId,
    /// 0 member, 2 admin (owner only).
    #[schema(schema_with = schema::member_role)]
    pub role: Option<i16>,
    /// 0 muted, 1 may speak (owner/admins; plain members only).
    #[schema(schema_with = schema::speak_status)]
    pub speak_status: Option<i16>,
    /// End of a timed mute, Unix ms (implies `speak_status` 0).
    pub muted_until: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RemoveRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    #[schema(schema_with = schema::user_ids)]
    pub user_ids: Vec<UserId>,
    /// Also put them on the group's ban list (they cannot come back by any path).
    #[serde(default)]
    pub ban: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NicknameRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    /// At most 32 characters; empty clears it.
    pub nickname: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LinkCreateRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    /// Lifetime in seconds (60 up to the server's `groups.invite_link_ttl_secs`, the default).
    #[schema(minimum = 60)]
    pub ttl_secs: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LinkJoinRequest {
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LinkRevokeRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    pub token: String,
}

signed_in_handlers! {
    tag "group", routes routes;

    /// Create a group; the caller is its owner.
    post "/api/v1/group/create", json CreateRequest => [Created],
    errors [400 "GROUP_MEMBERS_EMPTY, INVALID_USER_ID, GROUP_MEMBER_INACTIVE, GROUP_NAME_*, INVALID_AVATAR, INVALID_JOIN_POLICY",
        403 "GROUP_MEMBER_NOT_FRIEND",
        409 "GROUP_FULL"];
    fn create(state, user, body) {
        let CreateRequest { member_ids, name, avatar, join_policy } = body.into_inner();
        let input = CreateInput { member_ids, name, avatar, join_policy };
        Ok(envelope::ok(group::create(&state, user.0.user_id, input).await?))
    }

    /// Join a group: `open` groups at once; `approval` groups file a join request
    /// (`status: "requested"`); `invite_only` groups refuse (GROUP_INVITE_ONLY).
    post "/api/v1/group/join", json JoinRequest => [JoinResult],
    errors [403 "GROUP_BANNED, GROUP_INVITE_ONLY",
        404 "GROUP_NOT_FOUND",
        409 "ALREADY_GROUP_MEMBER, GROUP_FULL, GROUP_DISSOLVED"];
    fn join(state, user, body) {
        let b = body.into_inner();
        Ok(envelope::ok(group::join(&state, user.0.user_id, b.group_id, b.message).await?))
    }

    /// Leave a group (the owner must transfer ownership or dissolve first).
    post "/api/v1/group/leave", json GroupIdRequest => [Object],
    errors [403 "NOT_GROUP_MEMBER",
        409 "OWNER_CANNOT_LEAVE",
        404 "GROUP_NOT_FOUND"];
    fn leave(state, user, body) {
        group::leave(&state, user.0.user_id, body.group_id).await?;
        Ok(envelope::ok_empty())
    }

    /// Edit group info (owner/admins) and/or transfer ownership (`owner_id`, owner only).
    post "/api/v1/group/update", json UpdateRequest => [Object],
    errors [400 "GROUP_NOTHING_TO_UPDATE, GROUP_NAME_*, GROUP_ANNOUNCEMENT_TOO_LONG, INVALID_JOIN_POLICY, GROUP_SPEAK_INVALID, INVALID_MAX_MEMBER, NEW_OWNER_NOT_MEMBER, CANNOT_EDIT_SELF",
        403 "NOT_GROUP_MEMBER, NOT_ADMIN, NOT_OWNER",
        409 "GROUP_DISSOLVED",
        404 "GROUP_NOT_FOUND"];
    fn update(state, user, body) {
        let UpdateRequest {
            group_id, name, avatar, announcement, join_policy, speak_status, member_invite,
            max_member, owner_id,
        } = body.into_inner();
        let input = UpdateInput {
            name, avatar, announcement, join_policy, speak_status, member_invite, max_member,
            owner_id,
        };
        group::update(&state, user.0.user_id, group_id, input).await?;
        Ok(envelope::ok_empty())
    }

    /// Transfer ownership to a member (owner only); the old owner becomes an admin.
    post "/api/v1/group/transfer", json GroupUserRequest => [Object],
    errors [400 "NEW_OWNER_NOT_MEMBER, CANNOT_EDIT_SELF",
        403 "NOT_GROUP_MEMBER, NOT_OWNER",
        404 "GROUP_NOT_FOUND"];
    fn transfer(state, user, body) {
        group::transfer(&state, user.0.user_id, body.group_id, body.user_id).await?;
        Ok(envelope::ok_empty())
    }

    /// Dissolve the group (owner only). Members are told; the group and its history stay readable
    /// to former members, but nobody can join or write to it any more.
    post "/api/v1/group/dissolve", json GroupIdRequest => [Object],
    errors [403 "NOT_GROUP_MEMBER, NOT_OWNER",
        409 "GROUP_DISSOLVED",
        404 "GROUP_NOT_FOUND"];
    fn dissolve(state, user, body) {
        group::dissolve(&state, user.0.user_id, body.group_id).await?;
        Ok(envelope::ok_empty())
    }

    /// Group info (members; anyone for `open`/`approval` groups).
    get "/api/v1/group/info", query GroupQuery => [GroupInfo],
    errors [403 "NOT_GROUP_MEMBER",
        404 "GROUP_NOT_FOUND"];
    fn info(state, user, query) {
        Ok(envelope::ok(group::info(&state, user.0.user_id, query.group_id).await?))
    }

    /// The groups I am in (dissolved ones included, with `status: "dissolved"`).
    get "/api/v1/group/mine" => [Vec<GroupInfo>];
    fn mine(state, user) {
        Ok(envelope::ok(group::my_groups(&state, user.0.user_id).await?))
    }

    /// Members with role, in-group nickname and mute state (members only).
    get "/api/v1/group/members", query GroupQuery => [Vec<MemberView>],
    errors [403 "NOT_GROUP_MEMBER",
        404 "GROUP_NOT_FOUND"];
    fn members(state, user, query) {
        Ok(envelope::ok(group::members(&state, user.0.user_id, query.group_id).await?))
    }

    /// Add members (owner/admins): active friends of the caller who are not banned. Existing
    /// members are skipped; `count` is how many joined.
    post "/api/v1/group/member/add", json UserIdsRequest => [Count],
    errors [400 "GROUP_MEMBER_LIST_EMPTY, INVALID_USER_ID, GROUP_MEMBER_INACTIVE",
        403 "NOT_GROUP_MEMBER, NOT_ADMIN, GROUP_BANNED, GROUP_MEMBER_NOT_FRIEND",
        409 "GROUP_FULL, GROUP_DISSOLVED",
        404 "GROUP_NOT_FOUND"];
    fn member_add(state, user, body) {
        Ok(envelope::ok(
            group::add_members(&state, user.0.user_id, body.group_id, &body.user_ids).await?,
        ))
    }

    /// Appoint/dismiss an admin (owner) or mute/unmute a member, optionally until a time.
    post "/api/v1/group/member/update", json MemberUpdateRequest => [Object],
    errors [400 "INVALID_USER_ID, CANNOT_EDIT_SELF, GROUP_NOTHING_TO_UPDATE, INVALID_ROLE, GROUP_SPEAK_INVALID, INVALID_MUTE_UNTIL",
        403 "NOT_GROUP_MEMBER, NOT_ADMIN, NOT_OWNER, CANNOT_EDIT_PEER_ADMIN, ADMIN_CANNOT_BE_MUTED",
        404 "TARGET_NOT_GROUP_MEMBER, GROUP_NOT_FOUND"];
    fn member_update(state, user, body) {
        let MemberUpdateRequest { group_id, user_id, role, speak_status, muted_until } =
            body.into_inner();
        let input = MemberUpdateInput { role, speak_status, muted_until };
        group::update_member(&state, user.0.user_id, group_id, user_id, input).await?;
        Ok(envelope::ok_empty())
    }

    /// Remove members (owner: members and admins; admins: members), optionally banning them.
    /// `count` is how many were removed.
    post "/api/v1/group/member/remove", json RemoveRequest => [Count],
    errors [400 "GROUP_MEMBER_LIST_EMPTY, INVALID_USER_ID",
        403 "NOT_GROUP_MEMBER, NOT_ADMIN",
        404 "GROUP_NOT_FOUND"];
    fn member_remove(state, user, body) {
        Ok(envelope::ok(
            group::remove_members(&state, user.0.user_id, body.group_id, &body.user_ids, body.ban)
                .await?,
        ))
    }

    /// Set my in-group nickname.
    post "/api/v1/group/member/nickname", json NicknameRequest => [Object],
    errors [400 "INVALID_GROUP_NICKNAME",
        403 "NOT_GROUP_MEMBER",
        404 "GROUP_NOT_FOUND"];
    fn member_nickname(state, user, body) {
        group::set_nickname(&state, user.0.user_id, body.group_id, &body.nickname).await?;
        Ok(envelope::ok_empty())
    }

    /// The group's ban list (owner/admins).
    get "/api/v1/group/bans", query GroupQuery => [Vec<BanView>],
    errors [403 "NOT_GROUP_MEMBER, NOT_ADMIN",
        404 "GROUP_NOT_FOUND"];
    fn bans(state, user, query) {
        Ok(envelope::ok(group::bans(&state, user.0.user_id, query.group_id).await?))
    }

    /// Lift a ban (owner/admins).
    post "/api/v1/group/unban", json GroupUserRequest => [Object],
    errors [403 "NOT_GROUP_MEMBER, NOT_ADMIN",
        404 "GROUP_BAN_NOT_FOUND, GROUP_NOT_FOUND"];
    fn unban(state, user, body) {
        group::unban(&state, user.0.user_id, body.group_id, body.user_id).await?;
        Ok(envelope::ok_empty())
    }

    /// Pending join requests of an `approval` group (owner/admins).
    get "/api/v1/group/requests", query GroupQuery => [Vec<RequestView>],
    errors [403 "NOT_GROUP_MEMBER, NOT_ADMIN",
        404 "GROUP_NOT_FOUND"];
    fn requests(state, user, query) {
        Ok(envelope::ok(group::requests(&state, user.0.user_id, query.group_id).await?))
    }

    /// Accept a join request (owner/admins): the requester joins.
    post "/api/v1/group/request/accept", json GroupUserRequest => [Object],
    errors [403 "NOT_GROUP_MEMBER, NOT_ADMIN, GROUP_BANNED",
        404 "GROUP_REQUEST_NOT_FOUND, GROUP_NOT_FOUND",
        409 "GROUP_FULL"];
    fn request_accept(state, user, body) {
        group::handle_request(&state, user.0.user_id, body.group_id, body.user_id, true).await?;
        Ok(envelope::ok_empty())
    }

    /// Reject a join request (owner/admins).
    post "/api/v1/group/request/reject", json GroupUserRequest => [Object],
    errors [403 "NOT_GROUP_MEMBER, NOT_ADMIN",
        404 "GROUP_REQUEST_NOT_FOUND, GROUP_NOT_FOUND"];
    fn request_reject(state, user, body) {
        group::handle_request(&state, user.0.user_id, body.group_id, body.user_id, false).await?;
        Ok(envelope::ok_empty())
    }

    /// Invite people (owner/admins; members when the group allows it). They join by accepting.
    post "/api/v1/group/invite", json UserIdsRequest => [Count],
    errors [400 "GROUP_MEMBER_LIST_EMPTY, INVALID_USER_ID, GROUP_MEMBER_INACTIVE",
        403 "NOT_GROUP_MEMBER, GROUP_INVITE_NOT_ALLOWED, GROUP_BANNED",
        404 "GROUP_NOT_FOUND"];
    fn invite(state, user, body) {
        Ok(envelope::ok(group::invite(&state, user.0.user_id, body.group_id, &body.user_ids).await?))
    }

    /// My pending group invitations.
    get "/api/v1/group/invites" => [Vec<InviteView>];
    fn invites(state, user) {
        Ok(envelope::ok(group::my_invites(&state, user.0.user_id).await?))
    }

    /// Accept my invitation: I join the group (whatever its join policy; never when banned).
    post "/api/v1/group/invite/accept", json GroupIdRequest => [Object],
    errors [403 "GROUP_BANNED",
        404 "GROUP_INVITE_NOT_FOUND, GROUP_NOT_FOUND",
        409 "GROUP_FULL, GROUP_DISSOLVED, ALREADY_GROUP_MEMBER"];
    fn invite_accept(state, user, body) {
        group::answer_invite(&state, user.0.user_id, body.group_id, true).await?;
        Ok(envelope::ok_empty())
    }

    /// Decline my invitation.
    post "/api/v1/group/invite/reject", json GroupIdRequest => [Object],
    errors [404 "GROUP_INVITE_NOT_FOUND, GROUP_NOT_FOUND"];
    fn invite_reject(state, user, body) {
        group::answer_invite(&state, user.0.user_id, body.group_id, false).await?;
        Ok(envelope::ok_empty())
    }

    /// Create an invite link (owner/admins; members when the group allows it).
    post "/api/v1/group/link/create", json LinkCreateRequest => [LinkView],
    errors [400 "INVALID_PARAMS",
        403 "NOT_GROUP_MEMBER, GROUP_INVITE_NOT_ALLOWED",
        404 "GROUP_NOT_FOUND"];
    fn link_create(state, user, body) {
        Ok(envelope::ok(
            group::create_link(&state, user.0.user_id, body.group_id, body.ttl_secs).await?,
        ))
    }

    /// Join through an invite link (whatever the join policy; never when banned). A link works
    /// only while its creator is still a member who may invite (the owner and admins always,
    /// plain members while `member_invite` is on); otherwise GROUP_LINK_INVALID.
    post "/api/v1/group/link/join", json LinkJoinRequest => [JoinResult],
    errors [403 "GROUP_BANNED",
        404 "GROUP_LINK_INVALID (unknown, expired, revoked, or its creator may no longer invite), GROUP_NOT_FOUND",
        409 "ALREADY_GROUP_MEMBER, GROUP_FULL, GROUP_DISSOLVED"];
    fn link_join(state, user, body) {
        Ok(envelope::ok(group::join_by_link(&state, user.0.user_id, &body.token).await?))
    }

    /// Revoke an invite link (owner/admins or its creator).
    post "/api/v1/group/link/revoke", json LinkRevokeRequest => [Object],
    errors [403 "NOT_GROUP_MEMBER, NOT_ADMIN",
        404 "GROUP_LINK_INVALID, GROUP_NOT_FOUND"];
    fn link_revoke(state, user, body) {
        group::revoke_link(&state, user.0.user_id, body.group_id, &body.token).await?;
        Ok(envelope::ok_empty())
    }

    /// The group's invite links that still work (unrevoked, unexpired, and their creator may still
    /// invite), newest first, with creator and use count (owner/admins). Revoke one with
    /// `/api/v1/group/link/revoke`.
    get "/api/v1/group/links", query GroupQuery => [Vec<LinkView>],
    errors [400 "INVALID_GROUP_ID",
        403 "NOT_GROUP_MEMBER, NOT_ADMIN",
        404 "GROUP_NOT_FOUND",
        409 "GROUP_DISSOLVED"];
    fn links(state, user, query) {
        Ok(envelope::ok(group::links(&state, user.0.user_id, query.group_id).await?))
    }
}
