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
use crate::service::chat::{
    self, ConversationView, HistoryPage, MemberRead, MessageAt, ReadMark, SendInput, WorldInfo,
};
use crate::state::AppState;
use crate::store::StoredMessage;

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

#[derive(Debug, Deserialize, ToSchema)]
pub struct MessageRef {
    #[schema(schema_with = schema::session_type)]
    pub session_type: i16,
    #[schema(minimum = 1)]
    pub target_id: i64,
    #[schema(minimum = 0)]
    pub message_id: i64,
}

impl MessageRef {
    fn at(&self) -> MessageAt {
        MessageAt::new(self.session_type, self.target_id, self.message_id)
    }
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

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReadByQuery {
    #[param(required = true, schema_with = schema::session_type)]
    pub session_type: i16,
    #[param(minimum = 1)]
    pub target_id: i64,
    #[param(minimum = 0)]
    pub message_id: i64,
}

impl ReadByQuery {
    fn at(&self) -> MessageAt {
        MessageAt::new(self.session_type, self.target_id, self.message_id)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReadPositionsQuery {
    /// 2 (group): read positions are shared in groups only.
    #[param(required = true, schema_with = schema::session_type)]
    pub session_type: i16,
    #[param(minimum = 1)]
    pub target_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadBy {
    /// How many other participants have read up to this message.
    pub read_by: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PinRequest {
    #[schema(schema_with = schema::session_type)]
    pub session_type: i16,
    #[schema(minimum = 1)]
    pub target_id: i64,
    pub pinned: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MuteRequest {
    #[schema(schema_with = schema::session_type)]
    pub session_type: i16,
    #[schema(minimum = 1)]
    pub target_id: i64,
    pub muted: bool,
}

signed_in_handlers! {
    tag "chat", routes routes;

    /// Send a message. Answered only after it is stored; the same `action_id` never stores twice:
    /// a retry of the same message gets the first answer, another message under a used
    /// `action_id` is refused (409 `ACTION_ID_REUSED`).
    post "/api/v1/chat/message/send", json SendRequest => [StoredMessage],
    errors [400 "INVALID_SESSION_TYPE, INVALID_TYPE, INVALID_TARGET_ID, INVALID_BODY, INVALID_ACTION_ID, CHAT_WITH_SELF",
        403 "NOT_FRIENDS, BLOCKED_BY_TARGET, TARGET_BLOCKED, NOT_GROUP_MEMBER, GROUP_ALL_MUTED, MEMBER_MUTED, GROUP_DISSOLVED, WORLD_DISABLED, WORLD_MUTED",
        409 "ACTION_ID_REUSED: the action_id names another message",
        429 "SLOW_MODE"];
    fn send(state, user, body) {
        let SendRequest { action_id, session_type, message_type, target_id, body } =
            body.into_inner();
        let input = SendInput { action_id, session_type, message_type, target_id, body };
        Ok(envelope::ok(chat::send(&state, &user.0, input).await?))
    }

    /// Recall a message (yours within the recall window; group owners/admins: any member's).
    post "/api/v1/chat/message/rollback", json MessageRef => [StoredMessage],
    errors [400 "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF",
        403 "RECALL_FAILED, NOT_GROUP_MEMBER, WORLD_DISABLED",
        404 "MESSAGE_NOT_FOUND"];
    fn rollback(state, user, body) {
        Ok(envelope::ok(chat::recall(&state, user.0.user_id, body.at()).await?))
    }

    /// Delete a message for me only (it stays a tombstone in my history).
    post "/api/v1/chat/message/delete", json MessageRef => [Object],
    errors [400 "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF",
        403 "NOT_GROUP_MEMBER, WORLD_DISABLED",
        404 "MESSAGE_NOT_FOUND"];
    fn delete(state, user, body) {
        chat::delete_for_me(&state, user.0.user_id, body.at()).await?;
        Ok(envelope::ok_empty())
    }

    /// The newest messages of a conversation, newest first; recalled and deleted messages are
    /// tombstones with their status.
    get "/api/v1/chat/message/last", query LastQuery => [Vec<StoredMessage>],
    errors [400 "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF",
        403 "NOT_GROUP_MEMBER, WORLD_DISABLED"];
    fn last(state, user, q) {
        Ok(envelope::ok(
            chat::last(&state, user.0.user_id, q.session_type, q.target_id, q.limit).await?,
        ))
    }

    /// A page of history by message id, ascending; says whether more exist.
    get "/api/v1/chat/message/list", query ListQuery => [HistoryPage],
    errors [400 "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF, INVALID_PARAMS (both before_message_id and after_message_id)",
        403 "NOT_GROUP_MEMBER, WORLD_DISABLED"];
    fn list(state, user, q) {
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
    post "/api/v1/chat/message/read", json MessageRef => [ReadMark],
    errors [400 "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF",
        403 "NOT_GROUP_MEMBER, WORLD_DISABLED"];
    fn read(state, user, body) {
        Ok(envelope::ok(chat::mark_read(&state, user.0.user_id, body.at()).await?))
    }

    /// How many participants (other than the sender) have read a message ("read by N").
    get "/api/v1/chat/message/read_by", query ReadByQuery => [ReadBy],
    errors [400 "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF",
        403 "NOT_GROUP_MEMBER, WORLD_DISABLED",
        404 "MESSAGE_NOT_FOUND"];
    fn read_by(state, user, q) {
        let n = chat::read_by(&state, user.0.user_id, q.at()).await?;
        Ok(envelope::ok(ReadBy { read_by: n }))
    }

    /// How far the other members of a group have read it (those who read nothing are left
    /// out), for "read by N" under any message. Kept current by `read_position` frames: a
    /// member's read mark reaches the members whose messages it covers.
    get "/api/v1/chat/read_positions", query ReadPositionsQuery => [Vec<MemberRead>],
    errors [400 "INVALID_SESSION_TYPE (not a group), INVALID_TARGET_ID",
        403 "NOT_GROUP_MEMBER"];
    fn read_positions(state, user, q) {
        Ok(envelope::ok(
            chat::read_positions(&state, user.0.user_id, q.session_type, q.target_id).await?,
        ))
    }

    /// The world channel as this server runs it: whether it exists, its ids, whether it is
    /// muted, its slow mode. (Each WebSocket receives it unless it sends `world {enabled:
    /// false}`.)
    get "/api/v1/chat/world/info" => [WorldInfo];
    fn world_info(state, _user) {
        Ok(envelope::ok(chat::world_info(&state).await?))
    }

    /// My conversations: last message, unread count, read positions; pinned first, then by
    /// last activity.
    get "/api/v1/chat/conversations" => [Vec<ConversationView>];
    fn conversations(state, user) {
        Ok(envelope::ok(chat::conversations(&state, user.0.user_id).await?))
    }

    /// Pin or unpin a conversation.
    post "/api/v1/chat/conversation/pin", json PinRequest => [Object],
    errors [400 "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF",
        403 "NOT_GROUP_MEMBER, WORLD_DISABLED"];
    fn pin(state, user, body) {
        let flag = ConversationFlag::Pinned(body.pinned);
        chat::set_flag(&state, user.0.user_id, body.session_type, body.target_id, flag).await?;
        Ok(envelope::ok_empty())
    }

    /// Mute or unmute a conversation (for me: no change to what others can send).
    post "/api/v1/chat/conversation/mute", json MuteRequest => [Object],
    errors [400 "INVALID_SESSION_TYPE, INVALID_TARGET_ID, CHAT_WITH_SELF",
        403 "NOT_GROUP_MEMBER, WORLD_DISABLED"];
    fn mute(state, user, body) {
        let flag = ConversationFlag::Muted(body.muted);
        chat::set_flag(&state, user.0.user_id, body.session_type, body.target_id, flag).await?;
        Ok(envelope::ok_empty())
    }
}
