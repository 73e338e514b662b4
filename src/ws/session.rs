//! `GET /api/v1/ws`: authenticate before the upgrade, register with the hub, then one task
//! per connection owns the socket: it writes what the bounded queue brings (each room's
//! messages exactly once and in order), answers the client's frames, and keeps the heartbeat.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix_codec::Framed;
use actix_http::ws::OpCode;
use actix_http::{Request, h1};
use actix_web::body::{BoxBody, to_bytes};
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use slog::info;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::frames::{self, CatchUpItem, ChatPush, Outbound, frame};
use super::hub::{CLOSE_IDLE, CLOSE_TOO_BIG, CloseFrame, ConnectError, Shared};
use super::transport::{Incoming, ReadError, Socket};
use crate::bus::Event;
use crate::error::{AppError, ErrorCode};
use crate::http::envelope::{self, RequestContext};
use crate::http::extract::{bearer_token, token_from};
use crate::http::middleware::{answer_headers, client_ip_from, new_request_id};
use crate::service::{auth, chat, friend};
use crate::state::AppState;
use crate::store::{MESSAGE_NORMAL, Page, SESSION_GROUP, SESSION_PRIVATE, StoredMessage};

/// Where clients connect.
pub const PATH: &str = "/api/v1/ws";
/// Most conversations one catch-up frame may name.
const MAX_CATCH_UP_ITEMS: usize = 500;
/// Most typing notices relayed per connection per second.
const TYPING_EVERY: Duration = Duration::from_secs(1);
/// Most queue items or client messages handled before the other side gets a turn.
const TURN: usize = 256;

/// Upgrade to a WebSocket. A missing, invalid, expired or revoked token is refused with 401
/// (and a code) before the upgrade; too many connections with 429. (Upgrade requests are
/// handed to [`upgrade`] by the HTTP layer; this route answers plain GETs.)
#[utoipa::path(get, path = "/api/v1/ws", tag = "realtime", security(("bearer" = [])),
    params(("token" = Option<String>, Query, description = "the token, for clients that cannot set headers"),
        ("catch_up" = Option<bool>, Query, description = "1: my first frame is `catch_up`; hold live pushes until it is answered")),
    responses((status = 101, description = "switching protocols; then frames {type, data}"),
        (status = 401, description = "TOKEN_*, ACCOUNT_*", body = crate::http::envelope::ErrorEnvelope),
        (status = 429, description = "TOO_MANY_CONNECTIONS", body = crate::http::envelope::ErrorEnvelope)))]
pub async fn connect(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let token = bearer_token(&req).unwrap_or_default();
    auth::authenticate(&state, &token).await?;
    Err(AppError::invalid("not a WebSocket upgrade"))
}

/// Every request with `Upgrade: websocket` comes here, with the connection, from the HTTP
/// layer. Answers like a route (the same envelopes, one log line) and, once upgraded, runs
/// the connection until it closes.
pub async fn upgrade(
    state: web::Data<AppState>,
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), actix_web::Error> {
    // Boxed and finished before the connection runs: nothing of the request is kept while
    // it does (B4 memory per socket).
    if let Some((accepted, socket)) = Box::pin(handshake(state, req, framed)).await {
        let Accepted { conn, rx, close, hold } = accepted;
        run(conn, socket, rx, close, hold).await;
    }
    Ok(())
}

/// Answer the upgrade request; the accepted connection and its socket when it was upgraded.
async fn handshake(
    state: web::Data<AppState>,
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Option<(Accepted, Socket)> {
    let started = Instant::now();
    let request_id = new_request_id();
    let logger = state.log.new(slog::o!("request_id" => request_id.clone()));
    let ctx = RequestContext { request_id, logger: logger.clone() };
    let ip = client_ip_from(req.peer_addr(), req.headers(), &state.trusted_proxies);
    // The error answer is built inside the request context: its envelope carries the id.
    let (mut response, accepted) = envelope::with_context(ctx, async {
        match accept(&state, &req).await {
            Ok((response, accepted)) => (response, Some(accepted)),
            Err(e) => (refusal(&e), None),
        }
    })
    .await;
    answer_headers(response.headers_mut());
    info!(logger, "request";
        "method" => req.method().as_str(), "path" => req.path(),
        "status" => response.status().as_u16(),
        "latency_ms" => (started.elapsed().as_secs_f64() * 1e6).round() / 1000.0,
        "client_ip" => ip.map(|i| i.to_string()).unwrap_or_default(),
        "user_id" => accepted.as_ref().map(|a| a.conn.user_id));
    // Bodies here are small envelopes; collected, they can be written by the h1 codec.
    let (head, body) = response.into_parts();
    let body = to_bytes(body).await.unwrap_or_default();
    let sent = h1::SendResponse::new(framed, head.set_body(body)).await;
    let accepted = accepted?;
    let Ok(framed) = sent else {
        state.hub.disconnect(accepted.conn.user_id, accepted.conn.conn_id).await;
        return None;
    };
    // The HTTP layer's buffers (8 KiB each) go; the socket reads into its own.
    let actix_codec::FramedParts { io, read_buf, .. } = framed.into_parts();
    let socket = Socket::new(io, read_buf, state.config.ws.max_frame_bytes);
    Some((accepted, socket))
}

/// The answer to a refused upgrade (a wrong method also says which one to use).
fn refusal(e: &AppError) -> actix_http::Response<BoxBody> {
    let mut response: actix_http::Response<BoxBody> = e.error_response().into();
    if e.error_code() == ErrorCode::MethodNotAllowed {
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
    }
    response
}

/// A connection that passed the handshake and joined the hub.
struct Accepted {
    conn: Connection,
    rx: mpsc::Receiver<Outbound>,
    close: watch::Receiver<Option<CloseFrame>>,
    hold: bool,
}

async fn accept(
    state: &web::Data<AppState>,
    req: &Request,
) -> Result<(actix_http::Response<BoxBody>, Accepted), AppError> {
    if req.path() != PATH {
        return Err(AppError::code(ErrorCode::NotFound));
    }
    let handshake = actix_http::ws::handshake(req.head()).map_err(|e| match e {
        actix_http::ws::HandshakeError::GetMethodRequired => {
            AppError::code(ErrorCode::MethodNotAllowed)
        }
        e => AppError::invalid(format!("not a WebSocket upgrade: {e}")),
    });
    let token = token_from(req.headers(), req.uri().query().unwrap_or_default());
    let principal = auth::authenticate(state, &token.unwrap_or_default()).await?;
    let mut response = handshake?;
    let registration =
        state.hub.connect(principal.user_id, principal.session_id).await.map_err(|e| match e {
            ConnectError::TooManyConnections => AppError::code(ErrorCode::TooManyConnections),
            ConnectError::ShuttingDown => AppError::Unavailable(anyhow::anyhow!("shutting down")),
        })?;
    // From here on every relayed message reaches this connection, so what is committed from
    // now on is its to get (see `deliver_chat`).
    let connected_at = crate::db::now_ms();
    let conn = Connection {
        state: state.clone(),
        user_id: principal.user_id,
        conn_id: registration.conn_id,
        close_tx: registration.close_tx,
        shared: registration.shared,
        connected_at,
    };
    // `?catch_up=1`: the client will send `catch_up` first; hold live pushes until then.
    let hold = url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "catch_up" && (v == "1" || v == "true"));
    let response = response.finish().map_into_boxed_body();
    let accepted = Accepted { conn, rx: registration.rx, close: registration.close, hold };
    Ok((response, accepted))
}

#[derive(Clone)]
struct Connection {
    state: web::Data<AppState>,
    user_id: i64,
    conn_id: u64,
    close_tx: watch::Sender<Option<CloseFrame>>,
    /// What the hub and this connection share (the world switch, the bytes queued).
    shared: Arc<Shared>,
    /// When the connection joined the hub (Unix ms): messages committed since then are its
    /// to get.
    connected_at: i64,
}

impl Connection {
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

/// A client that connects with `?catch_up=1` promises a `catch_up` frame first: its live
/// pushes are held until that frame is answered, so history always comes before anything
/// newer. This bounds how long a client that broke the promise waits for its pushes.
const HOLD_LIVE_PUSHES: Duration = Duration::from_secs(10);

/// What one connection keeps besides its socket.
struct Live {
    conn: Connection,
    /// Per room, the message ids delivered so far.
    last: HashMap<Arc<str>, Delivered>,
    /// Live pushes held until the client's first frame (`?catch_up=1`).
    held: Option<Vec<Outbound>>,
    last_typing: Option<Instant>,
    last_heard: Instant,
}

/// The connection's one task: queue items and client frames in turn, the heartbeat, and
/// the close.
async fn run(
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
async fn release_held(live: &mut Live, socket: &mut Socket) -> bool {
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

/// Re-read every room this connection follows from what it delivered last, then tell the
/// client to refresh its conversation list (for rooms it has not heard of yet).
async fn resync(
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

fn tombstone(mut m: StoredMessage) -> StoredMessage {
    if m.status != MESSAGE_NORMAL {
        m.body = json!({});
    }
    m
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
        let page = match conn.state.messages.page(room_id, Page::After(sent), want).await {
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
            if socket.text(&frame("chat_message", tombstone(m))).await.is_err() {
                return Sent::SocketGone;
            }
        }
        if !full || sent == before {
            return Sent::All(sent);
        }
    }
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
        match conn.state.messages.page(room_id, Page::Before(message_id), window).await {
            Ok(before) => {
                for m in before.into_iter().filter(|m| m.created_at >= since) {
                    let id = m.message_id;
                    if socket.text(&frame("chat_message", tombstone(m))).await.is_err() {
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

async fn catch_up(
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

/// A failure as a client is told it (`code` and `message`). The cause of a failure of ours
/// (a lost database link, a bug) is logged and never sent.
fn failure(conn: &Connection, e: &AppError) -> Map<String, Value> {
    if let Some(cause) = e.cause() {
        slog::warn!(conn.state.log, "socket request failed"; "user_id" => conn.user_id,
            "code" => e.error_code().as_str(), "cause" => format!("{cause:#}"));
    }
    let mut data = Map::new();
    data.insert("code".into(), e.error_code().as_str().into());
    data.insert("message".into(), e.client_message().into());
    data
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

/// Answer one client frame; false when the socket is gone.
async fn handle_frame(live: &mut Live, socket: &mut Socket, text: &str) -> bool {
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
                let marked =
                    chat::mark_read(state, conn.user_id, r.session_type, r.target_id, r.message_id)
                        .await;
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
            match typing_recipients(state, conn.user_id, r.session_type, r.target_id).await {
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
