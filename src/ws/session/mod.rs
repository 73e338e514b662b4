//! `GET /api/v1/ws`, one module per job: [`handshake`] authenticates before the upgrade and
//! registers with the hub; then one task per connection ([`task`]) owns the socket: it writes
//! what the bounded queue brings, with [`delivery`] sending each room's messages exactly once
//! and in order (filling gaps from the store), answers the client's frames ([`commands`]), and
//! keeps the heartbeat. Every rule and every read goes through `service/`.

mod commands;
mod delivery;
mod handshake;
mod task;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix_web::web;
use serde_json::{Map, Value};
use tokio::sync::watch;

pub use handshake::{__path_connect, PATH, connect, upgrade};

use super::frames::Outbound;
use super::hub::{CloseFrame, Shared};
use crate::bus::call::CallDevice;
use crate::domain::UserId;
use crate::error::AppError;
use crate::state::AppState;

/// An accepted connection: who it is, where its close goes, and what it shares with the hub.
#[derive(Clone)]
struct Connection {
    state: web::Data<AppState>,
    user_id: UserId,
    conn_id: u64,
    close_tx: watch::Sender<Option<CloseFrame>>,
    /// What the hub and this connection share (the world switch, the bytes queued).
    shared: Arc<Shared>,
    /// When the connection joined the hub (Unix ms): messages committed since then are its
    /// to get.
    connected_at: i64,
}

impl Connection {
    /// This connection as a device in calls.
    fn device(&self) -> CallDevice {
        CallDevice {
            instance: self.state.instance_id.clone(),
            conn_id: self.conn_id,
            user_id: self.user_id,
        }
    }

    /// Ask the connection to close (the first request's code wins).
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

/// What one connection keeps besides its socket.
struct Live {
    conn: Connection,
    /// Per room, the message ids delivered so far.
    last: HashMap<Arc<str>, Delivered>,
    /// Live pushes held until the client's first frame (`?catch_up=1`).
    held: Option<Vec<Outbound>>,
    last_typing: Option<Instant>,
    last_heard: Instant,
    /// Calls this connection joined (invited or answered), which it leaves when it closes.
    calls: Vec<String>,
}

/// Most calls one connection remembers having joined (it is in at most one at a time; the
/// others ended, and leaving them again is a no-op).
const REMEMBERED_CALLS: usize = 8;

impl Live {
    fn join_call(&mut self, call_id: String) {
        if self.calls.contains(&call_id) {
            return;
        }
        if self.calls.len() >= REMEMBERED_CALLS {
            self.calls.remove(0);
        }
        self.calls.push(call_id);
    }
}

/// The message ids of one room this connection has delivered: one contiguous range.
#[derive(Debug, Clone, Copy)]
struct Delivered {
    lo: i64,
    hi: i64,
}

/// A failure as a client is told it (`code` and `message`). The cause of a failure of ours
/// (a lost database link, a bug) is logged and never sent.
fn failure(conn: &Connection, e: &AppError) -> Map<String, Value> {
    if let Some(cause) = e.cause() {
        slog::warn!(conn.state.log, "socket request failed"; "user_id" => conn.user_id.get(),
            "code" => e.error_code().as_str(), "cause" => format!("{cause:#}"));
    }
    let mut data = Map::new();
    data.insert("code".into(), e.error_code().as_str().into());
    data.insert("message".into(), e.client_message().into());
    data
}
