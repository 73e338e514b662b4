//! Server → client frames (`{"type", "data"}`, the original's format) and what the per-
//! connection writer is asked to do.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

/// One item of a connection's bounded queue.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A ready-made frame.
    Frame(Arc<str>),
    /// A chat message: the writer delivers each room's messages once and in `message_id`
    /// order, filling gaps from the store. One allocation shared by every recipient.
    Chat(Arc<ChatPush>),
    /// Pushes may have been lost: re-read every room this connection follows.
    Resync,
    /// Close with this code after everything queued before it.
    Close(u16, String),
}

impl Outbound {
    /// The bytes this item holds for a connection while queued (a chat frame shared by many
    /// recipients counts fully for each: what one connection's lag keeps alive).
    pub fn bytes(&self) -> usize {
        match self {
            Outbound::Frame(text) => text.len(),
            Outbound::Chat(push) => push.frame.len(),
            Outbound::Resync | Outbound::Close(..) => 0,
        }
    }
}

/// A chat message as pushed to connections.
#[derive(Debug)]
pub struct ChatPush {
    pub room_id: Arc<str>,
    pub message_id: i64,
    pub frame: Arc<str>,
    /// This instance relayed the room's previous message (`message_id - 1`) just before:
    /// a connection that did not get it was not a recipient or did not exist yet when it
    /// was committed, so its first push of the room needs no look-back in the store.
    pub follows: bool,
}

/// One conversation of a catch-up request.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CatchUpItem {
    pub session_type: i16,
    pub target_id: i64,
    /// The last `message_id` the client has (0: none).
    #[serde(default)]
    pub last_message_id: i64,
}

/// A frame as written: `type` first, as the original did.
#[derive(Serialize)]
struct Frame<'a, T> {
    r#type: &'a str,
    data: T,
}

/// Serialize `{"type": kind, "data": data}`, straight from `data` (no JSON tree in between:
/// every chat message becomes one of these).
pub fn frame(kind: &str, data: impl Serialize) -> Arc<str> {
    match serde_json::to_string(&Frame { r#type: kind, data }) {
        Ok(text) => Arc::from(text),
        Err(_) => Arc::from(json!({ "type": kind, "data": Value::Null }).to_string()),
    }
}

/// An error frame for something the client sent.
pub fn error(code: &str, message: &str) -> Arc<str> {
    frame("error", json!({ "code": code, "message": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_its_type_then_its_data() {
        #[derive(Serialize)]
        struct Typing {
            user_id: i64,
            room_id: &'static str,
        }
        let typing = Typing { user_id: 7, room_id: "p_1_7" };
        assert_eq!(
            &*frame("typing", typing),
            r#"{"type":"typing","data":{"user_id":7,"room_id":"p_1_7"}}"#
        );
        assert_eq!(
            &*error("BAD", "no"),
            r#"{"type":"error","data":{"code":"BAD","message":"no"}}"#
        );
    }
}
