//! The connection's one task: queue items and client frames in turn (neither starves the
//! other), live pushes held for a promised catch-up, the heartbeat, and the close.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_http::ws::OpCode;
use tokio::sync::{mpsc, watch};

use super::commands::handle_frame;
use super::delivery::{deliver_chat, resync};
use super::{Connection, Delivered, Live};
use crate::ws::frames::{self, Outbound};
use crate::ws::hub::{CLOSE_IDLE, CLOSE_TOO_BIG, CloseFrame};
use crate::ws::transport::{Incoming, ReadError, Socket};

/// Most queue items or client messages handled before the other side gets a turn.
const TURN: usize = 256;

/// A client that connects with `?catch_up=1` promises a `catch_up` frame first: its live
/// pushes are held until that frame is answered, so history always comes before anything
/// newer. This bounds how long a client that broke the promise waits for its pushes.
const HOLD_LIVE_PUSHES: Duration = Duration::from_secs(10);

/// The connection's one task: queue items and client frames in turn, the heartbeat, and
/// the close.
pub(super) async fn run(
    conn: Connection,
    mut socket: Socket,
    mut rx: mpsc::Receiver<Outbound>,
    mut close: watch::Receiver<Option<CloseFrame>>,
    hold: bool,
) {
    let ws = &conn.state.config.ws;
    let idle = Duration::from_secs(ws.idle_timeout_secs.max(1));
    let every = Duration::from_secs(ws.ping_interval_secs.max(1));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let hold_until = tokio::time::Instant::now() + HOLD_LIVE_PUSHES;
    let mut live = Live {
        conn,
        last: HashMap::new(),
        held: hold.then(Vec::new),
        last_typing: None,
        last_heard: Instant::now(),
        calls: Vec::new(),
    };
    // The client may have sent its first frames right behind the handshake.
    let mut ok = Box::pin(read_client(&mut live, &mut socket)).await;
    let close_frame = loop {
        // A client that stopped reading blocks this write until it reads again (then it also
        // gets the close frame of an overflow, which follows what it was sent) or until the
        // idle timeout.
        if !ok {
            break None;
        }
        if socket.has_queued()
            && tokio::time::timeout(idle, socket.flush()).await.map_or(true, |r| r.is_err())
        {
            break None;
        }
        ok = tokio::select! {
            biased;
            changed = close.changed() => {
                break if changed.is_ok() { close.borrow().clone() } else { None };
            }
            out = rx.recv() => {
                let mut out = out;
                let mut ok = true;
                for _ in 0..TURN {
                    match out {
                        None => break,
                        Some(Outbound::Close(code, reason)) => {
                            live.conn.close(code, &reason);
                            break;
                        }
                        Some(item) => ok = push(&mut live, &mut socket, item).await,
                    }
                    if !ok {
                        break;
                    }
                    // Whatever else is queued leaves in the same write.
                    out = rx.try_recv().ok();
                    if out.is_none() {
                        break;
                    }
                }
                ok
            }
            ready = socket.readable() => {
                ready.is_ok() && Box::pin(read_client(&mut live, &mut socket)).await
            }
            _ = ping.tick() => {
                if live.last_heard.elapsed() > idle {
                    live.conn.close(CLOSE_IDLE, "no answer to pings");
                } else {
                    socket.control(OpCode::Ping, b"");
                }
                true
            }
            _ = tokio::time::sleep_until(hold_until), if live.held.is_some() => {
                Box::pin(release_held(&mut live, &mut socket)).await
            }
        };
    };
    let conn = live.conn;
    conn.close(1000, "closed");
    conn.state.hub.disconnect(conn.user_id, conn.conn_id).await;
    if !live.calls.is_empty() {
        // A device whose socket closed leaves its call (a private call ends with it).
        crate::service::call::devices_gone(&conn.state, &conn.device(), &live.calls).await;
    }
    if let Some(frame) = close_frame {
        Box::pin(socket.close(frame)).await;
    }
}

/// One item of the queue: write it, or hold it while the client has not spoken.
async fn push(live: &mut Live, socket: &mut Socket, out: Outbound) -> bool {
    // Only chat pushes and resyncs wait for the catch-up; other frames (presence, typing …)
    // carry no history and go at once.
    if let Some(pending) = live.held.as_mut()
        && matches!(out, Outbound::Chat(_) | Outbound::Resync)
    {
        if pending.len() < live.conn.state.config.ws.send_queue {
            pending.push(out);
            return true;
        }
        // Too much held: give up waiting rather than buffer without bound.
        if !Box::pin(release_held(live, socket)).await {
            return false;
        }
    }
    write(&live.conn, socket, &mut live.last, out).await
}

/// Write what was held for the client's first frame.
pub(super) async fn release_held(live: &mut Live, socket: &mut Socket) -> bool {
    for item in live.held.take().unwrap_or_default() {
        if !write(&live.conn, socket, &mut live.last, item).await {
            return false;
        }
    }
    true
}

/// Handle every complete message the client has sent; false when the socket is gone.
async fn read_client(live: &mut Live, socket: &mut Socket) -> bool {
    for _ in 0..TURN {
        let message = match socket.try_next() {
            Ok(Some(message)) => message,
            Ok(None) => return true,
            Err(ReadError::Gone) => return false,
            Err(ReadError::TooBig) => {
                live.conn.close(CLOSE_TOO_BIG, "frame too large");
                return true;
            }
            Err(ReadError::Protocol) => {
                live.conn.close(1002, "protocol error");
                return true;
            }
        };
        live.last_heard = Instant::now();
        match message {
            Incoming::Text(text) => {
                if !handle_frame(live, socket, &text).await {
                    return false;
                }
                // The client has spoken: what was held for its catch-up may go.
                if live.held.is_some() && !release_held(live, socket).await {
                    return false;
                }
            }
            Incoming::Binary => {
                let error = frames::error("UNSUPPORTED_FRAME", "binary frames are not supported");
                if socket.text(&error).await.is_err() {
                    return false;
                }
            }
            Incoming::Ping(bytes) => socket.control(OpCode::Pong, &bytes),
            Incoming::Pong => {}
            Incoming::Close => {
                live.conn.close(1000, "closed by client");
                return true;
            }
        }
    }
    true
}

/// Write one queue item; false when the socket is gone.
async fn write(
    conn: &Connection,
    socket: &mut Socket,
    last: &mut HashMap<Arc<str>, Delivered>,
    out: Outbound,
) -> bool {
    // Leaving the queue: it no longer counts against the connection's bound (see the hub).
    conn.shared.taken(&out);
    match out {
        Outbound::Frame(text) => socket.text(&text).await.is_ok(),
        Outbound::Close(..) => false,
        Outbound::Chat(push) => deliver_chat(conn, socket, last, push).await,
        // The rare, store-reading item is boxed so that every idle connection's task stays
        // small (B4 memory per socket).
        Outbound::Resync => Box::pin(resync(conn, socket, last)).await,
    }
}
