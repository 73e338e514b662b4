//! The registry of live connections, owned by one task and driven by commands. Delivery work
//! is proportional to the recipients this instance holds: lookups are by user id.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{mpsc, oneshot, watch};

use super::frames::Outbound;
use crate::config::WsConfig;
use crate::domain::UserId;

/// Close code and reason.
pub type CloseFrame = (u16, String);

/// Close codes we use.
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_TOO_BIG: u16 = 1009;
/// The session was revoked or the account disabled (application-defined range).
pub const CLOSE_KICKED: u16 = 4001;
/// The client stopped answering pings.
pub const CLOSE_IDLE: u16 = 4008;

/// What the hub keeps per connection.
struct Conn {
    id: u64,
    session_id: i64,
    tx: mpsc::Sender<Outbound>,
    close: watch::Sender<Option<CloseFrame>>,
    shared: Arc<Shared>,
}

/// What a connection's task and the hub share.
#[derive(Debug, Default)]
pub struct Shared {
    /// Whether the connection receives the world channel.
    pub world: AtomicBool,
    /// Bytes of the items queued for the connection that its task has not written yet.
    queued_bytes: AtomicUsize,
}

impl Shared {
    /// The connection's task is writing `item` (or gave it up): it no longer counts as queued.
    pub fn taken(&self, item: &Outbound) {
        self.queued_bytes.fetch_sub(item.bytes(), Ordering::Relaxed);
    }
}

impl Conn {
    /// Queue `item` for the connection; false when it has fallen too far behind (its queue
    /// full, or `limit` bytes in it: `ws.send_queue` and `ws.send_queue_bytes`) or is gone.
    /// Only the hub adds to the count, so checking and adding cannot race; the connection's
    /// task takes items off as it writes them.
    fn offer(&self, item: Outbound, limit: usize) -> bool {
        let size = item.bytes();
        let queued = self.shared.queued_bytes.load(Ordering::Relaxed);
        // An empty queue takes one item of any size, so no frame is undeliverable.
        if queued > 0 && queued + size > limit {
            return false;
        }
        self.shared.queued_bytes.fetch_add(size, Ordering::Relaxed);
        if self.tx.try_send(item).is_err() {
            self.shared.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// Who a delivery is for.
#[derive(Debug, Clone)]
pub enum Targets {
    Users(Vec<UserId>),
    /// One connection of a user.
    Conn(UserId, u64),
    /// Every connection with the world channel on.
    World,
}

enum Command {
    Connect { user_id: UserId, conn: Conn, reply: oneshot::Sender<Result<(), ConnectError>> },
    Disconnect { user_id: UserId, conn_id: u64 },
    Deliver { targets: Targets, frame: Outbound, except_conn: Option<u64> },
    Kick { user_id: UserId, session_ids: Vec<i64>, kicked: Outbound },
    Online { reply: oneshot::Sender<Vec<UserId>> },
    ResyncAll,
    Shutdown { reply: oneshot::Sender<usize> },
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    TooManyConnections,
    ShuttingDown,
}

/// A user's connection count on this instance went 0 → 1 (`true`) or 1 → 0 (`false`).
pub type PresenceChange = (UserId, bool);

/// The sending half a connection gets when it registers.
pub struct Registration {
    pub conn_id: u64,
    pub rx: mpsc::Receiver<Outbound>,
    pub close: watch::Receiver<Option<CloseFrame>>,
    /// Closing from inside the connection (idle, protocol errors) goes through this too.
    pub close_tx: watch::Sender<Option<CloseFrame>>,
    pub shared: Arc<Shared>,
}

/// Cheap handle to the hub task.
#[derive(Clone)]
pub struct HubHandle {
    cmd: mpsc::Sender<Command>,
    next_id: Arc<AtomicU64>,
    queue: usize,
}

impl HubHandle {
    /// Start the hub task with the `ws` settings (connections per user, queue bounds).
    /// Presence changes of local users are sent to `presence`.
    pub fn start(ws: &WsConfig, presence: mpsc::UnboundedSender<PresenceChange>) -> Self {
        let (cmd, rx) = mpsc::channel(65_536);
        let max_per_user = ws.max_connections_per_user.max(1);
        tokio::spawn(run(rx, max_per_user, ws.send_queue_bytes.max(1), presence));
        Self { cmd, next_id: Arc::new(AtomicU64::new(1)), queue: ws.send_queue.max(1) }
    }

    /// Register a connection of `user_id` bound to `session_id`.
    pub async fn connect(
        &self,
        user_id: UserId,
        session_id: i64,
    ) -> Result<Registration, ConnectError> {
        let (tx, rx) = mpsc::channel(self.queue);
        let (close_tx, close) = watch::channel(None);
        let shared = Arc::new(Shared { world: AtomicBool::new(true), ..Shared::default() });
        let conn_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn =
            Conn { id: conn_id, session_id, tx, close: close_tx.clone(), shared: shared.clone() };
        let (reply, answer) = oneshot::channel();
        self.cmd
            .send(Command::Connect { user_id, conn, reply })
            .await
            .map_err(|_| ConnectError::ShuttingDown)?;
        answer.await.map_err(|_| ConnectError::ShuttingDown)??;
        Ok(Registration { conn_id, rx, close, close_tx, shared })
    }

    pub async fn disconnect(&self, user_id: UserId, conn_id: u64) {
        let _ = self.cmd.send(Command::Disconnect { user_id, conn_id }).await;
    }

    /// Queue `frame` for every connection of `targets` (except `except_conn`).
    pub async fn deliver(&self, targets: Targets, frame: Outbound, except_conn: Option<u64>) {
        let _ = self.cmd.send(Command::Deliver { targets, frame, except_conn }).await;
    }

    /// Send `kicked` to the user's connections bound to `session_ids` (all when empty), then
    /// close them.
    pub async fn kick(&self, user_id: UserId, session_ids: Vec<i64>, kicked: Outbound) {
        let _ = self.cmd.send(Command::Kick { user_id, session_ids, kicked }).await;
    }

    /// Ask every connection to re-read its rooms (after pushes may have been lost).
    pub async fn resync_all(&self) {
        let _ = self.cmd.send(Command::ResyncAll).await;
    }

    /// Users with at least one connection here.
    pub async fn online_users(&self) -> Vec<UserId> {
        let (reply, answer) = oneshot::channel();
        if self.cmd.send(Command::Online { reply }).await.is_err() {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }

    /// Close every connection with 1001 and refuse new ones; returns how many were open.
    pub async fn shutdown(&self) -> usize {
        let (reply, answer) = oneshot::channel();
        if self.cmd.send(Command::Shutdown { reply }).await.is_err() {
            return 0;
        }
        answer.await.unwrap_or(0)
    }
}

async fn run(
    mut rx: mpsc::Receiver<Command>,
    max_per_user: usize,
    max_bytes: usize,
    presence: mpsc::UnboundedSender<PresenceChange>,
) {
    let mut users: HashMap<UserId, Vec<Conn>> = HashMap::new();
    let mut closing = false;
    while let Some(command) = rx.recv().await {
        match command {
            Command::Connect { user_id, conn, reply } => {
                let conns = users.entry(user_id).or_default();
                let result = if closing {
                    Err(ConnectError::ShuttingDown)
                } else if conns.len() >= max_per_user {
                    Err(ConnectError::TooManyConnections)
                } else {
                    conns.push(conn);
                    if conns.len() == 1 {
                        let _ = presence.send((user_id, true));
                    }
                    Ok(())
                };
                if conns.is_empty() {
                    users.remove(&user_id);
                }
                let _ = reply.send(result);
            }
            Command::Disconnect { user_id, conn_id } => {
                remove(&mut users, user_id, conn_id, &presence)
            }
            Command::Deliver { targets, frame, except_conn } => {
                let mut overflowed = Vec::new();
                let mut offer = |user_id: UserId, conn: &Conn| {
                    if Some(conn.id) == except_conn {
                        return;
                    }
                    if !conn.offer(frame.clone(), max_bytes) {
                        // Too far behind (a client that stopped reading) or gone: close it
                        // rather than buffer without bound; it will catch up by message id
                        // on reconnect.
                        let _ = conn.close.send(Some((CLOSE_POLICY, "send queue overflow".into())));
                        metrics::counter!("jim_ws_slow_consumer_closes_total").increment(1);
                        overflowed.push((user_id, conn.id));
                    }
                };
                match &targets {
                    Targets::Users(ids) => {
                        for user_id in ids {
                            for conn in users.get(user_id).into_iter().flatten() {
                                offer(*user_id, conn);
                            }
                        }
                    }
                    Targets::Conn(user_id, conn_id) => {
                        for conn in users.get(user_id).into_iter().flatten() {
                            if conn.id == *conn_id {
                                offer(*user_id, conn);
                            }
                        }
                    }
                    Targets::World => {
                        for (user_id, conns) in &users {
                            for conn in
                                conns.iter().filter(|c| c.shared.world.load(Ordering::Relaxed))
                            {
                                offer(*user_id, conn);
                            }
                        }
                    }
                }
                for (user_id, conn_id) in overflowed {
                    remove(&mut users, user_id, conn_id, &presence);
                }
            }
            Command::Kick { user_id, session_ids, kicked } => {
                if let Some(conns) = users.get(&user_id) {
                    for conn in conns
                        .iter()
                        .filter(|c| session_ids.is_empty() || session_ids.contains(&c.session_id))
                    {
                        // The frame and then the close go through the queue, in that order.
                        if !conn.offer(kicked.clone(), max_bytes)
                            || !conn.offer(
                                Outbound::Close(CLOSE_KICKED, "session ended".into()),
                                max_bytes,
                            )
                        {
                            let _ = conn.close.send(Some((CLOSE_KICKED, "session ended".into())));
                        }
                    }
                }
            }
            Command::ResyncAll => {
                let mut overflowed = Vec::new();
                for (user_id, conns) in &users {
                    for conn in conns {
                        if !conn.offer(Outbound::Resync, max_bytes) {
                            let _ =
                                conn.close.send(Some((CLOSE_POLICY, "send queue overflow".into())));
                            metrics::counter!("jim_ws_slow_consumer_closes_total").increment(1);
                            overflowed.push((*user_id, conn.id));
                        }
                    }
                }
                for (user_id, conn_id) in overflowed {
                    remove(&mut users, user_id, conn_id, &presence);
                }
            }
            Command::Online { reply } => {
                let _ = reply.send(users.keys().copied().collect());
            }
            Command::Shutdown { reply } => {
                closing = true;
                let mut n = 0;
                for conns in users.values() {
                    for conn in conns {
                        n += 1;
                        let _ = conn
                            .close
                            .send(Some((CLOSE_GOING_AWAY, "server shutting down".into())));
                    }
                }
                let _ = reply.send(n);
            }
        }
    }
}

fn remove(
    users: &mut HashMap<UserId, Vec<Conn>>,
    user_id: UserId,
    conn_id: u64,
    presence: &mpsc::UnboundedSender<PresenceChange>,
) {
    if let Some(conns) = users.get_mut(&user_id) {
        let before = conns.len();
        conns.retain(|c| c.id != conn_id);
        if conns.is_empty() {
            users.remove(&user_id);
            if before > 0 {
                let _ = presence.send((user_id, false));
            }
        }
    }
}
