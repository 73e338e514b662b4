//! `load`: an open-loop load generator for a running `jim serve`, through the public API only.
//!
//! It registers users, makes friend pairs or a group, opens WebSockets (optionally spread over
//! several 127.0.0.x source addresses), then sends over HTTP on a fixed schedule: every send
//! has a scheduled time and latency is *push receive time − scheduled time*, so a stalled server
//! (or a stalled client) shows up in the figures instead of slowing the offered load down.
//!
//! Scenarios (`--scenario`):
//! - `b1`: N friend pairs, a fixed offered rate, latency percentiles (after `--warmup` seconds
//!   at that rate, whose figures are reported apart).
//! - `b2`: the same, stepping the rate up (`--rates`) until loss or p99 > `--p99-max-ms`.
//! - `b3`: group fan-out: M online members, one message per 100 ms, then a burst.
//! - `b4`: K idle authenticated sockets: server RSS per connection and idle CPU.
//! - `b5`: K connected sockets, `--restart-cmd` kills -9 and restarts the server mid-traffic;
//!   clients reconnect with their tokens and catch up by message id.
//!
//! Every run checks, per connection and per room, that each message arrived exactly once and
//! in message-id order. A run with any loss, duplicate or reorder is refused: the failure is
//! printed and the exit code is non-zero. Server CPU and RSS come from `/proc/<pid>` of
//! `--server-pid`. `--smoke` starts its own server (`target/debug/jim` or `--jim`) on a temp
//! data dir and a free port and runs tiny versions of b1, b3, b4 and b5.
//!
//! Each run prints a human report and one `RESULT {json}` line for scripts.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Res<T> = Result<T, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    B1,
    B2,
    B3,
    B4,
    B5,
    /// Internal (b4 with `--procs`): hold the sockets listed on stdin until stdin closes.
    Hold,
}

/// Command line.
#[derive(Debug, Parser, Clone)]
#[command(about = "Open-loop load generator for jim serve (see the file header)")]
struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Pid of the server process, for CPU and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, value_enum, default_value = "b1")]
    scenario: Scenario,
    /// Start a server (`--jim`) on a temp dir and run tiny b1, b3, b4, b5.
    #[arg(long)]
    smoke: bool,
    /// The `jim` binary for `--smoke` (default target/debug/jim).
    #[arg(long)]
    jim: Option<PathBuf>,
    /// b1/b2/b5: friend pairs.
    #[arg(long, default_value_t = 1000)]
    pairs: usize,
    /// b1/b5: offered messages per second.
    #[arg(long, default_value_t = 5000.0)]
    rate: f64,
    /// Seconds of sending (b1, each b2 step, b5).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// b1: seconds of sending at the same rate before the measured phase, so that the
    /// figures are the steady state's (each sender's first message reads its friendship
    /// from the database). Its deliveries are checked like the rest; its latencies are
    /// reported apart, as `warmup`.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// b2: offered rates to step through.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,4000,8000,16000,20000")]
    rates: Vec<f64>,
    /// b2: a step passes only with p99 at or below this.
    #[arg(long, default_value_t = 250.0)]
    p99_max_ms: f64,
    /// b3: group members (all online).
    #[arg(long, default_value_t = 1000)]
    members: usize,
    /// b3: paced messages (one per 100 ms) before the burst.
    #[arg(long, default_value_t = 50)]
    ticks: usize,
    /// b3: burst size.
    #[arg(long, default_value_t = 200)]
    burst: usize,
    /// b4/b5: WebSocket connections to open.
    #[arg(long, default_value_t = 10000)]
    conns: usize,
    /// b4/b5: connections per user (server cap: 10).
    #[arg(long, default_value_t = 10)]
    conns_per_user: usize,
    /// Spread sockets over 127.0.0.1 ..= 127.0.0.N.
    #[arg(long, default_value_t = 1)]
    source_ips: u8,
    /// b5: shell command that kills -9 the server and starts it again, returning once it is
    /// ready; it may print the new pid on its last stdout line.
    #[arg(long)]
    restart_cmd: Option<String>,
    /// b4: client processes holding the sockets (one process may hold ~20,000 descriptors
    /// here, so ~19,000 sockets need two).
    #[arg(long, default_value_t = 1)]
    procs: usize,
    /// b4: seconds of idle measurement.
    #[arg(long, default_value_t = 10.0)]
    idle_secs: f64,
    /// Seconds without delivery progress after which the remaining messages count as lost.
    #[arg(long, default_value_t = 5.0)]
    drain_secs: f64,
    /// Most sends in flight (an open loop still measures from the scheduled time).
    #[arg(long, default_value_t = 4096)]
    max_inflight: usize,
    /// Username prefix (default: derived from the clock, so runs never collide).
    #[arg(long)]
    prefix: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Server process figures from /proc.

/// CPU seconds (user + system) and RSS in KiB of `pid`.
fn proc_sample(pid: Option<u32>) -> Option<(f64, u64)> {
    let pid = pid?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`: state is field 3; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    // USER_HZ is 100 on Linux.
    Some((ticks / 100.0, rss))
}

// ---------------------------------------------------------------------------------------------
// HTTP API.

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    addr: SocketAddr,
    /// Keep-alive connections for the message sends (see [`Api::send_message`]).
    idle: Arc<std::sync::Mutex<Vec<(TcpStream, Instant)>>>,
}

#[derive(Clone, Debug)]
struct User {
    id: i64,
    token: String,
}

impl Api {
    fn new(base: &str) -> Res<Api> {
        let url = url::Url::parse(base).map_err(|e| format!("--url: {e}"))?;
        let host = url.host_str().unwrap_or("127.0.0.1");
        let addr = format!("{host}:{}", url.port_or_known_default().unwrap_or(80))
            .parse()
            .map_err(|e| format!("--url must be http://IP:PORT: {e}"))?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            // Under the server's keep-alive (5 s): a connection the server is closing at the
            // moment it is reused fails the request before it is sent (seen once in B2).
            .pool_idle_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Api { http, base: base.trim_end_matches('/').to_string(), addr, idle: Arc::default() })
    }

    /// POST `body`; the `data` of a 200 answer, or the error.
    async fn post(&self, token: Option<&str>, path: &str, body: &Value) -> Res<Value> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status != 200 {
            return Err(format!("{path}: HTTP {status} {body}"));
        }
        Ok(body["data"].clone())
    }

    /// POST a message send on a keep-alive connection of our own: the timed path of b1, b2
    /// and b5. Plain HTTP/1.1 written and read by hand, because reqwest/hyper cost ~65 µs of
    /// CPU per send on the cores the server shares. A reused connection the server closed
    /// meanwhile is retried once on a new one (safe: the action id makes the send idempotent).
    async fn send_message(&self, token: &str, body: &Value) -> Res<SentData> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let mut request = format!(
            "POST /api/v1/chat/message/send HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        for attempt in 0..2 {
            let pooled = {
                let mut idle = self.idle.lock().unwrap();
                // The most recently used first; one idle near the server's 5 s keep-alive may
                // be closing, so it is dropped.
                std::iter::from_fn(|| idle.pop())
                    .find(|(_, at)| at.elapsed() < Duration::from_secs(3))
            };
            let (mut stream, reused) = match pooled {
                Some((stream, _)) => (stream, true),
                None => {
                    let stream = TcpStream::connect(self.addr).await.map_err(|e| e.to_string())?;
                    stream.set_nodelay(true).map_err(|e| e.to_string())?;
                    (stream, false)
                }
            };
            match http_exchange(&mut stream, &request).await {
                Ok((status, answer, keep_alive)) => {
                    if keep_alive {
                        self.idle.lock().unwrap().push((stream, Instant::now()));
                    }
                    // Typed, only what is used: the answer is parsed at every send.
                    let parsed = serde_json::from_slice::<SendAnswer>(&answer).ok();
                    return match (status, parsed) {
                        (200, Some(SendAnswer { data: Some(data) })) => Ok(data),
                        _ => Err(format!(
                            "message/send: HTTP {status} {}",
                            String::from_utf8_lossy(&answer)
                        )),
                    };
                }
                Err(_) if reused && attempt == 0 => continue,
                Err(e) => return Err(format!("message/send: {e}")),
            }
        }
        unreachable!("the second attempt returns")
    }

    async fn ready(&self) -> bool {
        matches!(self.http.get(format!("{}/readyz", self.base)).send().await,
            Ok(r) if r.status().is_success())
    }

    async fn user(&self, name: &str) -> Res<User> {
        let pw = "passw0rd-load";
        let reg = json!({"username": name, "password": pw, "confirm_password": pw});
        let id = self.post(None, "/api/v1/auth/register", &reg).await?["id"]
            .as_i64()
            .ok_or("register: no id")?;
        let login = json!({"username": name, "password": pw});
        let token = self.post(None, "/api/v1/auth/login", &login).await?["token"]
            .as_str()
            .ok_or("login: no token")?
            .to_string();
        Ok(User { id, token })
    }

    async fn befriend(&self, a: &User, b: &User) -> Res<()> {
        let invite = json!({"user_id": b.id});
        let inv = self.post(Some(&a.token), "/api/v1/friend/invite/add", &invite);
        let id = inv.await?["invite"]["id"].as_i64().ok_or("invite: no id")?;
        let accept = json!({"id": id, "status": 1});
        self.post(Some(&b.token), "/api/v1/friend/invite/update", &accept).await?;
        Ok(())
    }
}

/// Write one HTTP/1.1 request and read its answer: status, body, whether the connection
/// stays open. Only what jim sends is understood (a `Content-Length` body).
async fn http_exchange(
    stream: &mut TcpStream,
    request: &[u8],
) -> std::io::Result<(u16, Vec<u8>, bool)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    stream.write_all(request).await?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let mut length = None;
        let mut keep_alive = true;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                keep_alive = !value.eq_ignore_ascii_case("close");
            }
        }
        let length = length.ok_or_else(|| bad("answer without Content-Length"))?;
        let total = end + 4 + length;
        while buf.len() < total {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        if buf.len() > total {
            return Err(bad("bytes after the answer"));
        }
        return Ok((status, buf[end + 4..total].to_vec(), keep_alive));
    }
}

/// Register and log in `n` users named `{prefix}{i}`.
async fn make_users(api: &Api, prefix: &str, n: usize) -> Res<Vec<User>> {
    let started = Instant::now();
    let users: Vec<Res<User>> = futures_util::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let name = format!("{prefix}{i}");
            async move { api.user(&name).await }
        })
        .buffered(64)
        .collect()
        .await;
    let users = users.into_iter().collect::<Res<Vec<_>>>()?;
    eprintln!("setup: {n} users in {:.1} s", started.elapsed().as_secs_f64());
    Ok(users)
}

/// Make `users[2i]` and `users[2i+1]` friends.
async fn make_pairs(api: &Api, users: &[User]) -> Res<()> {
    let done: Vec<Res<()>> = futures_util::stream::iter(users.chunks(2))
        .map(|p| {
            let api = api.clone();
            let (a, b) = (p[0].clone(), p[1].clone());
            async move { api.befriend(&a, &b).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    done.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------
// WebSocket clients.

/// Shared counters every connection updates.
#[derive(Default)]
struct Ctl {
    /// Deliveries of load messages to their recipients.
    delivered: AtomicU64,
    /// Connections currently open.
    open: AtomicUsize,
    /// Connections that finished a catch-up after reconnecting.
    caught_up: AtomicUsize,
    /// Deliveries later than `late_us` (b2 stops stepping when over 1% are).
    late: AtomicU64,
    late_us: AtomicU64,
}

/// One connection to open: whose, which conversations it catches up on after a reconnect.
#[derive(Clone)]
struct ConnSpec {
    user_id: i64,
    token: String,
    conversations: Vec<(i64, i64)>,
    reconnect: bool,
    src: Ipv4Addr,
}

/// What one connection saw, per room: the highest id and every id.
#[derive(Default)]
struct RoomSeen {
    last: i64,
    ids: HashSet<i64>,
}

/// One delivery of a load message.
struct Sample {
    room: String,
    message_id: i64,
    latency_us: u64,
    at: Instant,
}

#[derive(Default)]
struct ConnOut {
    user_id: i64,
    rooms: HashMap<String, RoomSeen>,
    duplicates: Vec<String>,
    reorders: Vec<String>,
    samples: Vec<Sample>,
    connects: u32,
    error: Option<String>,
    caught_up_at: Option<Instant>,
}

/// What a send answers with, as far as it is used.
#[derive(Deserialize)]
struct SendAnswer {
    data: Option<SentData>,
}

#[derive(Deserialize)]
struct SentData {
    room_id: String,
    message_id: i64,
}

#[derive(Deserialize)]
struct ChatFrame {
    data: ChatData,
}

#[derive(Deserialize)]
struct ChatData {
    room_id: String,
    message_id: i64,
    sender_id: i64,
    #[serde(default)]
    body: ChatBody,
}

/// A pushed message's body, as far as it is used (the load's texts carry the send time).
#[derive(Deserialize, Default)]
struct ChatBody {
    #[serde(default)]
    text: Option<String>,
}

type Ws = WebSocketStream<TcpStream>;

// The same allocator as the server: glibc malloc's free-list work was a visible share of
// this tool's CPU, which the server it measures shares.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The client's WebSocket read buffer.
const READ_BUFFER: usize = 8 * 1024;

async fn open_ws(addr: SocketAddr, src: Ipv4Addr, token: &str, catch_up: bool) -> Res<Ws> {
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
    fn on_text(&mut self, text: &str, start: Instant, ctl: &Ctl) -> bool {
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

    fn catch_up_frame(&self, spec: &ConnSpec) -> String {
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
fn room_of(session_type: i64, target: i64, me: i64) -> String {
    if session_type == 1 {
        let (lo, hi) = if me < target { (me, target) } else { (target, me) };
        format!("{lo:08x}{hi:08x}")
    } else {
        format!("{target:08x}")
    }
}

/// Keep one connection (reconnecting if asked) until `stop` turns true.
async fn run_conn(
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
struct Fleet {
    ctl: Arc<Ctl>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<ConnOut>>,
    /// user id → number of connections.
    per_user: HashMap<i64, usize>,
}

impl Fleet {
    /// Open every connection in `specs` (64 handshakes at a time) and wait until all are open.
    async fn open(api: &Api, specs: Vec<ConnSpec>, start: Instant) -> Res<Fleet> {
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

    async fn close(self) -> Vec<ConnOut> {
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

fn src_ip(i: usize, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (i % n.max(1) as usize) as u8)
}

// ---------------------------------------------------------------------------------------------
// Sending.

/// One message to send: who, to what.
#[derive(Clone)]
struct Job {
    token: Arc<str>,
    session_type: i64,
    target_id: i64,
    /// Users who must receive it (each of their connections).
    recipients: Arc<[i64]>,
}

/// One committed send.
struct Sent {
    room: String,
    message_id: i64,
    recipients: Arc<[i64]>,
}

#[derive(Default)]
struct SendOut {
    sent: Vec<Sent>,
    errors: Vec<String>,
    offered_secs: f64,
}

/// Send `jobs` open-loop: job `i` is due at `t0 + at(i)`. A send that fails is retried with
/// the same `action_id` until `retry_until` (b5), else counted as an error.
#[allow(clippy::too_many_arguments)]
async fn send_schedule(
    api: &Api,
    jobs: Vec<Job>,
    at: impl Fn(usize) -> Duration,
    t0: Instant,
    start: Instant,
    tag: &str,
    max_inflight: usize,
    retry_for: Option<Duration>,
) -> SendOut {
    let sem = Arc::new(Semaphore::new(max_inflight));
    let mut handles = Vec::with_capacity(jobs.len());
    let mut last_due = Duration::ZERO;
    let timer = PreciseTimer::new().expect("timerfd");
    for (i, job) in jobs.into_iter().enumerate() {
        let due = at(i);
        last_due = due;
        timer.sleep_until(t0 + due).await.expect("timerfd");
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let api = api.clone();
        let sched_us = (t0 + due).duration_since(start).as_micros() as u64;
        let action_id = format!("{tag}-{i}");
        handles.push(tokio::spawn(async move {
            let body = json!({"action_id": action_id, "session_type": job.session_type, "type": 1,
                "target_id": job.target_id, "body": {"text": format!("L{sched_us}")}});
            let deadline = retry_for.map(|d| Instant::now() + d);
            let result = loop {
                match api.send_message(&job.token, &body).await {
                    Ok(data) => break Ok(data),
                    Err(e) if deadline.is_some_and(|d| Instant::now() < d) => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => break Err(e),
                }
            };
            drop(permit);
            match result {
                Ok(data) => Ok(Sent {
                    room: data.room_id,
                    message_id: data.message_id,
                    recipients: job.recipients,
                }),
                Err(e) => Err(e),
            }
        }));
    }
    let mut out = SendOut { offered_secs: last_due.as_secs_f64(), ..SendOut::default() };
    for h in handles {
        match h.await {
            Ok(Ok(s)) => out.sent.push(s),
            Ok(Err(e)) => out.errors.push(e),
            Err(e) => out.errors.push(e.to_string()),
        }
    }
    out
}

/// Sleeps on the kernel's high-resolution timer (a timerfd in the runtime's epoll). The
/// runtime's own timer has 1 ms ticks: sends paced with it left up to 1 ms late (0.5 ms on
/// average), and that lateness went into every latency sample.
struct PreciseTimer {
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

impl PreciseTimer {
    fn new() -> std::io::Result<Self> {
        use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // Deprecated for inner types whose descriptor could change under the registration;
        // an `OwnedFd`'s cannot (the safe alternative, `register`, is `unsafe` to call).
        #[allow(deprecated)]
        let fd = tokio::io::unix::AsyncFd::new(fd)?;
        Ok(Self { fd })
    }

    async fn sleep_until(&self, deadline: Instant) -> std::io::Result<()> {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Ok(());
        }
        let value = Timespec { tv_sec: wait.as_secs() as i64, tv_nsec: wait.subsec_nanos() as i64 };
        let spec = Itimerspec { it_interval: Timespec { tv_sec: 0, tv_nsec: 0 }, it_value: value };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        loop {
            let mut guard = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            match guard.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?)) {
                Ok(result) => return result.map(|_| ()),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Wait until `expected` deliveries have arrived, or none arrived for `quiet`.
async fn drain(ctl: &Ctl, expected: u64, quiet: Duration) {
    let mut last = ctl.delivered.load(Ordering::Relaxed);
    let mut since = Instant::now();
    loop {
        let now = ctl.delivered.load(Ordering::Relaxed);
        if now >= expected {
            // A little longer, to see duplicates that would follow.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return;
        }
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() > quiet {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Checking and reporting.

/// Loss, duplicates and reorders over a run; only the messages in `sent` are expected.
#[derive(Default, Debug)]
struct Check {
    expected: u64,
    delivered: u64,
    lost: Vec<String>,
    duplicates: Vec<String>,
    reorders: Vec<String>,
    errors: Vec<String>,
}

impl Check {
    fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.duplicates.is_empty()
            && self.reorders.is_empty()
            && self.errors.is_empty()
    }

    fn print_failure(&self, name: &str) {
        eprintln!(
            "REFUSED {name}: {} lost, {} duplicated, {} reordered, {} errors (of {} expected deliveries)",
            self.lost.len(),
            self.duplicates.len(),
            self.reorders.len(),
            self.errors.len(),
            self.expected
        );
        for (what, list) in [
            ("lost", &self.lost),
            ("duplicate", &self.duplicates),
            ("reorder", &self.reorders),
            ("error", &self.errors),
        ] {
            for l in list.iter().take(5) {
                eprintln!("  {what}: {l}");
            }
        }
    }
}

fn check(outs: &[ConnOut], sent: &[Sent], send_errors: &[String]) -> Check {
    let mut c =
        Check { errors: send_errors.iter().take(20).cloned().collect(), ..Check::default() };
    let mut by_user: HashMap<i64, Vec<&ConnOut>> = HashMap::new();
    for o in outs {
        by_user.entry(o.user_id).or_default().push(o);
        c.duplicates.extend(o.duplicates.iter().cloned());
        c.reorders.extend(o.reorders.iter().cloned());
        if let Some(e) = &o.error {
            c.errors.push(e.clone());
        }
    }
    for s in sent {
        for user in s.recipients.iter() {
            for conn in by_user.get(user).map(Vec::as_slice).unwrap_or_default() {
                c.expected += 1;
                if conn.rooms.get(&s.room).is_some_and(|r| r.ids.contains(&s.message_id)) {
                    c.delivered += 1;
                } else if c.lost.len() < 1000 {
                    c.lost.push(format!("room {} id {} to user {}", s.room, s.message_id, user));
                }
            }
        }
    }
    c
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

/// Latency percentiles in ms: p50, p99, p99.9, max.
fn latency(mut us: Vec<u64>) -> Value {
    us.sort_unstable();
    json!({"p50_ms": pct(&us, 50.0), "p99_ms": pct(&us, 99.0), "p999_ms": pct(&us, 99.9),
        "max_ms": pct(&us, 100.0), "n": us.len()})
}

/// Samples of the messages sent from `t0` on.
fn samples_since<'a>(outs: &'a [ConnOut], sent: &'a [Sent]) -> impl Iterator<Item = &'a Sample> {
    let ids: HashSet<(&str, i64)> = sent.iter().map(|s| (s.room.as_str(), s.message_id)).collect();
    outs.iter()
        .flat_map(|o| o.samples.iter())
        .filter(move |s| ids.contains(&(s.room.as_str(), s.message_id)))
}

/// Server CPU and memory over a phase.
struct ProcWindow {
    pid: Option<u32>,
    at: Instant,
    start: Option<(f64, u64)>,
}

impl ProcWindow {
    fn begin(pid: Option<u32>) -> ProcWindow {
        ProcWindow { pid, at: Instant::now(), start: proc_sample(pid) }
    }

    /// CPU seconds used, wall seconds, RSS KiB now.
    fn end(&self) -> (f64, f64, u64) {
        let wall = self.at.elapsed().as_secs_f64();
        match (self.start, proc_sample(self.pid)) {
            (Some((c0, _)), Some((c1, rss))) => (c1 - c0, wall, rss),
            _ => (f64::NAN, wall, 0),
        }
    }
}

fn report(name: &str, result: Value) {
    println!("== {name}");
    if let Some(map) = result.as_object() {
        for (k, v) in map {
            println!("  {k:<28} {v}");
        }
    }
    println!("RESULT {}", json!({"scenario": name, "result": result}));
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// Pairs with one socket per user (`conns_per_user` for b5).
struct PairsSetup {
    users: Vec<User>,
    fleet: Fleet,
}

async fn setup_pairs(
    api: &Api,
    args: &Args,
    prefix: &str,
    pairs: usize,
    cpu: usize,
    reconnect: bool,
    start: Instant,
) -> Res<PairsSetup> {
    let users = make_users(api, prefix, pairs * 2).await?;
    make_pairs(api, &users).await?;
    let mut specs = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let peer = &users[i ^ 1];
        for _ in 0..cpu {
            specs.push(ConnSpec {
                user_id: u.id,
                token: u.token.clone(),
                conversations: vec![(1, peer.id)],
                reconnect,
                src: src_ip(specs.len(), args.source_ips),
            });
        }
    }
    let fleet = Fleet::open(api, specs, start).await?;
    Ok(PairsSetup { users, fleet })
}

/// `n` private messages round-robin over the pairs, alternating direction.
fn pair_jobs(users: &[User], n: usize) -> Vec<Job> {
    let pairs = users.len() / 2;
    (0..n)
        .map(|i| {
            let p = i % pairs;
            let flip = (i / pairs) % 2;
            let (from, to) = (&users[2 * p + flip], &users[2 * p + (1 - flip)]);
            Job {
                token: from.token.as_str().into(),
                session_type: 1,
                target_id: to.id,
                recipients: Arc::from(vec![to.id]),
            }
        })
        .collect()
}

/// One fixed-rate phase over established pairs: the figures, and whether it was clean.
#[allow(clippy::too_many_arguments)]
async fn pairs_phase(
    api: &Api,
    args: &Args,
    users: &[User],
    fleet: &Fleet,
    rate: f64,
    secs: f64,
    tag: &str,
    start: Instant,
) -> (SendOut, u64, ProcWindow, Instant) {
    let n = ((rate * secs).round() as usize).max(1);
    let jobs = pair_jobs(users, n);
    let per_user = &fleet.per_user;
    let expected: u64 =
        jobs.iter().map(|j| j.recipients.iter().map(|u| per_user[u] as u64).sum::<u64>()).sum();
    let base = fleet.ctl.delivered.load(Ordering::Relaxed);
    let window = ProcWindow::begin(args.server_pid);
    let t0 = Instant::now() + Duration::from_millis(50);
    let out = send_schedule(
        api,
        jobs,
        |i| Duration::from_secs_f64(i as f64 / rate),
        t0,
        start,
        tag,
        args.max_inflight,
        None,
    )
    .await;
    drain(&fleet.ctl, base + expected, Duration::from_secs_f64(args.drain_secs)).await;
    (out, expected, window, t0)
}

fn phase_figures(
    outs: &[ConnOut],
    send: &SendOut,
    window: &ProcWindow,
    t0: Instant,
    rate: f64,
) -> (Check, Value) {
    let c = check(outs, &send.sent, &send.errors);
    let (cpu, _wall, rss) = window.end();
    let samples: Vec<&Sample> = samples_since(outs, &send.sent).collect();
    let last = samples.iter().map(|s| s.at).max().unwrap_or(t0);
    let span = last.saturating_duration_since(t0).as_secs_f64().max(1e-3);
    let lat = latency(samples.iter().map(|s| s.latency_us).collect());
    let msgs = send.sent.len().max(1) as f64;
    // The p99 of each half second by send time: shows whether a high p99 is a stall or
    // spread over the run.
    let mut slices: Vec<Vec<u64>> = Vec::new();
    for s in &samples {
        let sent_at = s.at.checked_sub(Duration::from_micros(s.latency_us)).unwrap_or(t0);
        let slice = (sent_at.saturating_duration_since(t0).as_millis() / 500) as usize;
        if slices.len() <= slice {
            slices.resize_with(slice + 1, Vec::new);
        }
        slices[slice].push(s.latency_us);
    }
    let p99_by_half_second: Vec<f64> = slices
        .into_iter()
        .map(|mut us| {
            us.sort_unstable();
            pct(&us, 99.0)
        })
        .collect();
    let v = json!({
        "p99_ms_by_half_second": p99_by_half_second,
        "offered_rate": rate,
        "messages": send.sent.len(),
        "delivered_rate": (c.delivered as f64 / span).round(),
        "lost": c.lost.len(), "duplicates": c.duplicates.len(), "reordered": c.reorders.len(),
        "latency": lat,
        "server_cpu_s": cpu, "server_cpu_us_per_msg": (cpu * 1e6 / msgs).round(),
        "server_rss_mib": rss as f64 / 1024.0,
    });
    (c, v)
}

/// b1: fixed rate over N pairs (after the warm-up, if any).
async fn b1(api: &Api, args: &Args, prefix: &str, start: Instant) -> Res<()> {
    let setup = setup_pairs(api, args, prefix, args.pairs, 1, false, start).await?;
    let warmup = if args.warmup > 0.0 {
        let tag = format!("{prefix}b1w");
        let (send, _, window, t0) =
            pairs_phase(api, args, &setup.users, &setup.fleet, args.rate, args.warmup, &tag, start)
                .await;
        Some((send, window, t0))
    } else {
        None
    };
    let (send, _, window, t0) = pairs_phase(
        api,
        args,
        &setup.users,
        &setup.fleet,
        args.rate,
        args.duration,
        &format!("{prefix}b1"),
        start,
    )
    .await;
    let outs = setup.fleet.close().await;
    let (c, mut v) = phase_figures(&outs, &send, &window, t0, args.rate);
    if !c.ok() {
        c.print_failure("b1");
        return Err("b1 refused".into());
    }
    if let Some((send, window, t0)) = warmup {
        let (c, w) = phase_figures(&outs, &send, &window, t0, args.rate);
        if !c.ok() {
            c.print_failure("b1 warm-up");
            return Err("b1 refused".into());
        }
        v["warmup"] = json!({"duration_s": args.warmup, "latency": w["latency"]});
    }
    v["pairs"] = json!(args.pairs);
    v["duration_s"] = json!(args.duration);
    report("b1", v);
    Ok(())
}

/// b2: step the rate up until a step loses messages or its p99 passes the limit.
async fn b2(api: &Api, args: &Args, prefix: &str, start: Instant) -> Res<()> {
    let setup = setup_pairs(api, args, prefix, args.pairs, 1, false, start).await?;
    setup.fleet.ctl.late_us.store((args.p99_max_ms * 1000.0) as u64, Ordering::Relaxed);
    let mut steps = Vec::new();
    let mut best: Option<Value> = None;
    let mut sent_all: Vec<SendOut> = Vec::new();
    for (k, &rate) in args.rates.iter().enumerate() {
        let (late0, del0) = (
            setup.fleet.ctl.late.load(Ordering::Relaxed),
            setup.fleet.ctl.delivered.load(Ordering::Relaxed),
        );
        let (send, _, window, t0) = pairs_phase(
            api,
            args,
            &setup.users,
            &setup.fleet,
            rate,
            args.duration,
            &format!("{prefix}b2s{k}"),
            start,
        )
        .await;
        let late = setup.fleet.ctl.late.load(Ordering::Relaxed) - late0;
        let delivered = setup.fleet.ctl.delivered.load(Ordering::Relaxed) - del0;
        sent_all.push(send);
        let send = sent_all.last().expect("just pushed");
        let (cpu, _, rss) = window.end();
        let msgs = send.sent.len().max(1) as f64;
        let lost_or_err = !send.errors.is_empty();
        steps.push((rate, t0, cpu, rss, msgs, lost_or_err));
        // Per-step latency needs the sockets' samples: peek by closing only at the end; use
        // the delivered counter for loss and compute percentiles at the end.
        if lost_or_err {
            eprintln!("b2: step {rate}/s had send errors: {}", send.errors[0]);
            break;
        }
        eprintln!("b2: step {rate}/s sent {} in {:.1} s", send.sent.len(), send.offered_secs);
        // Stop early when the step clearly fell behind (deliveries still outstanding).
        let expected: usize = sent_all.iter().map(|s| s.sent.len()).sum();
        if (setup.fleet.ctl.delivered.load(Ordering::Relaxed) as usize) < expected {
            eprintln!("b2: step {rate}/s did not drain");
            break;
        }
        if late * 100 > delivered {
            eprintln!(
                "b2: step {rate}/s: {late} of {delivered} deliveries over {} ms; stopping",
                args.p99_max_ms
            );
            break;
        }
    }
    let outs = setup.fleet.close().await;
    let mut failed = Check::default();
    let mut rows = Vec::new();
    for (send, (rate, t0, cpu, rss, msgs, _)) in sent_all.iter().zip(steps) {
        let c = check(&outs, &send.sent, &send.errors);
        let samples: Vec<&Sample> = samples_since(&outs, &send.sent).collect();
        let last = samples.iter().map(|s| s.at).max().unwrap_or(t0);
        let span = last.saturating_duration_since(t0).as_secs_f64().max(1e-3);
        let lat = latency(samples.iter().map(|s| s.latency_us).collect());
        let pass = c.ok() && lat["p99_ms"].as_f64().is_some_and(|p| p <= args.p99_max_ms);
        let row = json!({"offered_rate": rate, "delivered_rate": (c.delivered as f64 / span).round(),
            "lost": c.lost.len(), "duplicates": c.duplicates.len(), "reordered": c.reorders.len(),
            "latency": lat, "server_cpu_us_per_msg": (cpu * 1e6 / msgs).round(),
            "server_rss_mib": rss as f64 / 1024.0, "pass": pass});
        eprintln!("b2 step: {row}");
        // Duplicates, reorders and errors refuse the whole run; loss ends the search (the
        // step is shown as failed with its loss, and no later step counts).
        failed.duplicates.extend(c.duplicates);
        failed.reorders.extend(c.reorders);
        failed.errors.extend(c.errors);
        // Rates go up: the best is the last step that passed with every step before it.
        if pass && rows.iter().all(|r: &Value| r["pass"] == true) {
            best = Some(row.clone());
        }
        rows.push(row);
    }
    if !failed.ok() {
        failed.print_failure("b2");
        return Err("b2 refused".into());
    }
    let v = json!({"pairs": args.pairs, "step_s": args.duration, "p99_limit_ms": args.p99_max_ms,
        "best": best.clone().unwrap_or(Value::Null),
        "max_sustained_rate": best.as_ref().map_or(json!(0), |b| b["offered_rate"].clone()),
        "steps": rows});
    report("b2", v);
    Ok(())
}

/// b3: group fan-out to M online members: paced messages, then a burst.
async fn b3(api: &Api, args: &Args, prefix: &str, start: Instant) -> Res<()> {
    let m = args.members.max(2);
    let users = make_users(api, prefix, m).await?;
    let owner = users[0].clone();
    let done: Vec<Res<()>> = futures_util::stream::iter(users[1..].iter().cloned())
        .map(|u| {
            let (api, owner) = (api.clone(), owner.clone());
            async move { api.befriend(&owner, &u).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    done.into_iter().collect::<Res<()>>()?;
    let ids: Vec<i64> = users[1..].iter().map(|u| u.id).collect();
    let gid = api
        .post(Some(&owner.token), "/api/v1/group/create", &json!({"member_ids": ids}))
        .await?["group_id"]
        .as_i64()
        .ok_or("group/create: no group_id")?;
    let specs = users
        .iter()
        .enumerate()
        .map(|(i, u)| ConnSpec {
            user_id: u.id,
            token: u.token.clone(),
            conversations: vec![(2, gid)],
            reconnect: false,
            src: src_ip(i, args.source_ips),
        })
        .collect();
    let fleet = Fleet::open(api, specs, start).await?;
    let recipients: Arc<[i64]> = Arc::from(ids.clone());
    let job =
        Job { token: owner.token.as_str().into(), session_type: 2, target_id: gid, recipients };
    let per_msg = (m - 1) as u64;

    // Paced: one every 100 ms.
    let window = ProcWindow::begin(args.server_pid);
    let t0 = Instant::now() + Duration::from_millis(50);
    let paced = send_schedule(
        api,
        vec![job.clone(); args.ticks],
        |i| Duration::from_millis(100 * i as u64),
        t0,
        start,
        &format!("{prefix}b3p"),
        args.max_inflight,
        None,
    )
    .await;
    drain(&fleet.ctl, per_msg * args.ticks as u64, Duration::from_secs_f64(args.drain_secs)).await;
    let (paced_cpu, _, _) = window.end();

    // Burst: all due at once.
    let window = ProcWindow::begin(args.server_pid);
    let t1 = Instant::now() + Duration::from_millis(50);
    let burst = send_schedule(
        api,
        vec![job; args.burst],
        |_| Duration::ZERO,
        t1,
        start,
        &format!("{prefix}b3b"),
        args.max_inflight,
        None,
    )
    .await;
    drain(
        &fleet.ctl,
        per_msg * (args.ticks + args.burst) as u64,
        Duration::from_secs_f64(args.drain_secs),
    )
    .await;
    let (burst_cpu, _, rss) = window.end();
    let outs = fleet.close().await;

    let mut all = check(&outs, &paced.sent, &paced.errors);
    let cb = check(&outs, &burst.sent, &burst.errors);
    all.lost.extend(cb.lost);
    all.duplicates.extend(cb.duplicates);
    all.reorders.extend(cb.reorders);
    all.errors.extend(cb.errors);
    all.duplicates.dedup();
    all.reorders.dedup();
    if !all.ok() {
        all.print_failure("b3");
        return Err("b3 refused".into());
    }
    // Last member per paced message.
    let mut last_member: HashMap<i64, u64> = HashMap::new();
    let mut per_delivery = Vec::new();
    for s in samples_since(&outs, &paced.sent) {
        let e = last_member.entry(s.message_id).or_insert(0);
        *e = (*e).max(s.latency_us);
        per_delivery.push(s.latency_us);
    }
    let burst_samples: Vec<&Sample> = samples_since(&outs, &burst.sent).collect();
    let burst_last = burst_samples.iter().map(|s| s.at).max().unwrap_or(t1);
    let burst_span = burst_last.saturating_duration_since(t1).as_secs_f64().max(1e-3);
    let v = json!({
        "members_online": m, "paced_messages": paced.sent.len(), "burst_messages": burst.sent.len(),
        "last_member_latency": latency(last_member.into_values().collect()),
        "per_delivery_latency": latency(per_delivery),
        "burst_deliveries": burst_samples.len(),
        "burst_span_s": burst_span,
        "burst_deliveries_per_s": (burst_samples.len() as f64 / burst_span).round(),
        "burst_last_member_ms": burst_span * 1000.0,
        "server_cpu_us_per_delivery_paced": (paced_cpu * 1e6 / (paced.sent.len().max(1) as f64 * per_msg as f64)).round(),
        "server_cpu_us_per_delivery_burst": (burst_cpu * 1e6 / (burst.sent.len().max(1) as f64 * per_msg as f64)).round(),
        "server_rss_mib": rss as f64 / 1024.0,
    });
    report("b3", v);
    Ok(())
}

/// A helper process holding a share of b4's sockets.
struct Holder {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Holder {
    /// Start it with `specs` (one line each: user id, source address, token) and wait until
    /// all of its sockets are open.
    async fn start(url: &str, specs: &[ConnSpec]) -> Res<Holder> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = tokio::process::Command::new(exe)
            .args(["--url", url, "--scenario", "hold"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("helper process: {e}"))?;
        let mut stdin = child.stdin.take().ok_or("helper stdin")?;
        let mut list = String::new();
        for spec in specs {
            list.push_str(&format!("{} {} {}\n", spec.user_id, spec.src, spec.token));
        }
        list.push('\n');
        stdin.write_all(list.as_bytes()).await.map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("helper stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        match lines.next_line().await.map_err(|e| e.to_string())? {
            Some(line) if line.starts_with("OPEN ") => {}
            other => return Err(format!("helper process did not open its sockets: {other:?}")),
        }
        Ok(Holder { child, stdin: Some(stdin), lines })
    }

    /// Close its sockets; how many were still open until then.
    async fn finish(mut self) -> Result<usize, String> {
        drop(self.stdin.take());
        let line = self.lines.next_line().await.map_err(|e| e.to_string())?.unwrap_or_default();
        let _ = self.child.wait().await;
        let open = line.strip_prefix("DONE ").and_then(|n| n.parse().ok());
        open.ok_or_else(|| format!("helper process: {line}"))
    }
}

/// `--scenario hold`: open the sockets listed on stdin, say `OPEN n`, hold them until stdin
/// closes, then say `DONE <still open>` (or why not).
async fn hold(api: &Api, start: Instant) -> Res<()> {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut specs = Vec::new();
    while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
        let mut f = line.split_whitespace();
        let (Some(user), Some(src), Some(token)) = (f.next(), f.next(), f.next()) else { break };
        specs.push(ConnSpec {
            user_id: user.parse().map_err(|_| "bad user id")?,
            token: token.to_string(),
            conversations: vec![],
            reconnect: false,
            src: src.parse().map_err(|_| "bad source address")?,
        });
    }
    let n = specs.len();
    let fleet = Fleet::open(api, specs, start).await?;
    println!("OPEN {n}");
    while lines.next_line().await.map_err(|e| e.to_string())?.is_some() {}
    let open = fleet.ctl.open.load(Ordering::Relaxed);
    let outs = fleet.close().await;
    match outs.iter().find_map(|o| o.error.clone()) {
        Some(e) => println!("FAILED {e}"),
        None => println!("DONE {open}"),
    }
    Ok(())
}

/// b4: K idle authenticated sockets: RSS per connection, idle CPU.
async fn b4(api: &Api, args: &Args, prefix: &str, start: Instant) -> Res<()> {
    let cpu = args.conns_per_user.clamp(1, 10);
    let users = make_users(api, prefix, args.conns.div_ceil(cpu)).await?;
    let settle = Duration::from_secs_f64(args.idle_secs.clamp(0.2, 2.0));
    tokio::time::sleep(settle).await;
    let before = proc_sample(args.server_pid);
    let mut specs: Vec<ConnSpec> = (0..args.conns)
        .map(|i| {
            let u = &users[i / cpu];
            ConnSpec {
                user_id: u.id,
                token: u.token.clone(),
                conversations: vec![],
                reconnect: false,
                src: src_ip(i, args.source_ips),
            }
        })
        .collect();
    // This process holds the first share; helper processes (this binary, `--scenario hold`)
    // the others.
    let share = args.conns.div_ceil(args.procs.max(1));
    let mut helpers = Vec::new();
    for part in specs.split_off(share.min(specs.len())).chunks(share) {
        helpers.push(Holder::start(&api.base, part).await?);
    }
    let fleet = Fleet::open(api, specs, start).await?;
    tokio::time::sleep(settle).await;
    let window = ProcWindow::begin(args.server_pid);
    tokio::time::sleep(Duration::from_secs_f64(args.idle_secs)).await;
    let (idle_cpu, wall, rss_after) = window.end();
    let mut still_open = fleet.ctl.open.load(Ordering::Relaxed);
    let outs = fleet.close().await;
    let mut errors: Vec<String> = outs.iter().filter_map(|o| o.error.clone()).collect();
    for helper in helpers {
        match helper.finish().await {
            Ok(open) => still_open += open,
            Err(e) => errors.push(e),
        }
    }
    if still_open != args.conns || !errors.is_empty() {
        eprintln!(
            "REFUSED b4: {still_open} of {} sockets still open; {:?}",
            args.conns,
            errors.first()
        );
        return Err("b4 refused".into());
    }
    let rss_before = before.map_or(0, |b| b.1);
    let delta_kib = rss_after as f64 - rss_before as f64;
    let core_pct = idle_cpu / wall * 100.0;
    let v = json!({
        "sockets": args.conns, "users": users.len(), "client_processes": args.procs.max(1),
        "server_rss_before_mib": rss_before as f64 / 1024.0, "server_rss_after_mib": rss_after as f64 / 1024.0,
        "rss_kib_per_socket": delta_kib / args.conns as f64,
        "idle_cpu_pct_of_core": core_pct,
        "idle_cpu_pct_per_10k": core_pct * 10000.0 / args.conns as f64,
        "idle_window_s": wall,
    });
    report("b4", v);
    Ok(())
}

/// How b5 restarts the server.
enum Restarter {
    /// A shell command (kills -9, starts again, returns when ready; may print the new pid).
    Cmd(String),
    /// Our own child (smoke).
    Child(Arc<std::sync::Mutex<Server>>),
}

impl Restarter {
    /// Kill -9 and start again; the new pid when known.
    async fn restart(&self, api: &Api) -> Res<Option<u32>> {
        let pid = match self {
            Restarter::Cmd(cmd) => {
                let out = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .output()
                    .await
                    .map_err(|e| e.to_string())?;
                if !out.status.success() {
                    return Err(format!(
                        "restart command failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .last()
                    .and_then(|l| l.trim().parse().ok())
            }
            Restarter::Child(server) => {
                let mut s = server.lock().expect("server");
                s.kill();
                s.spawn()?;
                Some(s.pid())
            }
        };
        let began = Instant::now();
        while !api.ready().await {
            if began.elapsed() > Duration::from_secs(30) {
                return Err("server not ready 30 s after restart".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(pid)
    }
}

/// b5: K sockets (pairs × 2 × conns_per_user), traffic, kill -9 + restart mid-traffic.
async fn b5(api: &Api, args: &Args, prefix: &str, start: Instant, restarter: Restarter) -> Res<()> {
    let cpu = args.conns_per_user.clamp(1, 10);
    let pairs = (args.conns / (2 * cpu)).max(1);
    let setup = setup_pairs(api, args, prefix, pairs, cpu, true, start).await?;
    let k = pairs * 2 * cpu;
    let n = ((args.rate * args.duration).round() as usize).max(2);
    let jobs = pair_jobs(&setup.users, n);
    let rate = args.rate;
    let t0 = Instant::now() + Duration::from_millis(50);
    let kill_at = t0 + Duration::from_secs_f64(args.duration / 2.0);
    let api2 = api.clone();
    let restart = tokio::spawn(async move {
        tokio::time::sleep_until(kill_at.into()).await;
        let killed = Instant::now();
        let r = restarter.restart(&api2).await;
        (killed, Instant::now(), r)
    });
    let send = send_schedule(
        api,
        jobs,
        |i| Duration::from_secs_f64(i as f64 / rate),
        t0,
        start,
        &format!("{prefix}b5"),
        args.max_inflight,
        Some(Duration::from_secs(30)),
    )
    .await;
    let (killed, ready, new_pid) = restart.await.map_err(|e| e.to_string())?;
    let new_pid = new_pid?;
    let expected: u64 = send
        .sent
        .iter()
        .map(|s| s.recipients.iter().map(|u| setup.fleet.per_user[u] as u64).sum::<u64>())
        .sum();
    // Wait for everyone to be back and caught up, then for the deliveries.
    let began = Instant::now();
    while setup.fleet.ctl.caught_up.load(Ordering::Relaxed) < k
        && began.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drain(&setup.fleet.ctl, expected, Duration::from_secs_f64(args.drain_secs)).await;
    let rss = proc_sample(new_pid.or(args.server_pid)).map_or(0, |p| p.1);
    let outs = setup.fleet.close().await;
    let c = check(&outs, &send.sent, &send.errors);
    let reconnected = outs.iter().filter(|o| o.connects >= 2).count();
    let within = |from: Instant| {
        outs.iter()
            .filter(|o| {
                o.caught_up_at
                    .is_some_and(|t| t.saturating_duration_since(from) <= Duration::from_secs(5))
            })
            .count()
    };
    let mut times: Vec<u64> = outs
        .iter()
        .filter_map(|o| {
            o.caught_up_at.map(|t| t.saturating_duration_since(ready).as_micros() as u64)
        })
        .collect();
    times.sort_unstable();
    if !c.ok() {
        c.print_failure("b5");
        return Err("b5 refused".into());
    }
    let v = json!({
        "sockets": k, "users": setup.users.len(), "messages": send.sent.len(), "offered_rate": rate,
        "restart_s": ready.duration_since(killed).as_secs_f64(),
        "reconnected": reconnected,
        "pct_caught_up_5s_after_ready": within(ready) as f64 * 100.0 / k as f64,
        "pct_caught_up_5s_after_kill": within(killed) as f64 * 100.0 / k as f64,
        "caught_up_after_ready_p50_ms": pct(&times, 50.0), "caught_up_after_ready_p99_ms": pct(&times, 99.0),
        "caught_up_after_ready_max_ms": pct(&times, 100.0),
        "lost": c.lost.len(), "duplicates": c.duplicates.len(), "reordered": c.reorders.len(),
        "server_rss_mib_after": rss as f64 / 1024.0,
    });
    report("b5", v);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Smoke: our own server.

/// A `jim serve` child on a temp data dir.
struct Server {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Server {
    fn spawn(&mut self) -> Res<()> {
        let log = std::fs::File::create(self.dir.join("server.log")).map_err(|e| e.to_string())?;
        let child = Command::new(&self.bin)
            .arg("-O")
            .arg(format!("data_dir={}", self.dir.display()))
            .arg("-O")
            .arg(format!("http.listen=127.0.0.1:{}", self.port))
            .args([
                "-O",
                "http.workers=2",
                "-O",
                "auth.captcha_on_register=false",
                "-O",
                "auth.bcrypt_cost=4",
            ])
            .args(["-O", "log.level=warn", "-O", "chat.world_enabled=false", "serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn smoke(args: &Args, start: Instant) -> Res<()> {
    let bin = args.jim.clone().unwrap_or_else(|| PathBuf::from("target/debug/jim"));
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut server = Server { bin, dir: dir.path().to_path_buf(), port, child: None };
    server.spawn()?;
    let api = Api::new(&format!("http://127.0.0.1:{port}"))?;
    let began = Instant::now();
    while !api.ready().await {
        if began.elapsed() > Duration::from_secs(15) {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            return Err(format!("server not ready after 15 s: {log}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let server = Arc::new(std::sync::Mutex::new(server));
    let mut a = args.clone();
    a.server_pid = Some(server.lock().expect("server").pid());
    a.pairs = 5;
    a.rate = 50.0;
    a.duration = 1.0;
    a.drain_secs = 3.0;
    b1(&api, &a, "smk1u", start).await?;
    a.members = 6;
    a.ticks = 5;
    a.burst = 20;
    b3(&api, &a, "smk3u", start).await?;
    a.conns = 20;
    a.idle_secs = 0.5;
    // Two processes, as the ~19k step runs.
    a.procs = 2;
    b4(&api, &a, "smk4u", start).await?;
    a.procs = 1;
    a.conns = 8;
    a.conns_per_user = 2;
    a.rate = 40.0;
    a.duration = 1.5;
    b5(&api, &a, "smk5u", start, Restarter::Child(server.clone())).await?;
    server.lock().expect("server").kill();
    println!("SMOKE OK");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let start = Instant::now();
    let prefix = args.prefix.clone().unwrap_or_else(|| {
        let t =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("ld{:x}u", t.as_millis() % 0xffff_ffff)
    });
    let result = if args.smoke {
        smoke(&args, start).await
    } else {
        match Api::new(&args.url) {
            Err(e) => Err(e),
            Ok(api) => match args.scenario {
                Scenario::B1 => b1(&api, &args, &prefix, start).await,
                Scenario::B2 => b2(&api, &args, &prefix, start).await,
                Scenario::B3 => b3(&api, &args, &prefix, start).await,
                Scenario::B4 => b4(&api, &args, &prefix, start).await,
                Scenario::Hold => hold(&api, start).await,
                Scenario::B5 => match &args.restart_cmd {
                    Some(cmd) => b5(&api, &args, &prefix, start, Restarter::Cmd(cmd.clone())).await,
                    None => Err("b5 needs --restart-cmd".into()),
                },
            },
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
    }
}
