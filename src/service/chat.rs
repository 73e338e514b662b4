//! Chat: send (validated, idempotent, durable before acknowledged, published after commit),
//! history with tombstones, conversations with unread counts, read marks, recall, delete for
//! me. Who may write or read a room is decided here for every session type.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::bus::Event;
use crate::db::conversation::{ConversationFlag, ConversationKey, ReadMove};
use crate::db::now_ms;
use crate::domain::{GroupId, MessageStatus, MessageType, SessionType, UserId};
use crate::error::{AppError, ErrorCode, Result};
use crate::service::auth::Principal;
use crate::service::{friend, group, media};
use crate::state::Core;
use crate::store::{
    NewMessage, OnCommit, Page, StoredMessage, group_room_id, private_room_id, world_room_id,
};

/// Server-meta key of the admin world mute.
pub const WORLD_MUTED_KEY: &str = "world_muted";

/// A conversation as named by clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conversation {
    pub session_type: i16,
    pub target_id: i64,
}

/// A resolved room, from one user's point of view.
#[derive(Debug, Clone)]
pub struct Room {
    pub room_id: String,
    pub session_type: i16,
    /// A user id, group id or world id, as `session_type` says ([`Room::peer`],
    /// [`Room::group`]).
    pub target_id: i64,
}

impl Room {
    /// The other party of a private room.
    pub fn peer(&self) -> UserId {
        UserId(self.target_id)
    }

    /// The group of a group room.
    pub fn group(&self) -> GroupId {
        GroupId(self.target_id)
    }
}

/// What `/chat/message/send` takes.
#[derive(Debug, Clone, Default)]
pub struct SendInput {
    pub action_id: Option<String>,
    pub session_type: i16,
    pub message_type: i16,
    pub target_id: i64,
    pub body: Value,
}

fn room_of(user: UserId, session_type: i16, target_id: i64) -> Result<Room> {
    if target_id <= 0 {
        return Err(AppError::code(ErrorCode::InvalidTargetId));
    }
    let room_id = match SessionType::from_i16(session_type) {
        Some(SessionType::Private) => {
            if UserId(target_id) == user {
                return Err(AppError::code(ErrorCode::ChatWithSelf));
            }
            private_room_id(user.get(), target_id)
        }
        Some(SessionType::Group) => group_room_id(target_id),
        Some(SessionType::World) => world_room_id(target_id),
        _ => return Err(AppError::code(ErrorCode::InvalidSessionType)),
    };
    Ok(Room { room_id, session_type, target_id })
}

/// One message as a client names it: its conversation (`session_type`, `target_id`) and its
/// `message_id` there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageAt {
    pub session_type: i16,
    pub target_id: i64,
    pub message_id: i64,
}

impl MessageAt {
    pub const fn new(session_type: i16, target_id: i64, message_id: i64) -> Self {
        Self { session_type, target_id, message_id }
    }
}

/// The room of a message `user` may read, and the message ([`readable_room`]; a message not in
/// it is MESSAGE_NOT_FOUND).
async fn readable_message(
    state: &Core,
    user: UserId,
    at: MessageAt,
) -> Result<(Room, StoredMessage)> {
    let room = readable_room(state, user, at.session_type, at.target_id).await?;
    let message = state
        .messages
        .get(&room.room_id, at.message_id)
        .await?
        .ok_or_else(|| AppError::code(ErrorCode::MessageNotFound))?;
    Ok((room, message))
}

/// Resolve a conversation `user` may read. Private rooms are readable by their two parties
/// (also after unfriending); group rooms by members (also of a dissolved group); world rooms
/// by everyone while the world channel exists.
pub async fn readable_room(
    state: &Core,
    user: UserId,
    session_type: i16,
    target_id: i64,
) -> Result<Room> {
    let room = room_of(user, session_type, target_id)?;
    match SessionType::from_i16(session_type) {
        Some(SessionType::Group)
            if state.db.group_member_find(room.group(), user).await?.is_none() =>
        {
            return Err(AppError::code(ErrorCode::NotGroupMember));
        }
        Some(SessionType::World) => world_exists(state, target_id)?,
        _ => {}
    }
    Ok(room)
}

fn world_exists(state: &Core, world_id: i64) -> Result<()> {
    let chat = &state.config.chat;
    if !chat.world_enabled {
        return Err(AppError::code(ErrorCode::WorldDisabled));
    }
    if !chat.world_ids.contains(&world_id) {
        return Err(AppError::with_message(ErrorCode::InvalidTargetId, "no such world channel"));
    }
    Ok(())
}

/// Whether the world channel is muted (by config or by an admin).
pub async fn world_muted(state: &Core) -> Result<bool> {
    Ok(state.config.chat.world_muted
        || state.db.meta_get(WORLD_MUTED_KEY).await?.is_some_and(|v| v == "1"))
}

/// What a client needs to offer the world channel: whether it exists, its ids, whether only
/// admins' mute keeps everyone from writing, and the slow mode.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorldInfo {
    /// Whether the world channel exists on this server.
    pub enabled: bool,
    /// The world channels' ids (`target_id` with `session_type` 99); empty when disabled.
    pub world_ids: Vec<i64>,
    /// Read-only for now (by configuration or `jim world mute`).
    pub muted: bool,
    /// Seconds a user must wait between two world messages (0: no slow mode).
    pub slow_mode_secs: u64,
}

/// The world channel as this server runs it.
pub async fn world_info(state: &Core) -> Result<WorldInfo> {
    let chat = &state.config.chat;
    Ok(WorldInfo {
        enabled: chat.world_enabled,
        world_ids: if chat.world_enabled { chat.world_ids.clone() } else { Vec::new() },
        muted: chat.world_enabled && world_muted(state).await?,
        slow_mode_secs: chat.world_slow_mode_secs,
    })
}

/// Who receives pushes of a room's messages (empty for the world: everyone connected).
async fn recipients(state: &Core, room: &Room, user: UserId) -> Result<Vec<UserId>> {
    Ok(match SessionType::from_i16(room.session_type) {
        Some(SessionType::Private) => vec![user.min(room.peer()), user.max(room.peer())],
        Some(SessionType::Group) => state.db.group_member_ids(room.group(), None).await?,
        _ => Vec::new(),
    })
}

fn text_field(body: &Map<String, Value>, key: &str, max_chars: usize) -> Result<Option<String>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if s.chars().count() <= max_chars && !s.chars().any(char::is_control) =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(AppError::with_message(
            ErrorCode::InvalidBody,
            format!("body.{key} must be a string of at most {max_chars} characters"),
        )),
    }
}

fn number_field(
    body: &Map<String, Value>,
    key: &str,
    range: std::ops::RangeInclusive<f64>,
) -> Result<Option<f64>> {
    let value = match body.get(key) {
        None | Some(Value::Null) => return Ok(None),
        // The original sent coordinates and sizes as strings; accept both.
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => None,
    };
    match value {
        Some(v) if v.is_finite() && range.contains(&v) => Ok(Some(v)),
        _ => Err(AppError::with_message(
            ErrorCode::InvalidBody,
            format!("body.{key} must be a number between {} and {}", range.start(), range.end()),
        )),
    }
}

fn media_src(state: &Core, body: &Map<String, Value>) -> Result<String> {
    let src = text_field(body, "src", 2048)?
        .ok_or_else(|| AppError::with_message(ErrorCode::InvalidBody, "body.src is required"))?;
    let allowed = url::Url::parse(&src).is_ok_and(|u| {
        state.config.chat.url_schemes.iter().any(|s| s == u.scheme()) && u.host().is_some()
    });
    if !allowed {
        return Err(AppError::with_message(
            ErrorCode::InvalidBody,
            format!(
                "body.src must be a URL with scheme {}",
                state.config.chat.url_schemes.join(" or ")
            ),
        ));
    }
    Ok(src)
}

/// The upload a media message refers to (`body.media_id`), if any.
fn media_id_of(message_type: i16, body: &Value) -> Result<Option<String>> {
    let Some(raw) = body.get("media_id") else { return Ok(None) };
    let media_type = matches!(
        MessageType::from_i16(message_type),
        Some(
            MessageType::Image
                | MessageType::Voice
                | MessageType::Video
                | MessageType::File
                | MessageType::Sticker
        )
    );
    match raw {
        Value::String(id) if media_type => Ok(Some(id.clone())),
        Value::Null => Ok(None),
        _ => Err(AppError::with_message(
            ErrorCode::InvalidBody,
            "body.media_id must be the id of an upload, on an image, voice, video, file or sticker message",
        )),
    }
}

/// Validate a body for its type and keep only the fields that type defines.
pub fn validate_body(state: &Core, message_type: i16, body: &Value) -> Result<Value> {
    let empty = Map::new();
    let body = match body {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => return Err(AppError::with_message(ErrorCode::InvalidBody, "body must be an object")),
    };
    let chat = &state.config.chat;
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    match MessageType::from_i16(message_type) {
        Some(MessageType::Text) => {
            let text = match body.get("text") {
                Some(Value::String(s)) => s.clone(),
                _ => {
                    return Err(AppError::with_message(
                        ErrorCode::InvalidBody,
                        "body.text is required",
                    ));
                }
            };
            if text.trim().is_empty() {
                return Err(AppError::with_message(ErrorCode::InvalidBody, "body.text is empty"));
            }
            if text.len() > chat.max_text_bytes || text.chars().count() > chat.max_text_chars {
                return Err(AppError::with_message(
                    ErrorCode::InvalidBody,
                    format!(
                        "body.text longer than {} characters or {} bytes",
                        chat.max_text_chars, chat.max_text_bytes
                    ),
                ));
            }
            put("text", json!(text));
        }
        Some(
            media @ (MessageType::Image
            | MessageType::Voice
            | MessageType::Video
            | MessageType::File),
        ) => {
            // By reference (`media_id`), the server fills the rest from the upload (send).
            let by_reference = body.get("media_id").is_some_and(|v| !v.is_null());
            if !by_reference {
                put("src", json!(media_src(state, body)?));
            }
            if let Some(f) = text_field(body, "format", 16)? {
                if !f.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(AppError::with_message(
                        ErrorCode::InvalidBody,
                        "body.format must be letters and digits",
                    ));
                }
                put("format", json!(f));
            }
            if let Some(size) = number_field(body, "size", 0.0..=1e13)? {
                put("size", json!(size as u64));
            }
            if matches!(media, MessageType::Voice | MessageType::Video)
                && let Some(d) = number_field(body, "duration", 0.0..=86400.0)?
            {
                put("duration", json!(d));
            }
            if media == MessageType::File && !by_reference {
                let name = text_field(body, "name", 255)?
                    .filter(|n| !n.trim().is_empty())
                    .ok_or_else(|| {
                        AppError::with_message(
                            ErrorCode::InvalidBody,
                            "body.name is required for files",
                        )
                    })?;
                put("name", json!(name));
            }
        }
        Some(MessageType::Location) => {
            let lat = number_field(body, "latitude", -90.0..=90.0)?;
            let lon = number_field(body, "longitude", -180.0..=180.0)?;
            let (Some(lat), Some(lon)) = (lat, lon) else {
                return Err(AppError::with_message(
                    ErrorCode::InvalidBody,
                    "body.latitude and body.longitude are required",
                ));
            };
            put("latitude", json!(lat));
            put("longitude", json!(lon));
            if let Some(scale) = number_field(body, "scale", 0.0..=30.0)? {
                put("scale", json!(scale));
            }
            if let Some(label) = text_field(body, "location_label", 200)? {
                put("location_label", json!(label));
            }
        }
        Some(MessageType::Sticker) => {
            let code = text_field(body, "code", 64)?.filter(|c| !c.trim().is_empty());
            match code {
                Some(code) => put("code", json!(code)),
                None if body.get("media_id").is_some_and(|v| !v.is_null()) => {}
                None => put("src", json!(media_src(state, body)?)),
            }
        }
        _ => return Err(AppError::code(ErrorCode::InvalidType)),
    }
    Ok(Value::Object(out))
}

fn action_id(raw: Option<&str>) -> Result<String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        // No key: the send is not retry-safe, but still stored exactly once.
        None => Ok(format!("auto-{}", uuid::Uuid::new_v4().simple())),
        Some(a) if a.len() <= 64 && a.chars().all(|c| c.is_ascii_graphic()) => Ok(a.to_string()),
        Some(_) => Err(AppError::code(ErrorCode::InvalidActionId)),
    }
}

/// The hook that queues a stored message's push to `recipient_ids` once it is committed, in
/// commit order (see [`crate::store::MessageStore::append_then`]).
pub fn push_on_commit(state: &Core, recipient_ids: Vec<UserId>) -> OnCommit {
    let publisher = state.publisher.clone();
    Box::new(move |stored| {
        publisher.publish(Event::ChatMessage { message: stored.clone(), recipient_ids })
    })
}

/// Send a message. Answers only after the message is committed; the push is queued after
/// commit and never delays the answer. A repeated `action_id` returns the original message.
pub async fn send(state: &Core, principal: &Principal, input: SendInput) -> Result<StoredMessage> {
    let sender = principal.user_id;
    if SessionType::from_i16(input.session_type).is_none() {
        return Err(AppError::code(ErrorCode::InvalidSessionType));
    }
    let room = room_of(sender, input.session_type, input.target_id)?;
    if MessageType::from_i16(input.message_type).is_none() {
        return Err(AppError::code(ErrorCode::InvalidType));
    }
    let mut body = validate_body(state, input.message_type, &input.body)?;
    let media_id = media_id_of(input.message_type, &input.body)?;
    if let (Some(id), Some(kind), Value::Object(fields)) =
        (&media_id, MessageType::from_i16(input.message_type), &mut body)
    {
        media::fill_body(state, sender, kind, id, fields).await?;
    }
    let action_id = action_id(input.action_id.as_deref())?;
    match SessionType::from_i16(room.session_type) {
        Some(SessionType::Private) => {
            friend::can_chat_at(state, sender, room.peer(), principal.epoch).await?
        }
        Some(SessionType::Group) => group::can_send(state, room.group(), sender).await?,
        _ => {
            world_exists(state, room.target_id)?;
            if world_muted(state).await? {
                return Err(AppError::code(ErrorCode::WorldMuted));
            }
        }
    }
    let message = NewMessage {
        room_id: room.room_id.clone(),
        session_type: room.session_type,
        message_type: input.message_type,
        sender_id: sender.get(),
        receiver_id: room.target_id,
        action_id: action_id.clone(),
        body: body.to_string(),
        created_at: now_ms(),
    };
    if room.session_type == SessionType::World {
        let slow = state.config.chat.world_slow_mode_secs;
        if slow > 0 {
            let key = format!("world_slow:{}:{sender}", room.target_id);
            let n = state.cache.incr(&key, Duration::from_secs(slow)).await?;
            if n > 1 {
                // A retry of a message already stored is not a new message: answer it.
                return match state.messages.find_by_action(sender.get(), &action_id).await? {
                    Some(existing) => {
                        retry_answer(existing, &room.room_id, input.message_type, &body)
                    }
                    None => Err(AppError::code(ErrorCode::SlowMode)),
                };
            }
        }
    }
    if let Some(id) = &media_id {
        media::refer_from_message(
            state,
            id,
            &room.room_id,
            room.session_type,
            sender,
            room.target_id,
            &action_id,
        )
        .await?;
    }
    // Recipients are read before the commit so that the push can be queued in commit order
    // (a member who joins in between gets this message with their next push, from the store).
    let recipient_ids = recipients(state, &room, sender).await?;
    let stored = state.messages.append_then(message, push_on_commit(state, recipient_ids)).await?;
    metrics::counter!("jim_messages_stored_total", "session_type" => room_kind_name(input.session_type))
        .increment(1);
    // The store answers a used key with the message stored under it the first time.
    retry_answer(stored, &room.room_id, input.message_type, &body)
}

/// Store a message the server writes on a user's behalf (a call's record) through the same
/// path as [`send`]: numbered in its room, idempotent under `(sender, action_id)` (a second
/// write with the same key returns the first, whichever instance makes it), pushed after
/// commit to the room's members. No rule is checked here: the caller decided it is due.
pub async fn append_record(
    state: &Core,
    sender: UserId,
    session_type: i16,
    target_id: i64,
    message_type: MessageType,
    body: Value,
    action_id: String,
) -> Result<StoredMessage> {
    let room = room_of(sender, session_type, target_id)?;
    let message = NewMessage {
        room_id: room.room_id.clone(),
        session_type: room.session_type,
        message_type: message_type.as_i16(),
        sender_id: sender.get(),
        receiver_id: room.target_id,
        action_id,
        body: body.to_string(),
        created_at: now_ms(),
    };
    let recipient_ids = recipients(state, &room, sender).await?;
    state.messages.append_then(message, push_on_commit(state, recipient_ids)).await
}

/// The answer to a send whose `(sender, action_id)` may already name a stored message: that
/// message when the send repeats it (same conversation, type and body), so a retry gets the
/// first answer; `ACTION_ID_REUSED` when it is a different message, which is then not stored
/// and must never be answered as if it were.
fn retry_answer(
    stored: StoredMessage,
    room_id: &str,
    message_type: i16,
    body: &Value,
) -> Result<StoredMessage> {
    if stored.room_id == room_id && stored.message_type == message_type && stored.body == *body {
        Ok(stored)
    } else {
        Err(AppError::code(ErrorCode::ActionIdReused))
    }
}

/// Replace what a user must not see with tombstones (never holes): recalled messages lose
/// their body; messages I deleted or cleared show as status 2 with no body.
pub async fn views_for(
    state: &Core,
    user: UserId,
    room: &Room,
    messages: Vec<StoredMessage>,
) -> Result<Vec<StoredMessage>> {
    if messages.is_empty() {
        return Ok(messages);
    }
    let cleared = state.db.conversation_cleared_to(user, room.room_id.clone()).await?;
    let ids = messages.iter().map(|m| m.message_id).collect();
    let hidden: HashSet<i64> =
        state.db.message_hidden(user, room.room_id.clone(), ids).await?.into_iter().collect();
    Ok(messages
        .into_iter()
        .map(|mut m| {
            if m.message_id <= cleared || hidden.contains(&m.message_id) {
                m.status = MessageStatus::Deleted.as_i16();
            }
            if m.status != MessageStatus::Normal {
                m.body = json!({});
            }
            m
        })
        .collect())
}

fn clamp_limit(state: &Core, limit: Option<i64>, default: i64) -> i64 {
    limit.unwrap_or(default).clamp(1, state.config.chat.history_page_max)
}

/// The newest messages of a conversation, newest first (the original's `/message/last`).
pub async fn last(
    state: &Core,
    user: UserId,
    session_type: i16,
    target_id: i64,
    limit: Option<i64>,
) -> Result<Vec<StoredMessage>> {
    let room = readable_room(state, user, session_type, target_id).await?;
    let page =
        state.messages.page(&room.room_id, Page::Latest, clamp_limit(state, limit, 20)).await?;
    let mut views = views_for(state, user, &room, page).await?;
    views.reverse();
    Ok(views)
}

/// A page of history by `message_id`, in ascending order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    pub messages: Vec<StoredMessage>,
    /// Whether more messages exist beyond this page in the direction asked.
    pub has_more: bool,
    /// The room's newest `message_id` right now (0: empty room).
    pub last_message_id: i64,
}

/// History before or after a `message_id` (at most one of them; neither: the newest page).
pub async fn list(
    state: &Core,
    user: UserId,
    session_type: i16,
    target_id: i64,
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<i64>,
) -> Result<HistoryPage> {
    let room = readable_room(state, user, session_type, target_id).await?;
    let limit = clamp_limit(state, limit, 50);
    let page = match (before, after) {
        (Some(_), Some(_)) => {
            return Err(AppError::invalid("give before_message_id or after_message_id, not both"));
        }
        (Some(b), None) => Page::Before(b),
        (None, Some(a)) => Page::After(a.max(0)),
        (None, None) => Page::Latest,
    };
    let messages = state.messages.page(&room.room_id, page, limit).await?;
    let last_message_id = state.messages.last_message_id(&room.room_id).await?;
    let has_more = match page {
        Page::After(_) => {
            messages.last().map(|m| m.message_id).unwrap_or(after.unwrap_or(0)) < last_message_id
        }
        _ => messages.first().is_some_and(|m| m.message_id > 1),
    };
    let messages = views_for(state, user, &room, messages).await?;
    Ok(HistoryPage { messages, has_more, last_message_id })
}

/// One entry of my conversation list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConversationView {
    pub room_id: String,
    pub session_type: i16,
    /// The friend's user id, the group id or the world id.
    pub target_id: i64,
    pub last_message: Option<StoredMessage>,
    pub last_message_id: i64,
    /// Unix milliseconds of the last message.
    pub last_active_at: i64,
    /// How far I have read.
    pub read_message_id: i64,
    /// Messages after my read position not sent by me.
    pub unread: i64,
    /// Private chats, while the two may write to each other (friends, no block): how far
    /// the other party has read.
    pub peer_read_message_id: Option<i64>,
    pub pinned: bool,
    pub muted: bool,
}

/// Every conversation I am part of that has messages: pinned first, then by last activity.
pub async fn conversations(state: &Core, user: UserId) -> Result<Vec<ConversationView>> {
    let mut rooms: HashMap<String, Conversation> = HashMap::new();
    // Private rooms whose other party shares their read position with me (see `mark_read`).
    let mut peers_sharing_reads = HashSet::new();
    for r in state.db.relation_list(user, 5000).await? {
        let other = if r.user_a_id == user { r.user_b_id } else { r.user_a_id };
        if friend::Standing::of(Some(&r), user, other).may_chat() {
            peers_sharing_reads.insert(other);
        }
        rooms.insert(
            private_room_id(user.get(), other.get()),
            Conversation { session_type: SessionType::Private.as_i16(), target_id: other.get() },
        );
    }
    for (g, _) in state.db.group_list_for_user(user).await? {
        rooms.insert(
            group_room_id(g.id.get()),
            Conversation { session_type: SessionType::Group.as_i16(), target_id: g.id.get() },
        );
    }
    if state.config.chat.world_enabled {
        for id in &state.config.chat.world_ids {
            rooms.insert(
                world_room_id(*id),
                Conversation { session_type: SessionType::World.as_i16(), target_id: *id },
            );
        }
    }
    let ids: Vec<String> = rooms.keys().cloned().collect();
    let infos = state.messages.rooms(ids.clone()).await?;
    let states: HashMap<String, _> = state
        .db
        .conversation_states(user, ids)
        .await?
        .into_iter()
        .map(|s| (s.room_id.clone(), s))
        .collect();
    let mut out = Vec::with_capacity(infos.len());
    for info in infos.into_iter().filter(|i| i.last_message_id > 0) {
        let Some(conv) = rooms.get(&info.room_id).copied() else { continue };
        let mine = states.get(&info.room_id);
        let read = mine.map(|s| s.read_message_id).unwrap_or(0);
        let room = Room {
            room_id: info.room_id.clone(),
            session_type: conv.session_type,
            target_id: conv.target_id,
        };
        let last = state.messages.get(&info.room_id, info.last_message_id).await?;
        let last_message = views_for(state, user, &room, last.into_iter().collect()).await?.pop();
        let unread = if read >= info.last_message_id {
            0
        } else {
            state.messages.count_after(&info.room_id, read, user.get()).await?
        };
        let peer_read_message_id = if conv.session_type == SessionType::Private
            && peers_sharing_reads.contains(&room.peer())
        {
            let peer =
                state.db.conversation_states(room.peer(), vec![info.room_id.clone()]).await?;
            Some(peer.first().map(|s| s.read_message_id).unwrap_or(0))
        } else {
            None
        };
        out.push(ConversationView {
            room_id: info.room_id,
            session_type: conv.session_type,
            target_id: conv.target_id,
            last_message,
            last_message_id: info.last_message_id,
            last_active_at: info.updated_at,
            read_message_id: read,
            unread,
            peer_read_message_id,
            pinned: mine.is_some_and(|s| s.pinned),
            muted: mine.is_some_and(|s| s.muted),
        });
    }
    out.sort_by(|a, b| b.pinned.cmp(&a.pinned).then(b.last_active_at.cmp(&a.last_active_at)));
    Ok(out)
}

/// Pin/unpin or mute/unmute one of my conversations.
pub async fn set_flag(
    state: &Core,
    user: UserId,
    session_type: i16,
    target_id: i64,
    flag: ConversationFlag,
) -> Result<()> {
    let room = readable_room(state, user, session_type, target_id).await?;
    let key =
        ConversationKey { user_id: user, room_id: room.room_id.clone(), session_type, target_id };
    state.db.conversation_set_flag(key, flag, now_ms()).await?;
    let (pinned, muted) = match flag {
        ConversationFlag::Pinned(on) => (Some(on), None),
        ConversationFlag::Muted(on) => (None, Some(on)),
    };
    // My other devices move or quiet the conversation too.
    state.publisher.publish(Event::ConversationFlagged {
        user_id: user,
        room_id: room.room_id,
        session_type,
        target_id,
        pinned,
        muted,
    });
    Ok(())
}

/// Where I have read up to, after a read mark.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReadMark {
    pub room_id: String,
    pub read_message_id: i64,
}

/// Mark a conversation read up to `message_id` (clamped to the newest message; never
/// moves backwards). It takes the right to read the conversation (see [`readable_room`]).
/// My devices are told; in a group, the members whose messages it covers (their "read by N"
/// counts up); in a private chat the other party is told only while we may write to each other: a stranger, an unfriended or a blocked user keeps their own read position,
/// and the other party hears nothing of it. A conversation with nothing in it has nothing to
/// mark: nothing is stored and nobody is told.
pub async fn mark_read(state: &Core, user: UserId, at: MessageAt) -> Result<ReadMark> {
    let MessageAt { session_type, target_id, message_id } = at;
    let room = readable_room(state, user, session_type, target_id).await?;
    if message_id < 0 {
        return Err(AppError::invalid("message_id must not be negative"));
    }
    let last = state.messages.last_message_id(&room.room_id).await?;
    if last == 0 {
        return Ok(ReadMark { room_id: room.room_id, read_message_id: 0 });
    }
    let mut recipient_ids = vec![user];
    if session_type == SessionType::Private {
        match friend::can_chat_at(state, user, room.peer(), None).await {
            Ok(()) => recipient_ids.push(room.peer()),
            // A refusal (not friends, a block either way) only keeps the peer out of it.
            Err(AppError::Api { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let key =
        ConversationKey { user_id: user, room_id: room.room_id.clone(), session_type, target_id };
    let moved = state.db.conversation_mark_read(key, message_id.min(last), now_ms()).await?;
    let read = moved.after;
    if session_type == SessionType::Group && moved.after > moved.before {
        recipient_ids.extend(senders_just_read(state, user, &room, moved).await?);
    }
    state.publisher.publish(Event::ReadPosition {
        user_id: user,
        room_id: room.room_id.clone(),
        session_type,
        target_id,
        read_message_id: read,
        recipient_ids,
    });
    Ok(ReadMark { room_id: room.room_id, read_message_id: read })
}

/// Most newly read messages whose senders a group read mark reaches: a reader catching up on
/// a long backlog tells the senders of its newest part (the others see the count when they
/// next ask for the read positions).
const READ_NOTICE_WINDOW: i64 = 200;

/// The members (other than the reader) whose messages a group read mark has just covered:
/// they are told, so that their "read by N" counts up live, and nobody else is (a read mark
/// is not worth a push to every member of a large group).
async fn senders_just_read(
    state: &Core,
    reader: UserId,
    room: &Room,
    moved: ReadMove,
) -> Result<Vec<UserId>> {
    let from = moved.before.max(moved.after - READ_NOTICE_WINDOW);
    let page = state.messages.page(&room.room_id, Page::After(from), READ_NOTICE_WINDOW).await?;
    let senders: HashSet<UserId> = page
        .iter()
        .filter(|m| m.message_id <= moved.after && m.sender_id != reader.get())
        .map(|m| UserId(m.sender_id))
        .collect();
    if senders.is_empty() {
        return Ok(Vec::new());
    }
    let members = state.db.group_member_ids(room.group(), None).await?;
    Ok(members.into_iter().filter(|m| senders.contains(m)).collect())
}

/// Where one member has read a group up to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberRead {
    #[schema(value_type = i64)]
    pub user_id: UserId,
    pub read_message_id: i64,
}

/// How far the other members of a group have read it (members who have read nothing are left
/// out): enough for a client to show "read by N" under any message, and to keep it current
/// from the `read_position` frames of members who read my messages.
pub async fn read_positions(
    state: &Core,
    user: UserId,
    session_type: i16,
    target_id: i64,
) -> Result<Vec<MemberRead>> {
    if session_type != SessionType::Group {
        return Err(AppError::with_message(
            ErrorCode::InvalidSessionType,
            "read positions are shared in groups only (private chats: peer_read_message_id)",
        ));
    }
    let room = readable_room(state, user, session_type, target_id).await?;
    let others: Vec<UserId> = state
        .db
        .group_member_ids(room.group(), None)
        .await?
        .into_iter()
        .filter(|m| *m != user)
        .collect();
    let mut positions: Vec<MemberRead> = state
        .db
        .conversation_read_positions(room.room_id, others)
        .await?
        .into_iter()
        .map(|(user_id, read_message_id)| MemberRead { user_id, read_message_id })
        .collect();
    positions.sort_by_key(|p| p.user_id);
    Ok(positions)
}

/// How many members (other than its sender) have read a group message.
pub async fn read_by(state: &Core, user: UserId, at: MessageAt) -> Result<i64> {
    let (room, message) = readable_message(state, user, at).await?;
    Ok(state
        .db
        .conversation_read_by(room.room_id, at.message_id, UserId(message.sender_id))
        .await?)
}

/// Recall a message: my own within the recall window; in groups, owners and admins may also
/// recall, whenever, the messages of members they outrank (the same rank rule as removal and
/// mutes: an admin may not recall another admin's or the owner's message;
/// `group::may_recall_for`). World messages cannot be recalled.
pub async fn recall(state: &Core, user: UserId, at: MessageAt) -> Result<StoredMessage> {
    let MessageAt { session_type, message_id, .. } = at;
    if session_type == SessionType::World {
        return Err(AppError::with_message(
            ErrorCode::InvalidSessionType,
            "world messages cannot be recalled",
        ));
    }
    let (room, message) = readable_message(state, user, at).await?;
    if message.message_type == MessageType::Call {
        // A call's record is the server's word on what happened, not its caller's message.
        return Err(AppError::with_message(
            ErrorCode::RecallFailed,
            "call records cannot be recalled",
        ));
    }
    let sender_id = UserId(message.sender_id);
    let moderator = session_type == SessionType::Group
        && group::may_recall_for(state, room.group(), user, sender_id).await?;
    let (sender, not_before) = if moderator {
        (None, None)
    } else if sender_id != user {
        return Err(AppError::with_message(
            ErrorCode::RecallFailed,
            "only your own messages can be recalled",
        ));
    } else {
        let window = state.config.chat.recall_window_secs as i64 * 1000;
        (Some(user.get()), Some(now_ms() - window))
    };
    if message.status == MessageStatus::Recalled {
        return Err(AppError::with_message(ErrorCode::RecallFailed, "already recalled"));
    }
    let recalled =
        state.messages.recall(&room.room_id, message_id, sender, not_before).await?.ok_or_else(
            || AppError::with_message(ErrorCode::RecallFailed, "the recall window has passed"),
        )?;
    if message.body.get("media_id").is_some() {
        media::forget_message(state, &room.room_id, UserId(message.sender_id), &message.action_id)
            .await?;
    }
    let recipient_ids = recipients(state, &room, user).await?;
    let mut tombstone = recalled;
    tombstone.body = json!({});
    state.publisher.publish(Event::MessageRecalled {
        message: tombstone.clone(),
        recipient_ids,
        actor_id: user,
    });
    Ok(tombstone)
}

/// Delete a message for me only: it shows as a tombstone in my history from now on.
pub async fn delete_for_me(state: &Core, user: UserId, at: MessageAt) -> Result<()> {
    let message_id = at.message_id;
    let (room, _) = readable_message(state, user, at).await?;
    state.db.message_hide(user, room.room_id.clone(), message_id, now_ms()).await?;
    state.publisher.publish(Event::MessageDeleted {
        user_id: user,
        room_id: room.room_id,
        message_id,
    });
    Ok(())
}

/// Hide my private chat's history with `peer` (up to its newest message) from `user` only.
/// What was cleared is read as well: a hidden message must not stay counted as unread.
pub async fn clear_private_history(state: &Core, user: UserId, peer: UserId) -> Result<()> {
    let room_id = private_room_id(user.get(), peer.get());
    let last = state.messages.last_message_id(&room_id).await?;
    if last > 0 {
        let now = now_ms();
        state.db.conversation_clear(user, room_id.clone(), last, now).await?;
        let session_type = SessionType::Private.as_i16();
        let key = ConversationKey {
            user_id: user,
            room_id: room_id.clone(),
            session_type,
            target_id: peer.get(),
        };
        let read = state.db.conversation_mark_read(key, last, now).await?.after;
        // My other devices drop the badge; the peer hears nothing of it.
        state.publisher.publish(Event::ReadPosition {
            user_id: user,
            room_id,
            session_type,
            target_id: peer.get(),
            read_message_id: read,
            recipient_ids: vec![user],
        });
    }
    Ok(())
}

/// What a catch-up tells a client about one conversation.
#[derive(Debug)]
pub struct CatchUp {
    pub room: Room,
    /// The first `window` messages after the client's last, ascending, as `user` sees them.
    pub messages: Vec<StoredMessage>,
    /// More messages follow those (the client pages on with the history API).
    pub truncated: bool,
    /// The room's newest `message_id` (0: none yet).
    pub last_message_id: i64,
}

/// Catch `user` up on a conversation from `after` (the last `message_id` the client has).
/// Every read must succeed: an answer that some read failed to fill would tell the client it
/// missed nothing when it may have, so a failure is the error (503 `UNAVAILABLE` for a lost
/// database link) and the client asks again.
pub async fn catch_up(
    state: &Core,
    user: UserId,
    session_type: i16,
    target_id: i64,
    after: i64,
    window: i64,
) -> Result<CatchUp> {
    let room = readable_room(state, user, session_type, target_id).await?;
    let window = window.max(1);
    let mut page =
        state.messages.page(&room.room_id, Page::After(after.max(0)), window + 1).await?;
    let truncated = page.len() as i64 > window;
    page.truncate(window as usize);
    let messages = views_for(state, user, &room, page).await?;
    let last_message_id = state.messages.last_message_id(&room.room_id).await?;
    Ok(CatchUp { room, messages, truncated, last_message_id })
}

/// Who is told that `user` is typing in a conversation, and in which room. Checked like
/// sending, since typing announces a message: a private chat needs a friendship neither side
/// blocked, a group must be active (not dissolved) and let the user speak now.
pub async fn typing_recipients(
    state: &Core,
    user: UserId,
    session_type: i16,
    target_id: i64,
) -> Result<(String, Vec<UserId>)> {
    match SessionType::from_i16(session_type) {
        Some(SessionType::Private) => {
            let peer = UserId(target_id);
            friend::can_chat(state, user, peer).await?;
            Ok((private_room_id(user.get(), target_id), vec![peer]))
        }
        Some(SessionType::Group) => {
            let group_id = GroupId(target_id);
            group::can_send(state, group_id, user).await?;
            Ok((group_room_id(target_id), state.db.group_member_ids(group_id, None).await?))
        }
        _ => Err(AppError::code(ErrorCode::InvalidSessionType)),
    }
}

/// Up to `limit` messages of a room on `page` (after or before an id), ascending, as live
/// pushes carry them (the same for every member: a recalled message loses its body). For a
/// connection that fills a gap in what it was pushed; what one user deleted for themselves
/// is the history API's business.
pub async fn pushed(
    state: &Core,
    room_id: &str,
    page: Page,
    limit: i64,
) -> Result<Vec<StoredMessage>> {
    Ok(as_pushed(state.messages.page(room_id, page, limit).await?))
}

fn as_pushed(mut messages: Vec<StoredMessage>) -> Vec<StoredMessage> {
    for m in &mut messages {
        if m.status != MessageStatus::Normal {
            m.body = json!({});
        }
    }
    messages
}

/// Set or lift the admin mute of the world channel (`jim world mute|unmute`). Every running
/// server honours it on its next world send: [`world_muted`] reads it each time.
pub async fn set_world_muted(state: &Core, muted: bool) -> Result<()> {
    state.db.meta_set(WORLD_MUTED_KEY, if muted { "1" } else { "0" }).await?;
    Ok(())
}

/// The metrics label of a session type (bounded: the three kinds).
fn room_kind_name(session_type: i16) -> &'static str {
    match SessionType::from_i16(session_type) {
        Some(SessionType::Private) => "private",
        Some(SessionType::Group) => "group",
        Some(SessionType::World) => "world",
        None => "other",
    }
}
