//! `GET /api/v1/ws`: authenticate before the upgrade, register with the hub, then run one
//! writer (the only task that writes to the socket, fed by the bounded queue, keeping each
//! room's messages exactly-once and in order) and one reader (client frames, heartbeat).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::frames::{self, CatchUpItem, ChatPush, Outbound, frame};
use super::hub::{CLOSE_IDLE, CLOSE_TOO_BIG, CloseFrame, ConnectError};
use crate::bus::Event;
use crate::error::{AppError, ErrorCode};
use crate::http::extract::bearer_token;
use crate::http::middleware::RequestUser;
use crate::service::{auth, chat, friend};
use crate::state::AppState;
use crate::store::{MESSAGE_NORMAL, Page, SESSION_GROUP, SESSION_PRIVATE, StoredMessage};

/// Most conversations one catch-up frame may name.
const MAX_CATCH_UP_ITEMS: usize = 500;
/// Most typing notices relayed per connection per second.
const TYPING_EVERY: Duration = Duration::from_secs(1);

/// Upgrade to a WebSocket. A missing, invalid, expired or revoked token is refused with 401
/// (and a code) before the upgrade; too many connections with 429.
#[utoipa::path(get, path = "/api/v1/ws", tag = "realtime", security(("bearer" = [])),
    params(("token" = Option<String>, Query, description = "the token, for clients that cannot set headers"),
        ("catch_up" = Option<bool>, Query, description = "1: my first frame is `catch_up`; hold live pushes until it is answered")),
    responses((status = 101, description = "switching protocols; then frames {type, data}"),
        (status = 401, description = "TOKEN_*, ACCOUNT_*", body = crate::http::envelope::ErrorEnvelope),
        (status = 429, description = "TOO_MANY_CONNECTIONS", body = crate::http::envelope::ErrorEnvelope)))]
pub async fn connect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, AppError> {
    let token = bearer_token(&req).unwrap_or_default();
    let principal = auth::authenticate(&state, &token).await?;
    req.extensions_mut().insert(RequestUser(principal.user_id));
    let registration =
        state.hub.connect(principal.user_id, principal.session_id).await.map_err(|e| match e {
            ConnectError::TooManyConnections => AppError::code(ErrorCode::TooManyConnections),
            ConnectError::ShuttingDown => AppError::Unavailable(anyhow::anyhow!("shutting down")),
        })?;
    // From here on every relayed message reaches this connection, so what is committed from
    // now on is its to get (see `deliver_chat`).
    let connected_at = crate::db::now_ms();
    let (response, session, stream) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(e) => {
            state.hub.disconnect(principal.user_id, registration.conn_id).await;
            return Err(AppError::invalid(format!("not a WebSocket upgrade: {e}")));
        }
    };
    let max = state.config.ws.max_frame_bytes;
    let stream = stream.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    let conn = Connection {
        state: state.clone(),
        user_id: principal.user_id,
        conn_id: registration.conn_id,
        close_tx: registration.close_tx.clone(),
        connected_at,
    };
    // `?catch_up=1`: the client will send `catch_up` first; hold live pushes until then.
    let hold = url::form_urlencoded::parse(req.query_string().as_bytes())
        .any(|(k, v)| k == "catch_up" && (v == "1" || v == "true"));
    actix_web::rt::spawn(writer(
        conn.clone(),
        session.clone(),
        registration.rx,
        registration.close.clone(),
        hold,
    ));
    actix_web::rt::spawn(reader(
        conn,
        session,
        stream,
        registration.tx,
        registration.close,
        registration.world,
    ));
    Ok(response)
}

#[derive(Clone)]
struct Connection {
    state: web::Data<AppState>,
    user_id: i64,
    conn_id: u64,
    close_tx: watch::Sender<Option<CloseFrame>>,
    /// When the connection joined the hub (Unix ms): messages committed since then are its
    /// to get.
    connected_at: i64,
}

impl Connection {
    /// Ask both halves to stop (the first request's code wins).
    fn close(&self, code: u16, reason: &str) {
        self.close_tx.send_if_modified(|c| {
            if c.is_none() {
                *c = Some((code, reason.to_string()));
                true
            } else {
                false
            }
        });
    }
}

async fn close_session(session: Session, frame: Option<CloseFrame>) {
    let reason = frame.map(|(code, description)| CloseReason {
        code: CloseCode::from(code),
        description: Some(description),
    });
    let _ = session.close(reason).await;
}

/// A client that connects with `?catch_up=1` promises a `catch_up` frame first: its live
/// pushes are held until that frame is answered, so history always comes before anything
/// newer. This bounds how long a client that broke the promise waits for its pushes.
const HOLD_LIVE_PUSHES: Duration = Duration::from_secs(10);

async fn writer(
    conn: Connection,
    mut session: Session,
    mut rx: mpsc::Receiver<Outbound>,
    mut close: watch::Receiver<Option<CloseFrame>>,
    hold: bool,
) {
    let mut last: HashMap<Arc<str>, Delivered> = HashMap::new();
    let mut held: Option<Vec<Outbound>> = hold.then(Vec::new);
    let hold_until = tokio::time::Instant::now() + HOLD_LIVE_PUSHES;
    let close_frame = loop {
        let out = tokio::select! {
            biased;
            changed = close.changed() => {
                break if changed.is_ok() { close.borrow().clone() } else { None };
            }
            out = rx.recv() => match out {
                Some(out) => out,
                None => break None,
            },
            _ = tokio::time::sleep_until(hold_until), if held.is_some() => Outbound::Ready,
        };
        if let Some(pending) = held.as_mut() {
            match out {
                Outbound::Chat { .. } | Outbound::Resync
                    if pending.len() < conn.state.config.ws.send_queue =>
                {
                    pending.push(out);
                    continue;
                }
                Outbound::CatchUp(items) => {
                    if !Box::pin(catch_up(&conn, &mut session, &mut last, items)).await {
                        break None;
                    }
                    continue;
                }
                Outbound::Chat { .. } | Outbound::Resync | Outbound::Ready => {
                    let mut flush = held.take().unwrap_or_default();
                    if !matches!(out, Outbound::Ready) {
                        flush.push(out);
                    }
                    let mut ok = true;
                    for item in flush {
                        ok = ok && write(&conn, &mut session, &mut last, item).await;
                    }
                    if !ok {
                        break None;
                    }
                    continue;
                }
                _ => {}
            }
        }
        match out {
            Outbound::Close(code, reason) => break Some((code, reason)),
            other => {
                if !write(&conn, &mut session, &mut last, other).await {
                    break None;
                }
            }
        }
    };
    conn.close(1000, "closed");
    conn.state.hub.disconnect(conn.user_id, conn.conn_id).await;
    close_session(session, close_frame).await;
}

/// Write one queue item; false when the socket is gone.
async fn write(
    conn: &Connection,
    session: &mut Session,
    last: &mut HashMap<Arc<str>, Delivered>,
    out: Outbound,
) -> bool {
    match out {
        Outbound::Frame(text) => session.text(text.to_string()).await.is_ok(),
        Outbound::Ping => session.ping(b"").await.is_ok(),
        Outbound::Ready => true,
        Outbound::Close(..) => false,
        Outbound::Chat(push) => deliver_chat(conn, session, last, push).await,
        // The rare, store-reading items are boxed so that every idle connection's task stays
        // small (B4 memory per socket).
        Outbound::CatchUp(items) => Box::pin(catch_up(conn, session, last, items)).await,
        Outbound::Resync => Box::pin(resync(conn, session, last)).await,
    }
}

/// Re-read every room this connection follows from what it delivered last, then tell the
/// client to refresh its conversation list (for rooms it has not heard of yet).
async fn resync(
    conn: &Connection,
    session: &mut Session,
    last: &mut HashMap<Arc<str>, Delivered>,
) -> bool {
    let window = conn.state.config.ws.catch_up_window;
    let rooms: Vec<(Arc<str>, Delivered)> = last.iter().map(|(r, d)| (r.clone(), *d)).collect();
    for (room_id, delivered) in rooms {
        let Ok(page) = conn.state.messages.page(&room_id, Page::After(delivered.hi), window).await
        else {
            continue;
        };
        let mut hi = delivered.hi;
        for m in page {
            hi = m.message_id;
            if session.text(frame("chat_message", tombstone(m)).to_string()).await.is_err() {
                return false;
            }
        }
        last.insert(room_id, Delivered { lo: delivered.lo, hi });
    }
    session.text(frame("resync", json!({"refresh": "conversations"})).to_string()).await.is_ok()
}

fn tombstone(mut m: StoredMessage) -> StoredMessage {
    if m.status != MESSAGE_NORMAL {
        m.body = json!({});
    }
    m
}

/// The message ids of one room this connection has delivered: one contiguous range.
#[derive(Debug, Clone, Copy)]
struct Delivered {
    lo: i64,
    hi: i64,
}

/// Deliver a pushed message once and in order: skip what was already sent, and fetch from
/// the store whatever a lost or late publish left out before it.
async fn deliver_chat(
    conn: &Connection,
    session: &mut Session,
    last: &mut HashMap<Arc<str>, Delivered>,
    push: Arc<ChatPush>,
) -> bool {
    let message_id = push.message_id;
    let previous = last.get(&push.room_id).copied();
    if previous.is_some_and(|d| message_id <= d.hi) {
        return true;
    }
    let look_back = previous.is_none() && message_id > 1 && !push.follows;
    let gap = previous.is_some_and(|d| message_id > d.hi + 1);
    let previous = if look_back || gap {
        match Box::pin(fill_before(conn, session, &push.room_id, message_id, previous)).await {
            Some(previous) => previous,
            None => return false,
        }
    } else {
        previous
    };
    let lo = previous.map(|d| d.lo).unwrap_or(message_id);
    last.insert(push.room_id.clone(), Delivered { lo, hi: message_id });
    session.text(push.frame.to_string()).await.is_ok()
}

/// Send what this connection is owed of a room before `message_id`: on its first push of
/// the room, what was committed since it joined the hub (pushes from different instances may
/// arrive out of commit order; instances' clocks are assumed in sync, e.g. NTP, and a client
/// still sees any gap by message id); after a gap, the missing messages. Returns the new
/// delivered range, or `None` when the socket is gone.
async fn fill_before(
    conn: &Connection,
    session: &mut Session,
    room_id: &str,
    message_id: i64,
    mut previous: Option<Delivered>,
) -> Option<Option<Delivered>> {
    let window = conn.state.config.ws.catch_up_window;
    if previous.is_none() {
        let since = conn.connected_at;
        if let Ok(before) =
            conn.state.messages.page(room_id, Page::Before(message_id), window).await
        {
            for m in before.into_iter().filter(|m| m.created_at >= since) {
                let id = m.message_id;
                if session.text(frame("chat_message", tombstone(m)).to_string()).await.is_err() {
                    return None;
                }
                let lo = previous.map_or(id, |d| d.lo);
                previous = Some(Delivered { lo, hi: id });
            }
        }
    }
    if let Some(Delivered { hi: p, .. }) = previous
        && message_id > p + 1
    {
        let missing = (message_id - p - 1).min(window);
        if let Ok(gap) = conn.state.messages.page(room_id, Page::After(p), missing).await {
            for m in gap.into_iter().filter(|m| m.message_id < message_id) {
                if session.text(frame("chat_message", tombstone(m)).to_string()).await.is_err() {
                    return None;
                }
            }
        }
    }
    Some(previous)
}

async fn catch_up(
    conn: &Connection,
    session: &mut Session,
    last: &mut HashMap<Arc<str>, Delivered>,
    items: Vec<CatchUpItem>,
) -> bool {
    let window = conn.state.config.ws.catch_up_window;
    for item in items {
        let room = match chat::readable_room(
            &conn.state,
            conn.user_id,
            item.session_type,
            item.target_id,
        )
        .await
        {
            Ok(room) => room,
            Err(e) => {
                let data = json!({"session_type": item.session_type, "target_id": item.target_id,
                    "code": e.error_code().as_str()});
                if session.text(frame("catch_up", data).to_string()).await.is_err() {
                    return false;
                }
                continue;
            }
        };
        let from = item.last_message_id.max(0);
        let page = conn
            .state
            .messages
            .page(&room.room_id, Page::After(from), window + 1)
            .await
            .unwrap_or_default();
        let truncated = page.len() as i64 > window;
        let page: Vec<StoredMessage> = page.into_iter().take(window as usize).collect();
        let page =
            chat::views_for(&conn.state, conn.user_id, &room, page).await.unwrap_or_default();
        let key: Arc<str> = Arc::from(room.room_id.as_str());
        let mut sent_to = from;
        let known = last.get(&key).copied();
        for m in page {
            sent_to = m.message_id;
            if known.is_some_and(|d| (d.lo..=d.hi).contains(&m.message_id)) {
                continue;
            }
            if session.text(frame("chat_message", &m).to_string()).await.is_err() {
                return false;
            }
        }
        let latest = conn.state.messages.last_message_id(&room.room_id).await.unwrap_or(0);
        // The client now has everything after `from` up to `sent_to`, plus what it had.
        let merged = match known {
            Some(d) if d.lo <= sent_to + 1 => {
                Delivered { lo: d.lo.min(from + 1), hi: d.hi.max(sent_to) }
            }
            _ => Delivered { lo: from + 1, hi: sent_to },
        };
        last.insert(key, merged);
        let data = json!({"session_type": item.session_type, "target_id": item.target_id,
            "room_id": room.room_id, "from_message_id": from, "to_message_id": sent_to,
            "last_message_id": latest, "truncated": truncated});
        if session.text(frame("catch_up", data).to_string()).await.is_err() {
            return false;
        }
    }
    true
}

#[derive(Deserialize)]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
struct ConversationRef {
    session_type: i16,
    target_id: i64,
    #[serde(default)]
    message_id: i64,
}

async fn reader(
    conn: Connection,
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
    tx: mpsc::Sender<Outbound>,
    mut close: watch::Receiver<Option<CloseFrame>>,
    world: Arc<AtomicBool>,
) {
    let ws = &conn.state.config.ws;
    let idle = Duration::from_secs(ws.idle_timeout_secs.max(1));
    let mut ping = tokio::time::interval(Duration::from_secs(ws.ping_interval_secs.max(1)));
    ping.tick().await;
    let mut last_heard = Instant::now();
    let mut last_typing: Option<Instant> = None;
    let mut spoke = false;
    loop {
        tokio::select! {
            _ = close.changed() => break,
            _ = ping.tick() => {
                if last_heard.elapsed() > idle {
                    conn.close(CLOSE_IDLE, "no answer to pings");
                    break;
                }
                let _ = tx.try_send(Outbound::Ping);
            }
            message = stream.recv() => {
                let Some(message) = message else { break };
                let message = match message {
                    Ok(m) => m,
                    Err(actix_ws::ProtocolError::Overflow) => {
                        conn.close(CLOSE_TOO_BIG, "frame too large");
                        break;
                    }
                    Err(_) => {
                        conn.close(1002, "protocol error");
                        break;
                    }
                };
                last_heard = Instant::now();
                match message {
                    AggregatedMessage::Text(text) => {
                        Box::pin(handle_frame(&conn, &text, &tx, &world, &mut last_typing)).await;
                        if !spoke {
                            spoke = true;
                            let _ = tx.send(Outbound::Ready).await;
                        }
                    }
                    AggregatedMessage::Binary(_) => {
                        let error = frames::error("UNSUPPORTED_FRAME", "binary frames are not supported");
                        let _ = tx.try_send(Outbound::Frame(error));
                    }
                    AggregatedMessage::Ping(bytes) => {
                        let _ = session.pong(&bytes).await;
                    }
                    AggregatedMessage::Pong(_) => {}
                    AggregatedMessage::Close(_) => {
                        conn.close(1000, "closed by client");
                        break;
                    }
                }
            }
        }
    }
    conn.close(1000, "closed");
}

async fn handle_frame(
    conn: &Connection,
    text: &str,
    tx: &mpsc::Sender<Outbound>,
    world: &AtomicBool,
    last_typing: &mut Option<Instant>,
) {
    let reply = |f: Arc<str>| {
        let _ = tx.try_send(Outbound::Frame(f));
    };
    let parsed: ClientFrame = match serde_json::from_str(text) {
        Ok(f) => f,
        Err(_) => {
            return reply(frames::error(
                "INVALID_FRAME",
                "expected {\"type\": ..., \"data\": ...}",
            ));
        }
    };
    let state = &conn.state;
    match parsed.kind.as_str() {
        "ping" => reply(frame("pong", json!({}))),
        "world" => {
            let enabled = parsed.data.get("enabled").and_then(Value::as_bool).unwrap_or(true);
            world.store(enabled, Ordering::Relaxed);
            reply(frame("world", json!({"enabled": enabled})));
        }
        "catch_up" => {
            let items = parsed.data.get("conversations").cloned().map(serde_json::from_value);
            let items: Vec<CatchUpItem> = match items {
                Some(Ok(items)) => items,
                _ => {
                    return reply(frames::error(
                        "INVALID_FRAME",
                        "catch_up needs data.conversations",
                    ));
                }
            };
            if items.len() > MAX_CATCH_UP_ITEMS {
                return reply(frames::error(
                    "INVALID_FRAME",
                    "too many conversations in one catch_up",
                ));
            }
            // Through the writer's queue, so it stays in order with live pushes.
            let _ = tx.send(Outbound::CatchUp(items)).await;
        }
        "read" => match serde_json::from_value::<ConversationRef>(parsed.data) {
            Ok(r) => {
                let marked =
                    chat::mark_read(state, conn.user_id, r.session_type, r.target_id, r.message_id)
                        .await;
                if let Err(e) = marked {
                    reply(frames::error(e.error_code().as_str(), &e.to_string()));
                }
            }
            Err(_) => reply(frames::error(
                "INVALID_FRAME",
                "read needs session_type, target_id, message_id",
            )),
        },
        "typing" => {
            if last_typing.is_some_and(|t| t.elapsed() < TYPING_EVERY) {
                return;
            }
            *last_typing = Some(Instant::now());
            let Ok(r) = serde_json::from_value::<ConversationRef>(parsed.data) else {
                return reply(frames::error(
                    "INVALID_FRAME",
                    "typing needs session_type and target_id",
                ));
            };
            match typing_recipients(state, conn.user_id, r.session_type, r.target_id).await {
                Ok((room_id, recipient_ids)) => state.publisher.publish(Event::Typing {
                    user_id: conn.user_id,
                    session_type: r.session_type,
                    target_id: r.target_id,
                    room_id,
                    recipient_ids,
                }),
                Err(e) => reply(frames::error(e.error_code().as_str(), &e.to_string())),
            }
        }
        other => reply(frames::error("UNKNOWN_FRAME", &format!("unknown frame type {other:?}"))),
    }
}

/// Who sees that `user` is typing in a conversation (checked like sending).
async fn typing_recipients(
    state: &AppState,
    user: i64,
    session_type: i16,
    target_id: i64,
) -> Result<(String, Vec<i64>), AppError> {
    match session_type {
        SESSION_PRIVATE => {
            friend::can_chat(state, user, target_id).await?;
            Ok((crate::store::private_room_id(user, target_id), vec![target_id]))
        }
        SESSION_GROUP => {
            if state.db.group_member_find(target_id, user).await?.is_none() {
                return Err(AppError::code(ErrorCode::NotGroupMember));
            }
            Ok((
                crate::store::group_room_id(target_id),
                state.db.group_member_ids(target_id, None).await?,
            ))
        }
        _ => Err(AppError::code(ErrorCode::InvalidSessionType)),
    }
}
