//! Ordered delivery: each room's messages reach the client exactly once and in message-id
//! order, whatever the bus did (a lost or late publish is filled from the store, a page at a
//! time, however long the gap), and a client's `catch_up` merges with what was pushed.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::{Connection, Delivered, failure};
use crate::error::AppError;
use crate::service::chat;
use crate::store::Page;
use crate::ws::frames::{CatchUpItem, ChatPush, frame};
use crate::ws::transport::Socket;

/// Re-read every room this connection follows from what it delivered last, then tell the
/// client to refresh its conversation list (for rooms it has not heard of yet).
pub(super) async fn resync(
    conn: &Connection,
    socket: &mut Socket,
    last: &mut HashMap<Arc<str>, Delivered>,
) -> bool {
    let rooms: Vec<(Arc<str>, Delivered)> = last.iter().map(|(r, d)| (r.clone(), *d)).collect();
    for (room_id, delivered) in rooms {
        match send_after(conn, socket, &room_id, delivered.hi, None).await {
            Sent::All(hi) | Sent::Unread(hi) => {
                last.insert(room_id, Delivered { lo: delivered.lo, hi });
            }
            Sent::SocketGone => return false,
        }
    }
    socket.text(&frame("resync", json!({"refresh": "conversations"}))).await.is_ok()
}

/// How far [`send_after`] got.
enum Sent {
    /// Everything asked for was sent; the last message id sent (or the start, when none).
    All(i64),
    /// A read failed and the client was told (see [`unread_room`]); sent in order up to here.
    Unread(i64),
    SocketGone,
}

/// Send a room's messages after `after` (and before `until`, when given) in order, a window
/// at a time, however many there are: a connection is owed every message of a gap, not the
/// first window of it.
async fn send_after(
    conn: &Connection,
    socket: &mut Socket,
    room_id: &str,
    after: i64,
    until: Option<i64>,
) -> Sent {
    let window = conn.state.config.ws.catch_up_window;
    let mut sent = after;
    loop {
        let want = match until {
            Some(until) if until <= sent + 1 => return Sent::All(sent),
            Some(until) => (until - sent - 1).min(window),
            None => window,
        };
        let page = match chat::pushed(&conn.state, room_id, Page::After(sent), want).await {
            Ok(page) => page,
            Err(e) => {
                if socket.text(&unread_room(conn, room_id, Some(sent), &e)).await.is_err() {
                    return Sent::SocketGone;
                }
                return Sent::Unread(sent);
            }
        };
        let full = page.len() as i64 >= want;
        let before = sent;
        for m in page.into_iter().filter(|m| until.is_none_or(|u| m.message_id < u)) {
            sent = m.message_id;
            if socket.text(&frame("chat_message", m)).await.is_err() {
                return Sent::SocketGone;
            }
        }
        if !full || sent == before {
            return Sent::All(sent);
        }
    }
}

/// Deliver a pushed message once and in order: skip what was already sent, and fetch from
/// the store whatever a lost or late publish left out before it.
pub(super) async fn deliver_chat(
    conn: &Connection,
    socket: &mut Socket,
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
        match Box::pin(fill_before(conn, socket, &push.room_id, message_id, previous)).await {
            Some(previous) => previous,
            None => return false,
        }
    } else {
        previous
    };
    let lo = previous.map(|d| d.lo).unwrap_or(message_id);
    last.insert(push.room_id.clone(), Delivered { lo, hi: message_id });
    socket.text(&push.frame).await.is_ok()
}

/// Send what this connection is owed of a room before `message_id`: on its first push of
/// the room, what was committed since it joined the hub (pushes from different instances may
/// arrive out of commit order; instances' clocks are assumed in sync, e.g. NTP, and a client
/// still sees any gap by message id); after a gap, the missing messages. A read that fails
/// is told to the client (see [`unread_room`]). Returns the delivered range the push joins
/// up with (`Some(None)`: none), or `None` when the socket is gone.
async fn fill_before(
    conn: &Connection,
    socket: &mut Socket,
    room_id: &str,
    message_id: i64,
    mut previous: Option<Delivered>,
) -> Option<Option<Delivered>> {
    let window = conn.state.config.ws.catch_up_window;
    if previous.is_none() {
        let since = conn.connected_at;
        match chat::pushed(&conn.state, room_id, Page::Before(message_id), window).await {
            Ok(before) => {
                for m in before.into_iter().filter(|m| m.created_at >= since) {
                    let id = m.message_id;
                    if socket.text(&frame("chat_message", m)).await.is_err() {
                        return None;
                    }
                    let lo = previous.map_or(id, |d| d.lo);
                    previous = Some(Delivered { lo, hi: id });
                }
            }
            Err(e) => {
                if socket.text(&unread_room(conn, room_id, None, &e)).await.is_err() {
                    return None;
                }
            }
        }
    }
    if let Some(Delivered { hi: p, .. }) = previous
        && message_id > p + 1
    {
        match send_after(conn, socket, room_id, p, Some(message_id)).await {
            Sent::All(_) => {}
            // The gap stays open: what was delivered before it no longer joins up with what
            // follows, so a later catch-up from before the gap still sends it.
            Sent::Unread(_) => return Some(None),
            Sent::SocketGone => return None,
        }
    }
    Some(previous)
}

/// Answer a client's `catch_up`: per conversation, the messages after the client's last that
/// this connection has not delivered yet, then a `catch_up` summary; what was delivered grows
/// by what the client now has, so later pushes neither repeat nor skip.
pub(super) async fn catch_up(
    conn: &Connection,
    socket: &mut Socket,
    last: &mut HashMap<Arc<str>, Delivered>,
    items: Vec<CatchUpItem>,
) -> bool {
    let window = conn.state.config.ws.catch_up_window;
    for item in items {
        let from = item.last_message_id.max(0);
        let state = &conn.state;
        let (user, session_type, target_id) = (conn.user_id, item.session_type, item.target_id);
        let caught = match chat::catch_up(state, user, session_type, target_id, from, window).await
        {
            Ok(caught) => caught,
            Err(e) => {
                // Refused, or not readable now (`UNAVAILABLE`: ask again later); either way
                // nothing is claimed about what the client missed.
                let mut data = failure(conn, &e);
                data.insert("session_type".into(), session_type.into());
                data.insert("target_id".into(), target_id.into());
                if socket.text(&frame("catch_up", data)).await.is_err() {
                    return false;
                }
                continue;
            }
        };
        let chat::CatchUp { room, messages, truncated, last_message_id: latest } = caught;
        let key: Arc<str> = Arc::from(room.room_id.as_str());
        let mut sent_to = from;
        let known = last.get(&key).copied();
        for m in messages {
            sent_to = m.message_id;
            if known.is_some_and(|d| (d.lo..=d.hi).contains(&m.message_id)) {
                continue;
            }
            if socket.text(&frame("chat_message", &m)).await.is_err() {
                return false;
            }
        }
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
        if socket.text(&frame("catch_up", data)).await.is_err() {
            return false;
        }
    }
    true
}

/// The `error` frame for a room whose messages could not be read from the store (a lost
/// database link): the client gets them itself, with a `catch_up` from its last message of
/// the room (`after_message_id`: what this connection delivered in order, when known), once
/// the server answers again. Nothing unread is marked delivered.
fn unread_room(conn: &Connection, room_id: &str, after: Option<i64>, e: &AppError) -> Arc<str> {
    let mut data = failure(conn, e);
    data.insert("room_id".into(), room_id.into());
    if let Some(after) = after {
        data.insert("after_message_id".into(), after.into());
    }
    frame("error", data)
}
