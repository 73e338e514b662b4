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

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Return friends with user id greater than this.
    pub after_id: Option<i64>,
    /// Page size, 1-1000 (default 100).
    pub limit: Option<i64>,
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

#[derive(Debug, Deserialize, IntoParams)]
pub struct InviteListQuery {
    #[param(schema_with = schema::invite_status_filter)]
    pub status: Option<i16>,
    /// Invitations with id below this (paging, newest first).
    pub before_id: Option<i64>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PendingCount {
    pub count: i64,
}

signed_in_handlers! {
    tag "friend", routes routes;

    /// Find people by id or nickname prefix. Disabled/deleted users, you, and users who blocked
    /// you are not returned.
    get "/api/v1/friend/find", query FindQuery => [Vec<UserCard>],
    errors [400 "FIND_PARAMS_MISSING, FIND_NICKNAME_TOO_SHORT, INVALID_USER_ID"];
    fn find(state, user, q) {
        let found =
            friend::find(&state, user.0.user_id, q.user_id, q.nickname.as_deref(), q.start_id, q.limit)
                .await?;
        Ok(envelope::ok(found))
    }

    /// My friends with my remark for each and their visible online status.
    get "/api/v1/friend/list", query ListQuery => [Vec<FriendView>];
    fn list(state, user, q) {
        Ok(envelope::ok(friend::list(&state, user.0.user_id, q.after_id, q.limit).await?))
    }

    /// Delete, block, unblock, or set a remark.
    post "/api/v1/friend/update", json UpdateRequest => [UpdateOutcome],
    errors [400 "FRIEND_SELF, FRIEND_NOTHING_SET, FRIEND_STATUS_XOR_BLOCK, FRIEND_STATUS_MUST_BE_0, FRIEND_BLOCK_MUST_BE_0_OR_1, INVALID_REMARK",
        404 "FRIEND_NO_RELATION"];
    fn update(state, user, body) {
        let UpdateRequest { user_id, status, block_status, remark, delete_history } =
            body.into_inner();
        let change = FriendUpdate { status, block_status, remark, delete_history };
        Ok(envelope::ok(friend::update(&state, user.0.user_id, user_id, change).await?))
    }

    /// Invite a user. Becomes a friendship at once if they invited you, or if only you had
    /// deleted them.
    post "/api/v1/friend/invite/add", json InviteRequest => [InviteOutcome],
    errors [400 "INVALID_USER_ID, FRIEND_SELF, INVALID_NOTE",
        403 "TARGET_DISABLED, TARGET_DELETED, BLOCKED_BY_TARGET, TARGET_BLOCKED",
        404 "TARGET_NOT_EXISTS",
        409 "ALREADY_FRIENDS, INVITE_ALREADY_PENDING"];
    fn invite_add(state, user, body) {
        Ok(envelope::ok(friend::invite(&state, user.0.user_id, body.user_id, &body.note).await?))
    }

    /// Accept or reject an invitation you received.
    post "/api/v1/friend/invite/update", json AnswerRequest => [InviteOutcome],
    errors [400 "INVITE_STATUS_INVALID, INVITE_REPLY_TOO_LONG",
        404 "INVITE_NOT_FOUND",
        409 "INVITE_ALREADY_HANDLED"];
    fn invite_update(state, user, body) {
        Ok(envelope::ok(
            friend::answer(&state, user.0.user_id, body.id, body.status, &body.reply).await?,
        ))
    }

    /// Invitations I received, newest first.
    get "/api/v1/friend/invite/received", query InviteListQuery => [Vec<InviteView>];
    fn invites_received(state, user, q) {
        Ok(envelope::ok(
            friend::invitations(&state, user.0.user_id, true, q.status, q.before_id, q.limit).await?,
        ))
    }

    /// Invitations I sent, newest first.
    get "/api/v1/friend/invite/sent", query InviteListQuery => [Vec<InviteView>];
    fn invites_sent(state, user, q) {
        Ok(envelope::ok(
            friend::invitations(&state, user.0.user_id, false, q.status, q.before_id, q.limit).await?,
        ))
    }

    /// How many invitations wait for my answer.
    get "/api/v1/friend/invite/pending_count" => [PendingCount];
    fn pending_count(state, user) {
        Ok(envelope::ok(PendingCount { count: friend::pending_count(&state, user.0.user_id).await? }))
    }
}
