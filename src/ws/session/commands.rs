//! The client's frames: `ping`, `world`, `catch_up`, `read`, `typing` and the call frames
//! (`call_*`), each answered through the service that owns its rule.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::delivery::catch_up;
use super::{Live, failure};
use crate::bus::Event;
use crate::service::{call, chat};
use crate::ws::frames::{self, CatchUpItem, frame};
use crate::ws::transport::Socket;

/// Most conversations one catch-up frame may name.
const MAX_CATCH_UP_ITEMS: usize = 500;
/// Most typing notices relayed per connection per second.
const TYPING_EVERY: Duration = Duration::from_secs(1);

/// A client frame: `{"type": …, "data": …}`.
#[derive(Deserialize)]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
}

/// The conversation (and for `read`, the message) a `read` or `typing` frame names.
#[derive(Deserialize)]
struct ConversationRef {
    session_type: i16,
    target_id: i64,
    #[serde(default)]
    message_id: i64,
}

/// Answer one client frame; false when the socket is gone.
pub(super) async fn handle_frame(live: &mut Live, socket: &mut Socket, text: &str) -> bool {
    match answer(live, socket, text).await {
        Answer::Nothing => true,
        Answer::Reply(reply) => socket.text(&reply).await.is_ok(),
        Answer::Gone => false,
    }
}

/// What a client frame gets back.
enum Answer {
    Nothing,
    Reply(Arc<str>),
    /// The socket broke while answering.
    Gone,
}

async fn answer(live: &mut Live, socket: &mut Socket, text: &str) -> Answer {
    let reply = Answer::Reply;
    let conn = &live.conn;
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
            conn.shared.world.store(enabled, Ordering::Relaxed);
            reply(frame("world", json!({"enabled": enabled})))
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
            // Written by this task, so it stays in order with live pushes.
            let sent = Box::pin(catch_up(conn, socket, &mut live.last, items)).await;
            if sent { Answer::Nothing } else { Answer::Gone }
        }
        "read" => match serde_json::from_value::<ConversationRef>(parsed.data) {
            Ok(r) => {
                let at = chat::MessageAt::new(r.session_type, r.target_id, r.message_id);
                let marked = chat::mark_read(state, conn.user_id, at).await;
                match marked {
                    Ok(_) => Answer::Nothing,
                    Err(e) => reply(frame("error", failure(conn, &e))),
                }
            }
            Err(_) => reply(frames::error(
                "INVALID_FRAME",
                "read needs session_type, target_id, message_id",
            )),
        },
        "typing" => {
            if live.last_typing.is_some_and(|t| t.elapsed() < TYPING_EVERY) {
                return Answer::Nothing;
            }
            live.last_typing = Some(Instant::now());
            let Ok(r) = serde_json::from_value::<ConversationRef>(parsed.data) else {
                return reply(frames::error(
                    "INVALID_FRAME",
                    "typing needs session_type and target_id",
                ));
            };
            match chat::typing_recipients(state, conn.user_id, r.session_type, r.target_id).await {
                Ok((room_id, recipient_ids)) => {
                    state.publisher.publish(Event::Typing {
                        user_id: conn.user_id,
                        session_type: r.session_type,
                        target_id: r.target_id,
                        room_id,
                        recipient_ids,
                    });
                    Answer::Nothing
                }
                Err(e) => reply(frame("error", failure(conn, &e))),
            }
        }
        "call_invite" | "call_accept" | "call_reject" | "call_hangup" | "call_signal" => {
            let device = live.conn.device();
            let answer = call::handle_frame(state, &device, &parsed.kind, &parsed.data).await;
            if let Some(call_id) = answer.joined {
                live.join_call(call_id);
            }
            for (kind, data) in answer.replies {
                if socket.text(&frame(kind, data)).await.is_err() {
                    return Answer::Gone;
                }
            }
            Answer::Nothing
        }
        other => reply(frames::error("UNKNOWN_FRAME", &format!("unknown frame type {other:?}"))),
    }
}
