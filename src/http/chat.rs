//! `/api/v1/chat/*`: send, history, conversations, read marks, recall, delete for me.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::envelope::{self, Envelope, ErrorEnvelope};
use super::extract::AuthUser;
use super::schema;
use crate::db::conversation::ConversationFlag;
use crate::error::AppError;
use crate::service::chat::{self, ConversationView, HistoryPage, ReadMark, SendInput};
use crate::state::AppState;
use crate::store::StoredMessage;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/chat/message/send", web::post().to(send))
        .route("/api/v1/chat/message/rollback", web::post().to(rollback))
        .route("/api/v1/chat/message/delete", web::post().to(delete))
        .route("/api/v1/chat/message/last", web::get().to(last))
        .route("/api/v1/chat/message/list", web::get().to(list))
        .route("/api/v1/chat/message/read", web::post().to(read))
        .route("/api/v1/chat/message/read_by", web::get().to(read_by))
        .route("/api/v1/chat/conversations", web::get().to(conversations))
        .route("/api/v1/chat/conversation/pin", web::post().to(pin))
        .route("/api/v1/chat/conversation/mute", web::post().to(mute));
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendRequest {
    /// Client-chosen idempotency key (1-64 printable ASCII): a retry with the same key returns
    /// the original message instead of storing a second copy.
    #[schema(pattern = r"^\s*[!-~]{0,64}\s*$")]
    pub action_id: Option<String>,
    #[schema(schema_with = schema::session_type)]
    pub session_type: i16,
    #[serde(rename = "type")]
    #[schema(schema_with = schema::message_type)]
    pub message_type: i16,
    /// Friend's user id, group id or world id.
    #[schema(minimum = 1)]
    pub target_id: i64,
    /// Per type: `text`; `src` (+ `format`, `size`, `duration`, `name`); `latitude`,
    /// `longitude` (+ `scale`, `location_label`); `code` or `src` for stickers.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub body: Value,
}

/// Send a message. Answered only after it is stored; the same `action_id` never stores twice:
/// a retry of the same message gets the first answer, another message under a used
/// `action_id` is refused (409 `ACTION_ID_REUSED`).
#[utoipa::path(post, path = "/api/v1/chat/message/send", tag = "chat", security(("bearer" = [])), request_body = SendRequest,
    responses((status = 200, body = inline(Envelope<StoredMessage>)),
        (status = 400, description = "INVALID_SESSION_TYPE, INVALID_TYPE, INVALID_TARGET_ID, INVALID_BODY, INVALID_ACTION_ID, CHAT_WITH_SELF", body = ErrorEnvelope),
        (status = 403, description = "NOT_FRIENDS, BLOCKED_BY_TARGET, TARGET_BLOCKED, NOT_GROUP_MEMBER, GROUP_ALL_MUTED, MEMBER_MUTED, GROUP_DISSOLVED, WORLD_DISABLED, WORLD_MUTED", body = ErrorEnvelope),
        (status = 409, description = "ACTION_ID_REUSED: the action_id names another message", body = ErrorEnvelope),
        (status = 429, description = "SLOW_MODE", body = ErrorEnvelope)))]
pub async fn send(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<SendRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let input = SendInput {
        action_id: b.action_id,
        session_type: b.session_type,
        message_type: b.message_type,
        target_id: b.target_id,
        body: b.body,
    };
    Ok(envelope::ok(chat::send(&state, &user.0, input).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MessageRef {
    #[schema(schema_with = schema::session_type)]
    pub session_type: i16,
    #[schema(minimum = 1)]
    pub target_id: i64,
    #[schema(minimum = 0)]
    pub message_id: i64,
}

/// Recall a message (yours within the recall window; group owners/admins: any member's).
#[utoipa::path(post, path = "/api/v1/chat/message/rollback", tag = "chat", security(("bearer" = [])), request_body = MessageRef,
    responses((status = 200, body = inline(Envelope<StoredMessage>)),
        (status = 400, description = "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF", body = ErrorEnvelope),
        (status = 403, description = "RECALL_FAILED, NOT_GROUP_MEMBER, WORLD_DISABLED", body = ErrorEnvelope),
        (status = 404, description = "MESSAGE_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn rollback(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<MessageRef>,
) -> Result<HttpResponse, AppError> {
    let m =
        chat::recall(&state, user.0.user_id, body.session_type, body.target_id, body.message_id)
            .await?;
    Ok(envelope::ok(m))
}

/// Delete a message for me only (it stays a tombstone in my history).
#[utoipa::path(post, path = "/api/v1/chat/message/delete", tag = "chat", security(("bearer" = [])), request_body = MessageRef,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 400, description = "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, WORLD_DISABLED", body = ErrorEnvelope),
        (status = 404, description = "MESSAGE_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<MessageRef>,
) -> Result<HttpResponse, AppError> {
    chat::delete_for_me(&state, user.0.user_id, body.session_type, body.target_id, body.message_id)
        .await?;
    Ok(envelope::ok_empty())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LastQuery {
    #[param(required = true, schema_with = schema::session_type)]
    pub session_type: i16,
    #[param(minimum = 1)]
    pub target_id: i64,
    /// How many (default 20, at most `chat.history_page_max`).
    pub limit: Option<i64>,
}

/// The newest messages of a conversation, newest first; recalled and deleted messages are
/// tombstones with their status.
#[utoipa::path(get, path = "/api/v1/chat/message/last", tag = "chat", security(("bearer" = [])), params(LastQuery),
    responses((status = 200, body = inline(Envelope<Vec<StoredMessage>>)),
        (status = 400, description = "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, WORLD_DISABLED", body = ErrorEnvelope)))]
pub async fn last(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<LastQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(
        chat::last(&state, user.0.user_id, q.session_type, q.target_id, q.limit).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    #[param(required = true, schema_with = schema::session_type)]
    pub session_type: i16,
    #[param(minimum = 1)]
    pub target_id: i64,
    /// Messages below this id (scrolling back).
    pub before_message_id: Option<i64>,
    /// Messages above this id (filling a gap, catching up).
    pub after_message_id: Option<i64>,
    /// Page size (default 50, at most `chat.history_page_max`).
    pub limit: Option<i64>,
}

/// A page of history by message id, ascending; says whether more exist.
#[utoipa::path(get, path = "/api/v1/chat/message/list", tag = "chat", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = inline(Envelope<HistoryPage>)),
        (status = 400, description = "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF, INVALID_PARAMS (both before_message_id and after_message_id)", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, WORLD_DISABLED", body = ErrorEnvelope)))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let page = chat::list(
        &state,
        user.0.user_id,
        q.session_type,
        q.target_id,
        q.before_message_id,
        q.after_message_id,
        q.limit,
    )
    .await?;
    Ok(envelope::ok(page))
}

/// Mark a conversation read up to `message_id` (never moves backwards).
#[utoipa::path(post, path = "/api/v1/chat/message/read", tag = "chat", security(("bearer" = [])), request_body = MessageRef,
    responses((status = 200, body = inline(Envelope<ReadMark>)),
        (status = 400, description = "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, WORLD_DISABLED", body = ErrorEnvelope)))]
pub async fn read(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<MessageRef>,
) -> Result<HttpResponse, AppError> {
    let mark =
        chat::mark_read(&state, user.0.user_id, body.session_type, body.target_id, body.message_id)
            .await?;
    Ok(envelope::ok(mark))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReadByQuery {
    #[param(required = true, schema_with = schema::session_type)]
    pub session_type: i16,
    #[param(minimum = 1)]
    pub target_id: i64,
    #[param(minimum = 0)]
    pub message_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadBy {
    /// How many other participants have read up to this message.
    pub read_by: i64,
}

/// How many participants (other than the sender) have read a message ("read by N").
#[utoipa::path(get, path = "/api/v1/chat/message/read_by", tag = "chat", security(("bearer" = [])), params(ReadByQuery),
    responses((status = 200, body = inline(Envelope<ReadBy>)),
        (status = 400, description = "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, WORLD_DISABLED", body = ErrorEnvelope),
        (status = 404, description = "MESSAGE_NOT_FOUND", body = ErrorEnvelope)))]
pub async fn read_by(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ReadByQuery>,
) -> Result<HttpResponse, AppError> {
    let n =
        chat::read_by(&state, user.0.user_id, q.session_type, q.target_id, q.message_id).await?;
    Ok(envelope::ok(ReadBy { read_by: n }))
}

/// My conversations: last message, unread count, read positions; pinned first, then by
/// last activity.
#[utoipa::path(get, path = "/api/v1/chat/conversations", tag = "chat", security(("bearer" = [])),
    responses((status = 200, body = inline(Envelope<Vec<ConversationView>>))))]
pub async fn conversations(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, AppError> {
    Ok(envelope::ok(chat::conversations(&state, user.0.user_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PinRequest {
    #[schema(schema_with = schema::session_type)]
    pub session_type: i16,
    #[schema(minimum = 1)]
    pub target_id: i64,
    pub pinned: bool,
}

/// Pin or unpin a conversation.
#[utoipa::path(post, path = "/api/v1/chat/conversation/pin", tag = "chat", security(("bearer" = [])), request_body = PinRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 400, description = "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, WORLD_DISABLED", body = ErrorEnvelope)))]
pub async fn pin(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<PinRequest>,
) -> Result<HttpResponse, AppError> {
    let flag = ConversationFlag::Pinned(body.pinned);
    chat::set_flag(&state, user.0.user_id, body.session_type, body.target_id, flag).await?;
    Ok(envelope::ok_empty())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MuteRequest {
    #[schema(schema_with = schema::session_type)]
    pub session_type: i16,
    #[schema(minimum = 1)]
    pub target_id: i64,
    pub muted: bool,
}

/// Mute or unmute a conversation (for me: no change to what others can send).
#[utoipa::path(post, path = "/api/v1/chat/conversation/mute", tag = "chat", security(("bearer" = [])), request_body = MuteRequest,
    responses((status = 200, body = inline(Envelope<Object>)),
        (status = 400, description = "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF", body = ErrorEnvelope),
        (status = 403, description = "NOT_GROUP_MEMBER, WORLD_DISABLED", body = ErrorEnvelope)))]
pub async fn mute(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<MuteRequest>,
) -> Result<HttpResponse, AppError> {
    let flag = ConversationFlag::Muted(body.muted);
    chat::set_flag(&state, user.0.user_id, body.session_type, body.target_id, flag).await?;
    Ok(envelope::ok_empty())
}
