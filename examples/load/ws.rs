//! WebSocket clients: per-connection order and duplicate checks, latency samples, the fleet
//! of sockets.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::Res;
use crate::api::*;

/// Shared counters every connection updates.
#[derive(Default)]
pub(crate) struct Ctl {
    /// Deliveries of load messages to their recipients.
    pub(crate) delivered: AtomicU64,
    /// Connections currently open.
    pub(crate) open: AtomicUsize,
    /// Connections that finished a catch-up after reconnecting.
    pub(crate) caught_up: AtomicUsize,
    /// Deliveries later than `late_us` (b2 stops stepping when over 1% are).
    pub(crate) late: AtomicU64,
    pub(crate) late_us: AtomicU64,
}

/// One connection to open: whose, which conversations it catches up on after a reconnect.
#[derive(Clone)]
pub(crate) struct ConnSpec {
    pub(crate) user_id: i64,
    pub(crate) token: String,
    pub(crate) conversations: Vec<(i64, i64)>,
    pub(crate) reconnect: bool,
    pub(crate) src: Ipv4Addr,
}

/// What one connection saw, per room: the highest id and every id.
#[derive(Default)]
pub(crate) struct RoomSeen {
    pub(crate) last: i64,
    pub(crate) ids: HashSet<i64>,
}

/// One delivery of a load message.
pub(crate) struct Sample {
    pub(crate) room: String,
    pub(crate) message_id: i64,
    pub(crate) latency_us: u64,
    pub(crate) at: Instant,
}

#[derive(Default)]
pub(crate) struct ConnOut {
    pub(crate) user_id: i64,
    pub(crate) rooms: HashMap<String, RoomSeen>,
    pub(crate) duplicates: Vec<String>,
    pub(crate) reorders: Vec<String>,
    pub(crate) samples: Vec<Sample>,
    pub(crate) connects: u32,
    pub(crate) error: Option<String>,
    pub(crate) caught_up_at: Option<Instant>,
}

/// What a send answers with, as far as it is used.
#[derive(Deserialize)]
pub(crate) struct SendAnswer {
    pub(crate) data: Option<SentData>,
}

#[derive(Deserialize)]
pub(crate) struct SentData {
    pub(crate) room_id: String,
    pub(crate) message_id: i64,
}

#[derive(Deserialize)]
pub(crate) struct ChatFrame {
    pub(crate) data: ChatData,
}

#[derive(Deserialize)]
pub(crate) struct ChatData {
    pub(crate) room_id: String,
    pub(crate) message_id: i64,
    pub(crate) sender_id: i64,
    #[serde(default)]
    pub(crate) body: ChatBody,
}

/// A pushed message's body, as far as it is used (the load's texts carry the send time).
#[derive(Deserialize, Default)]
pub(crate) struct ChatBody {
    #[serde(default)]
    pub(crate) text: Option<String>,
}

pub(crate) type Ws = WebSocketStream<TcpStream>;

/// The client's WebSocket read buffer.
pub(crate) const READ_BUFFER: usize = 8 * 1024;

pub(crate) async fn open_ws(
    addr: SocketAddr,
    src: Ipv4Addr,
    token: &str,
    catch_up: bool,
) -> Res<Ws> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket.bind(SocketAddr::new(src.into(), 0)).map_err(|e| format!("bind {src}: {e}"))?;
    let tcp = socket.connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    // `catch_up=1`: our first frame is catch_up, so the server holds live pushes until it
    // has answered it (history before anything newer).
    let hold = if catch_up { "&catch_up=1" } else { "" };
    let url = format!("ws://{addr}/api/v1/ws?token={token}{hold}");
    // tungstenite zero-fills its whole read buffer (128 KiB by default) before every read:
    // at thousands of frames a second that memset was most of this tool's CPU, taken from
    // the server it measures on the same cores. Frames here are small.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

impl ConnOut {
    /// Account one text frame; `start` is the time base of scheduled send times.
    pub(crate) fn on_text(&mut self, text: &str, start: Instant, ctl: &Ctl) -> bool {
        if text.contains("\"type\":\"catch_up\"") {
            return true;
        }
        if !text.contains("\"type\":\"chat_message\"") {
            return false;
        }
        let now = Instant::now();
        let Ok(frame) = serde_json::from_str::<ChatFrame>(text) else {
            self.error.get_or_insert_with(|| format!("unparsable chat_message: {text}"));
            return false;
        };
        let m = frame.data;
        let room = self.rooms.entry(m.room_id.clone()).or_default();
        if m.message_id <= room.last {
            let what = format!(
                "user {} room {} id {} after {}",
                self.user_id, m.room_id, m.message_id, room.last
            );
            if room.ids.contains(&m.message_id) {
                self.duplicates.push(what);
                return false;
            }
            self.reorders.push(what);
        } else {
            room.last = m.message_id;
        }
        room.ids.insert(m.message_id);
        let scheduled = m.body.text.as_deref().and_then(|t| t.strip_prefix('L'));
        if let (true, Some(us)) =
            (m.sender_id != self.user_id, scheduled.and_then(|s| s.parse::<u64>().ok()))
        {
            let at = now.duration_since(start).as_micros() as u64;
            self.samples.push(Sample {
                room: m.room_id,
                message_id: m.message_id,
                latency_us: at.saturating_sub(us),
                at: now,
            });
            if at.saturating_sub(us) > ctl.late_us.load(Ordering::Relaxed) {
                ctl.late.fetch_add(1, Ordering::Relaxed);
            }
            ctl.delivered.fetch_add(1, Ordering::Relaxed);
        }
        false
    }

    pub(crate) fn catch_up_frame(&self, spec: &ConnSpec) -> String {
        // Ask per conversation from the last id this connection saw in its room.
        let conversations: Vec<Value> = spec
            .conversations
            .iter()
            .map(|&(st, target)| {
                let room = room_of(st, target, spec.user_id);
                let last = self.rooms.get(&room).map_or(0, |r| r.last);
                json!({"session_type": st, "target_id": target, "last_message_id": last})
            })
            .collect();
        json!({"type": "catch_up", "data": {"conversations": conversations}}).to_string()
    }
}

/// Room id as the server computes it (private: both user ids in hex; group: the group id).
pub(crate) fn room_of(session_type: i64, target: i64, me: i64) -> String {
    if session_type == 1 {
        let (lo, hi) = if me < target { (me, target) } else { (target, me) };
        format!("{lo:08x}{hi:08x}")
    } else {
        format!("{target:08x}")
    }
}

/// Keep one connection (reconnecting if asked) until `stop` turns true.
pub(crate) async fn run_conn(
    addr: SocketAddr,
    spec: ConnSpec,
    ctl: Arc<Ctl>,
    start: Instant,
    mut stop: watch::Receiver<bool>,
) -> ConnOut {
    let mut out = ConnOut { user_id: spec.user_id, ..ConnOut::default() };
    let mut backoff = Duration::from_millis(20);
    'outer: loop {
        if *stop.borrow() {
            break;
        }
        let mut ws = match open_ws(addr, spec.src, &spec.token, out.connects > 0).await {
            Ok(ws) => ws,
            Err(e) => {
                if !spec.reconnect {
                    out.error = Some(format!("user {}: {e}", spec.user_id));
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => break,
                }
                backoff = (backoff * 2).min(Duration::from_millis(250));
                continue;
            }
        };
        backoff = Duration::from_millis(20);
        out.connects += 1;
        ctl.open.fetch_add(1, Ordering::Relaxed);
        let mut pending_catch_up = 0;
        if out.connects > 1 {
            pending_catch_up = spec.conversations.len();
            if ws.send(Message::text(out.catch_up_frame(&spec))).await.is_err() {
                ctl.open.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
        }
        loop {
            tokio::select! {
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        if out.on_text(t.as_str(), start, &ctl) && pending_catch_up > 0 {
                            pending_catch_up -= 1;
                            if pending_catch_up == 0 {
                                out.caught_up_at = Some(Instant::now());
                                ctl.caught_up.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Some(Ok(_)) => {}
                    other => {
                        ctl.open.fetch_sub(1, Ordering::Relaxed);
                        if !spec.reconnect && !*stop.borrow() {
                            out.error = Some(format!("user {}: socket closed: {other:?}", spec.user_id));
                            break 'outer;
                        }
                        continue 'outer;
                    }
                },
                _ = stop.changed() => {
                    ctl.open.fetch_sub(1, Ordering::Relaxed);
                    let _ = ws.close(None).await;
                    break 'outer;
                }
            }
        }
    }
    out
}

/// A set of open connections.
pub(crate) struct Fleet {
    pub(crate) ctl: Arc<Ctl>,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) tasks: Vec<tokio::task::JoinHandle<ConnOut>>,
    /// user id → number of connections.
    pub(crate) per_user: HashMap<i64, usize>,
}

impl Fleet {
    /// Open every connection in `specs` (64 handshakes at a time) and wait until all are open.
    pub(crate) async fn open(api: &Api, specs: Vec<ConnSpec>, start: Instant) -> Res<Fleet> {
        let ctl = Arc::new(Ctl { late_us: AtomicU64::new(u64::MAX), ..Ctl::default() });
        let (stop, rx) = watch::channel(false);
        let n = specs.len();
        let mut per_user = HashMap::new();
        let mut tasks = Vec::with_capacity(n);
        let began = Instant::now();
        for (i, spec) in specs.into_iter().enumerate() {
            *per_user.entry(spec.user_id).or_insert(0) += 1;
            tasks.push(tokio::spawn(run_conn(api.addr, spec, ctl.clone(), start, rx.clone())));
            // Pace the handshakes a little so the accept queue does not overflow.
            if i % 64 == 63 {
                while ctl.open.load(Ordering::Relaxed) + 256 < i {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    if began.elapsed() > Duration::from_secs(120) {
                        return Err("connections did not open within 120 s".into());
                    }
                }
            }
        }
        while ctl.open.load(Ordering::Relaxed) < n {
            if tasks.iter().any(|t| t.is_finished()) {
                let _ = stop.send(true);
                for t in tasks {
                    if let Ok(out) = t.await
                        && let Some(e) = out.error
                    {
                        return Err(format!("a connection failed: {e}"));
                    }
                }
                return Err("a connection ended early".into());
            }
            if began.elapsed() > Duration::from_secs(120) {
                return Err(format!(
                    "only {} of {n} connections open after 120 s",
                    ctl.open.load(Ordering::Relaxed)
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!("setup: {n} sockets open in {:.1} s", began.elapsed().as_secs_f64());
        // Let the presence frames of the connects pass.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(Fleet { ctl, stop, tasks, per_user })
    }

    pub(crate) async fn close(self) -> Vec<ConnOut> {
        let _ = self.stop.send(true);
        let mut outs = Vec::with_capacity(self.tasks.len());
        for t in self.tasks {
            if let Ok(o) = t.await {
                outs.push(o);
            }
        }
        outs
    }
}

pub(crate) fn src_ip(i: usize, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (i % n.max(1) as usize) as u8)
}
