//! How a change reaches every server: revocations move the shared session epoch and go out on
//! the bus; what the bus cannot carry (it failed, or the sender is the CLI, whose bus is
//! in-process) is recorded in the control table, which every server polls and relays to its
//! own subscribers.

use std::sync::Arc;
use std::time::Duration;

use slog::Logger;

use super::auth_cache::AuthCache;
use super::{Bus, Event, RevokeReason};
use crate::db::{Db, now_ms};
use crate::domain::UserId;

/// Tells every server (this one included) about revocations and admin actions.
#[derive(Clone)]
pub struct Notifier {
    db: Db,
    bus: Bus,
    auth_cache: Arc<AuthCache>,
    log: Logger,
}

impl Notifier {
    pub fn new(db: Db, bus: Bus, auth_cache: Arc<AuthCache>, log: Logger) -> Self {
        Self { db, bus, auth_cache, log }
    }

    /// Stop every process using sessions (and "may message" answers) it verified before now
    /// (see [`AuthCache`]). Call after a revocation committed, before answering.
    pub async fn invalidate_verified(&self) {
        if let Err(e) = self.auth_cache.invalidate().await {
            // Servers still drop their entries when they hear the revocation (bus or control
            // table); until then they may accept the revoked session.
            slog::error!(self.log, "cannot move the session epoch"; "error" => e.to_string());
        }
    }

    /// Tell every instance that sessions ended, so their sockets close.
    pub async fn announce_revocation(
        &self,
        user_id: UserId,
        session_ids: Vec<i64>,
        reason: RevokeReason,
    ) {
        self.invalidate_verified().await;
        let event = Event::SessionsRevoked { user_id, session_ids, reason };
        if let Err(e) = self.bus.publish(event.clone()).await {
            // The database already refuses these sessions; only the socket close is late.
            // Fall back to the control table that every server polls.
            slog::warn!(self.log, "revocation publish failed; using control table"; "error" => e.to_string());
            self.record_for_servers(event).await;
        }
    }

    /// Record an event in the control table that every server polls (how the CLI reaches
    /// running servers in both profiles).
    pub async fn record_for_servers(&self, event: Event) {
        let user_id = event.user_id().map_or(0, UserId::get);
        let payload = serde_json::to_string(&event).unwrap_or_default();
        if let Err(e) = self.db.control_insert("event".into(), user_id, payload, now_ms()).await {
            slog::error!(self.log, "cannot record control event"; "error" => e.to_string());
        }
    }
}

/// How often servers look for admin actions recorded by the CLI.
const CONTROL_POLL: Duration = Duration::from_millis(500);
/// Control events older than this are removed.
const CONTROL_RETENTION_MS: i64 = 24 * 3600 * 1000;

/// Relay admin actions recorded in `control_events` (by `jim user …` in another process) to
/// this instance's subscribers, so that e.g. a disabled user's sockets close at once.
pub async fn relay_control_events(db: Db, bus: Bus, log: Logger) {
    let mut last = loop {
        match db.control_max_id().await {
            Ok(id) => break id,
            Err(_) => tokio::time::sleep(CONTROL_POLL).await,
        }
    };
    let mut tick = tokio::time::interval(CONTROL_POLL);
    let mut polls: u64 = 0;
    loop {
        tick.tick().await;
        polls += 1;
        match db.control_since(last, 200).await {
            Ok(rows) => {
                for row in rows {
                    last = row.id;
                    match serde_json::from_str::<Event>(&row.payload) {
                        Ok(event) => {
                            bus.deliver_local(event);
                        }
                        Err(e) => slog::warn!(log, "control event not understood";
                            "id" => row.id, "error" => e.to_string()),
                    }
                }
            }
            Err(e) => slog::warn!(log, "control poll failed"; "error" => e.to_string()),
        }
        if polls.is_multiple_of(7200) {
            let _ = db.control_purge(now_ms() - CONTROL_RETENTION_MS).await;
        }
    }
}
