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

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/group/create", web::post().to(create))
        .route("/api/v1/group/join", web::post().to(join))
        .route("/api/v1/group/leave", web::post().to(leave))
        .route("/api/v1/group/update", web::post().to(update))
        .route("/api/v1/group/transfer", web::post().to(transfer))
        .route("/api/v1/group/dissolve", web::post().to(dissolve))
        .route("/api/v1/group/info", web::get().to(info))
        .route("/api/v1/group/mine", web::get().to(mine))
        .route("/api/v1/group/members", web::get().to(members))
        .route("/api/v1/group/member/add", web::post().to(member_add))
        .route("/api/v1/group/member/update", web::post().to(member_update))
        .route("/api/v1/group/member/remove", web::post().to(member_remove))
        .route("/api/v1/group/member/nickname", web::post().to(member_nickname))
        .route("/api/v1/group/bans", web::get().to(bans))
        .route("/api/v1/group/unban", web::post().to(unban))
        .route("/api/v1/group/requests", web::get().to(requests))
        .route("/api/v1/group/request/accept", web::post().to(request_accept))
        .route("/api/v1/group/request/reject", web::post().to(request_reject))
        .route("/api/v1/group/invite", web::post().to(invite))
        .route("/api/v1/group/invites", web::get().to(invites))
        .route("/api/v1/group/invite/accept", web::post().to(invite_accept))
        .route("/api/v1/group/invite/reject", web::post().to(invite_reject))
        .route("/api/v1/group/link/create", web::post().to(link_create))
        .route("/api/v1/group/link/join", web::post().to(link_join))
        .route("/api/v1/group/link/revoke", web::post().to(link_revoke))
        .route("/api/v1/group/links", web::get().to(links));
}

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

/// Create a group; the caller is its owner.
#[utoipa::path(post, path = "/api/v1/group/create", tag = "group", security(("bearer" = [])),
    request_body = CreateRequest,
    responses((status = 200, body = inline(Envelope<Created>)),
        (status = 400, description = "GROUP_MEMBERS_EMPTY, INVALID_USER_ID, GROUP_MEMBER_INACTIVE, GROUP_NAME_*, INVALID_AVATAR, INVALID_JOIN_POLICY", body = ErrorEnvelope),
        (status = 403, description = "GROUP_MEMBER_NOT_FRIEND", body = ErrorEnvelope),
        (status = 409, description = "GROUP_FULL", body = ErrorEnvelope)))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = CreateInput {
        member_ids: b.member_ids,
        name: b.name,
        avatar: b.avatar,
        join_policy: b.join_policy,
    };
    Ok(envelope::ok(group::create(&state, user.0.user_id, input).await?))
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

/// Join a group: `open` groups at once; `approval` groups file a join request
/// (`status: "requested"`); `invite_only` groups refuse (GROUP_INVITE_ONLY).
#[utoipa::path(post, path = "/api/v1/group/join", tag = "group", security(("bearer" = [])),
    request_body = JoinRequest,
    responses((status = 200, body = inline(Envelope<JoinResult>)),
        (status = 403, description = "GROUP_BANNED, GROUP_INVITE_ONLY", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "ALREADY_GROUP_MEMBER, GROUP_FULL, GROUP_DISSOLVED", body = ErrorEnvelope)))]
pub async fn join(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<JoinRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    Ok(envelope::ok(group::join(&state, user.0.user_id, b.group_id, b.message).await?))
}

/// Leave a group (the owner must transfer ownership or dissolve first).
#[utoipa::path(post, path = "/api/v1/group/leave", tag = "group", security(("bearer" = [])),
    request_body = GroupIdRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 403, description = "NOT_GROUP_MEMBER", body = ErrorEnvelope),
        (status = 409, description = "OWNER_CANNOT_LEAVE", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn leave(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<GroupIdRequest>,
) -> Result<HttpResponse, AppError> {
    group::leave(&state, user.0.user_id, body.group_id).await?;
    Ok(envelope::ok_empty())
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

/// Edit group info (owner/admins) and/or transfer ownership (`owner_id`, owner only).
#[utoipa::path(post, path = "/api/v1/group/update", tag = "group", security(("bearer" = [])),
    request_body = UpdateRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 400, description = "GROUP_NOTHING_TO_UPDATE, GROUP_NAME_*, GROUP_ANNOUNCEMENT_TOO_LONG, INVALID_JOIN_POLICY, GROUP_SPEAK_INVALID, INVALID_MAX_MEMBER, NEW_OWNER_NOT_MEMBER, CANNOT_EDIT_SELF", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_ADMIN, NOT_OWNER", body = ErrorEnvelope),
        (status = 409, description = "GROUP_DISSOLVED", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<UpdateRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = UpdateInput {
        name: b.name,
        avatar: b.avatar,
        announcement: b.announcement,
        join_policy: b.join_policy,
        speak_status: b.speak_status,
        member_invite: b.member_invite,
        max_member: b.max_member,
        owner_id: b.owner_id,
    };
    group::update(&state, user.0.user_id, b.group_id, input).await?;
    Ok(envelope::ok_empty())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupUserRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    #[schema(value_type = i64, minimum = 1)]
    pub user_id: UserId,
}

/// Transfer ownership to a member (owner only); the old owner becomes an admin.
#[utoipa::path(post, path = "/api/v1/group/transfer", tag = "group", security(("bearer" = [])),
    request_body = GroupUserRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 400, description = "NEW_OWNER_NOT_MEMBER, CANNOT_EDIT_SELF", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_OWNER", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn transfer(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<GroupUserRequest>,
) -> Result<HttpResponse, AppError> {
    group::transfer(&state, user.0.user_id, body.group_id, body.user_id).await?;
    Ok(envelope::ok_empty())
}

/// Dissolve the group (owner only). Members are told; the group and its history stay readable
/// to former members, but nobody can join or write to it any more.
#[utoipa::path(post, path = "/api/v1/group/dissolve", tag = "group", security(("bearer" = [])),
    request_body = GroupIdRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_OWNER", body = ErrorEnvelope),
        (status = 409, description = "GROUP_DISSOLVED", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn dissolve(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<GroupIdRequest>,
) -> Result<HttpResponse, AppError> {
    group::dissolve(&state, user.0.user_id, body.group_id).await?;
    Ok(envelope::ok_empty())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct GroupQuery {
    #[param(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
}

/// Group info (members; anyone for `open`/`approval` groups).
#[utoipa::path(get, path = "/api/v1/group/info", tag = "group", security(("bearer" = [])),
    params(GroupQuery),
    responses((status = 200, body = inline(Envelope<GroupInfo>)),
        (status = 403, description = "NOT_GROUP_MEMBER", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn info(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<GroupQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(group::info(&state, user.0.user_id, query.group_id).await?))
}

/// The groups I am in (dissolved ones included, with `status: "dissolved"`).
#[utoipa::path(get, path = "/api/v1/group/mine", tag = "group", security(("bearer" = [])),
    responses((status = 200, body = inline(Envelope<Vec<GroupInfo>>))))]
pub async fn mine(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(group::my_groups(&state, user.0.user_id).await?))
}

/// Members with role, in-group nickname and mute state (members only).
#[utoipa::path(get, path = "/api/v1/group/members", tag = "group", security(("bearer" = [])),
    params(GroupQuery),
    responses((status = 200, body = inline(Envelope<Vec<MemberView>>)),
        (status = 403, description = "NOT_GROUP_MEMBER", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn members(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<GroupQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(group::members(&state, user.0.user_id, query.group_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserIdsRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    #[schema(schema_with = schema::user_ids)]
    pub user_ids: Vec<UserId>,
}

/// Add members (owner/admins): active friends of the caller who are not banned. Existing
/// members are skipped; `count` is how many joined.
#[utoipa::path(post, path = "/api/v1/group/member/add", tag = "group", security(("bearer" = [])),
    request_body = UserIdsRequest,
    responses((status = 200, body = inline(Envelope<Count>)),
        (status = 400, description = "GROUP_MEMBER_LIST_EMPTY, INVALID_USER_ID, GROUP_MEMBER_INACTIVE", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_ADMIN, GROUP_BANNED, GROUP_MEMBER_NOT_FRIEND", body = ErrorEnvelope),
        (status = 409, description = "GROUP_FULL, GROUP_DISSOLVED", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn member_add(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<UserIdsRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(
        group::add_members(&state, user.0.user_id, body.group_id, &body.user_ids).await?,
    ))
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

/// Appoint/dismiss an admin (owner) or mute/unmute a member, optionally until a time.
#[utoipa::path(post, path = "/api/v1/group/member/update", tag = "group", security(("bearer" = [])),
    request_body = MemberUpdateRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 400, description = "INVALID_USER_ID, CANNOT_EDIT_SELF, GROUP_NOTHING_TO_UPDATE, INVALID_ROLE, GROUP_SPEAK_INVALID, INVALID_MUTE_UNTIL", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_ADMIN, NOT_OWNER, CANNOT_EDIT_PEER_ADMIN, ADMIN_CANNOT_BE_MUTED", body = ErrorEnvelope),
        (status = 404, description = "TARGET_NOT_GROUP_MEMBER, GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn member_update(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<MemberUpdateRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = MemberUpdateInput {
        role: b.role,
        speak_status: b.speak_status,
        muted_until: b.muted_until,
    };
    group::update_member(&state, user.0.user_id, b.group_id, b.user_id, input).await?;
    Ok(envelope::ok_empty())
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

/// Remove members (owner: members and admins; admins: members), optionally banning them.
/// `count` is how many were removed.
#[utoipa::path(post, path = "/api/v1/group/member/remove", tag = "group", security(("bearer" = [])),
    request_body = RemoveRequest,
    responses((status = 200, body = inline(Envelope<Count>)),
        (status = 400, description = "GROUP_MEMBER_LIST_EMPTY, INVALID_USER_ID", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_ADMIN", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn member_remove(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<RemoveRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(
        group::remove_members(&state, user.0.user_id, body.group_id, &body.user_ids, body.ban)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NicknameRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    /// At most 32 characters; empty clears it.
    pub nickname: String,
}

/// Set my in-group nickname.
#[utoipa::path(post, path = "/api/v1/group/member/nickname", tag = "group", security(("bearer" = [])),
    request_body = NicknameRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 400, description = "INVALID_GROUP_NICKNAME", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn member_nickname(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<NicknameRequest>,
) -> Result<HttpResponse, AppError> {
    group::set_nickname(&state, user.0.user_id, body.group_id, &body.nickname).await?;
    Ok(envelope::ok_empty())
}

/// The group's ban list (owner/admins).
#[utoipa::path(get, path = "/api/v1/group/bans", tag = "group", security(("bearer" = [])),
    params(GroupQuery),
    responses((status = 200, body = inline(Envelope<Vec<BanView>>)),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_ADMIN", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn bans(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<GroupQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(group::bans(&state, user.0.user_id, query.group_id).await?))
}

/// Lift a ban (owner/admins).
#[utoipa::path(post, path = "/api/v1/group/unban", tag = "group", security(("bearer" = [])),
    request_body = GroupUserRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_ADMIN", body = ErrorEnvelope),
        (status = 404, description = "GROUP_BAN_NOT_FOUND, GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn unban(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<GroupUserRequest>,
) -> Result<HttpResponse, AppError> {
    group::unban(&state, user.0.user_id, body.group_id, body.user_id).await?;
    Ok(envelope::ok_empty())
}

/// Pending join requests of an `approval` group (owner/admins).
#[utoipa::path(get, path = "/api/v1/group/requests", tag = "group", security(("bearer" = [])),
    params(GroupQuery),
    responses((status = 200, body = inline(Envelope<Vec<RequestView>>)),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_ADMIN", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn requests(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<GroupQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(group::requests(&state, user.0.user_id, query.group_id).await?))
}

/// Accept a join request (owner/admins): the requester joins.
#[utoipa::path(post, path = "/api/v1/group/request/accept", tag = "group", security(("bearer" = [])),
    request_body = GroupUserRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_ADMIN, GROUP_BANNED", body = ErrorEnvelope),
        (status = 404, description = "GROUP_REQUEST_NOT_FOUND, GROUP_NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "GROUP_FULL", body = ErrorEnvelope)))]
pub async fn request_accept(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<GroupUserRequest>,
) -> Result<HttpResponse, AppError> {
    group::handle_request(&state, user.0.user_id, body.group_id, body.user_id, true).await?;
    Ok(envelope::ok_empty())
}

/// Reject a join request (owner/admins).
#[utoipa::path(post, path = "/api/v1/group/request/reject", tag = "group", security(("bearer" = [])),
    request_body = GroupUserRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_ADMIN", body = ErrorEnvelope),
        (status = 404, description = "GROUP_REQUEST_NOT_FOUND, GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn request_reject(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<GroupUserRequest>,
) -> Result<HttpResponse, AppError> {
    group::handle_request(&state, user.0.user_id, body.group_id, body.user_id, false).await?;
    Ok(envelope::ok_empty())
}

/// Invite people (owner/admins; members when the group allows it). They join by accepting.
#[utoipa::path(post, path = "/api/v1/group/invite", tag = "group", security(("bearer" = [])),
    request_body = UserIdsRequest,
    responses((status = 200, body = inline(Envelope<Count>)),
        (status = 400, description = "GROUP_MEMBER_LIST_EMPTY, INVALID_USER_ID, GROUP_MEMBER_INACTIVE", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, GROUP_INVITE_NOT_ALLOWED, GROUP_BANNED", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn invite(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<UserIdsRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(group::invite(&state, user.0.user_id, body.group_id, &body.user_ids).await?))
}

/// My pending group invitations.
#[utoipa::path(get, path = "/api/v1/group/invites", tag = "group", security(("bearer" = [])),
    responses((status = 200, body = inline(Envelope<Vec<InviteView>>))))]
pub async fn invites(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(group::my_invites(&state, user.0.user_id).await?))
}

/// Accept my invitation: I join the group (whatever its join policy; never when banned).
#[utoipa::path(post, path = "/api/v1/group/invite/accept", tag = "group", security(("bearer" = [])),
    request_body = GroupIdRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 403, description = "GROUP_BANNED", body = ErrorEnvelope),
        (status = 404, description = "GROUP_INVITE_NOT_FOUND, GROUP_NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "GROUP_FULL, GROUP_DISSOLVED, ALREADY_GROUP_MEMBER", body = ErrorEnvelope)))]
pub async fn invite_accept(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<GroupIdRequest>,
) -> Result<HttpResponse, AppError> {
    group::answer_invite(&state, user.0.user_id, body.group_id, true).await?;
    Ok(envelope::ok_empty())
}

/// Decline my invitation.
#[utoipa::path(post, path = "/api/v1/group/invite/reject", tag = "group", security(("bearer" = [])),
    request_body = GroupIdRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 404, description = "GROUP_INVITE_NOT_FOUND, GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn invite_reject(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<GroupIdRequest>,
) -> Result<HttpResponse, AppError> {
    group::answer_invite(&state, user.0.user_id, body.group_id, false).await?;
    Ok(envelope::ok_empty())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LinkCreateRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    /// Lifetime in seconds (60 up to the server's `groups.invite_link_ttl_secs`, the default).
    #[schema(minimum = 60)]
    pub ttl_secs: Option<i64>,
}

/// Create an invite link (owner/admins; members when the group allows it).
#[utoipa::path(post, path = "/api/v1/group/link/create", tag = "group", security(("bearer" = [])),
    request_body = LinkCreateRequest,
    responses((status = 200, body = inline(Envelope<LinkView>)),
        (status = 400, description = "INVALID_PARAMS", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, GROUP_INVITE_NOT_ALLOWED", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn link_create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<LinkCreateRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(
        group::create_link(&state, user.0.user_id, body.group_id, body.ttl_secs).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LinkJoinRequest {
    pub token: String,
}

/// Join through an invite link (whatever the join policy; never when banned). A link works
/// only while its creator is still a member who may invite (the owner and admins always,
/// plain members while `member_invite` is on); otherwise GROUP_LINK_INVALID.
#[utoipa::path(post, path = "/api/v1/group/link/join", tag = "group", security(("bearer" = [])),
    request_body = LinkJoinRequest,
    responses((status = 200, body = inline(Envelope<JoinResult>)),
        (status = 403, description = "GROUP_BANNED", body = ErrorEnvelope),
        (status = 404, description = "GROUP_LINK_INVALID (unknown, expired, revoked, or its creator may no longer invite), GROUP_NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "ALREADY_GROUP_MEMBER, GROUP_FULL, GROUP_DISSOLVED", body = ErrorEnvelope)))]
pub async fn link_join(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<LinkJoinRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(group::join_by_link(&state, user.0.user_id, &body.token).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LinkRevokeRequest {
    #[schema(value_type = i64, minimum = 1)]
    pub group_id: GroupId,
    pub token: String,
}

/// Revoke an invite link (owner/admins or its creator).
#[utoipa::path(post, path = "/api/v1/group/link/revoke", tag = "group", security(("bearer" = [])),
    request_body = LinkRevokeRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_ADMIN", body = ErrorEnvelope),
        (status = 404, description = "GROUP_LINK_INVALID, GROUP_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn link_revoke(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<LinkRevokeRequest>,
) -> Result<HttpResponse, AppError> {
    group::revoke_link(&state, user.0.user_id, body.group_id, &body.token).await?;
    Ok(envelope::ok_empty())
}

/// The group's invite links that still work (unrevoked, unexpired, and their creator may still
/// invite), newest first, with creator and use count (owner/admins). Revoke one with
/// `/api/v1/group/link/revoke`.
#[utoipa::path(get, path = "/api/v1/group/links", tag = "group", security(("bearer" = [])),
    params(GroupQuery),
    responses((status = 200, body = inline(Envelope<Vec<LinkView>>)),
        (status = 400, description = "INVALID_GROUP_ID", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, NOT_ADMIN", body = ErrorEnvelope),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "GROUP_DISSOLVED", body = ErrorEnvelope)))]
pub async fn links(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<GroupQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(group::links(&state, user.0.user_id, query.group_id).await?))
}
