//! `/api/v1/friend/*`: search, invitations, friend list, remark/delete/block.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::envelope::{self, Envelope, ErrorEnvelope};
use super::extract::AuthUser;
use super::schema;
use crate::domain::UserId;
use crate::error::AppError;
use crate::service::friend::{
    self, FriendUpdate, FriendView, InviteOutcome, InviteView, UpdateOutcome, UserCard,
};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/friend/find", web::get().to(find))
        .route("/api/v1/friend/list", web::get().to(list))
        .route("/api/v1/friend/update", web::post().to(update))
        .route("/api/v1/friend/invite/add", web::post().to(invite_add))
        .route("/api/v1/friend/invite/update", web::post().to(invite_update))
        .route("/api/v1/friend/invite/received", web::get().to(invites_received))
        .route("/api/v1/friend/invite/sent", web::get().to(invites_sent))
        .route("/api/v1/friend/invite/pending_count", web::get().to(pending_count));
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct FindQuery {
    /// Exact user id.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub user_id: Option<UserId>,
    /// Nickname prefix, at least 2 characters; `%` and `_` match themselves.
    #[param(min_length = 2)]
    pub nickname: Option<String>,
    /// Return users with id greater than this (keyset paging).
    pub start_id: Option<i64>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<i64>,
}

/// Find people by id or nickname prefix. Disabled/deleted users, you, and users who blocked
/// you are not returned.
#[utoipa::path(get, path = "/api/v1/friend/find", tag = "friend", security(("bearer" = [])), params(FindQuery),
    responses((status = 200, body = inline(Envelope<Vec<UserCard>>)),
        (status = 400, description = "FIND_PARAMS_MISSING, FIND_NICKNAME_TOO_SHORT, INVALID_USER_ID", body = ErrorEnvelope)))]
pub async fn find(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<FindQuery>,
) -> Result<HttpResponse, AppError> {
    let found =
        friend::find(&state, user.0.user_id, q.user_id, q.nickname.as_deref(), q.start_id, q.limit)
            .await?;
    Ok(envelope::ok(found))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Return friends with user id greater than this.
    pub after_id: Option<i64>,
    /// Page size, 1-1000 (default 100).
    pub limit: Option<i64>,
}

/// My friends with my remark for each and their visible online status.
#[utoipa::path(get, path = "/api/v1/friend/list", tag = "friend", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = inline(Envelope<Vec<FriendView>>))))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(friend::list(&state, user.0.user_id, q.after_id, q.limit).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = FriendUpdateRequest)]
pub struct UpdateRequest {
    /// The other user.
    #[schema(value_type = i64, minimum = 1)]
    pub user_id: UserId,
    #[schema(schema_with = schema::friend_status)]
    pub status: Option<i16>,
    #[schema(schema_with = schema::block_status)]
    pub block_status: Option<i16>,
    /// My remark for them (at most 30 characters); empty clears it.
    #[schema(max_length = 30)]
    pub remark: Option<String>,
    /// With `status: 0`, also hide our conversation from my history.
    #[serde(default)]
    pub delete_history: bool,
}

/// Delete, block, unblock, or set a remark.
#[utoipa::path(post, path = "/api/v1/friend/update", tag = "friend", security(("bearer" = [])), request_body = UpdateRequest,
    responses((status = 200, body = inline(Envelope<UpdateOutcome>)),
        (status = 400, description = "FRIEND_SELF, FRIEND_NOTHING_SET, FRIEND_STATUS_XOR_BLOCK, FRIEND_STATUS_MUST_BE_0, FRIEND_BLOCK_MUST_BE_0_OR_1, INVALID_REMARK", body = ErrorEnvelope),
        (status = 404, description = "FRIEND_NO_RELATION", body = ErrorEnvelope)))]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<UpdateRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let change = FriendUpdate {
        status: b.status,
        block_status: b.block_status,
        remark: b.remark,
        delete_history: b.delete_history,
    };
    Ok(envelope::ok(friend::update(&state, user.0.user_id, b.user_id, change).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteRequest {
    /// Who to invite.
    #[schema(value_type = i64, minimum = 1)]
    pub user_id: UserId,
    /// Optional note, at most 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub note: String,
}

/// Invite a user. Becomes a friendship at once if they invited you, or if only you had
/// deleted them.
#[utoipa::path(post, path = "/api/v1/friend/invite/add", tag = "friend", security(("bearer" = [])), request_body = InviteRequest,
    responses((status = 200, body = inline(Envelope<InviteOutcome>)),
        (status = 400, description = "INVALID_USER_ID, FRIEND_SELF, INVALID_NOTE", body = ErrorEnvelope),
        (status = 403, description = "TARGET_DISABLED, TARGET_DELETED, BLOCKED_BY_TARGET, TARGET_BLOCKED", body = ErrorEnvelope),
        (status = 404, description = "TARGET_NOT_EXISTS", body = ErrorEnvelope),
        (status = 409, description = "ALREADY_FRIENDS, INVITE_ALREADY_PENDING", body = ErrorEnvelope)))]
pub async fn invite_add(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<InviteRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(friend::invite(&state, user.0.user_id, body.user_id, &body.note).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AnswerRequest {
    /// Invitation id.
    #[schema(minimum = 1)]
    pub id: i64,
    #[schema(schema_with = schema::invite_answer)]
    pub status: i16,
    /// Optional reply, at most 100 characters (the inviter sees it).
    #[serde(default)]
    #[schema(max_length = 100)]
    pub reply: String,
}

/// Accept or reject an invitation you received.
#[utoipa::path(post, path = "/api/v1/friend/invite/update", tag = "friend", security(("bearer" = [])), request_body = AnswerRequest,
    responses((status = 200, body = inline(Envelope<InviteOutcome>)),
        (status = 400, description = "INVITE_STATUS_INVALID, INVITE_REPLY_TOO_LONG", body = ErrorEnvelope),
        (status = 404, description = "INVITE_NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "INVITE_ALREADY_HANDLED", body = ErrorEnvelope)))]
pub async fn invite_update(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<AnswerRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(
        friend::answer(&state, user.0.user_id, body.id, body.status, &body.reply).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct InviteListQuery {
    #[param(schema_with = schema::invite_status_filter)]
    pub status: Option<i16>,
    /// Invitations with id below this (paging, newest first).
    pub before_id: Option<i64>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<i64>,
}

/// Invitations I received, newest first.
#[utoipa::path(get, path = "/api/v1/friend/invite/received", tag = "friend", security(("bearer" = [])), params(InviteListQuery),
    responses((status = 200, body = inline(Envelope<Vec<InviteView>>))))]
pub async fn invites_received(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<InviteListQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(
        friend::invitations(&state, user.0.user_id, true, q.status, q.before_id, q.limit).await?,
    ))
}

/// Invitations I sent, newest first.
#[utoipa::path(get, path = "/api/v1/friend/invite/sent", tag = "friend", security(("bearer" = [])), params(InviteListQuery),
    responses((status = 200, body = inline(Envelope<Vec<InviteView>>))))]
pub async fn invites_sent(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<InviteListQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(
        friend::invitations(&state, user.0.user_id, false, q.status, q.before_id, q.limit).await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PendingCount {
    pub count: i64,
}

/// How many invitations wait for my answer.
#[utoipa::path(get, path = "/api/v1/friend/invite/pending_count", tag = "friend", security(("bearer" = [])),
    responses((status = 200, body = inline(Envelope<PendingCount>))))]
pub async fn pending_count(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(PendingCount { count: friend::pending_count(&state, user.0.user_id).await? }))
}
