//! Turns bus events (from any instance) into frames for the connections this instance holds,
//! keeps the presence table, and announces this instance's own presence changes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::json;
use slog::{Logger, warn};
use tokio::sync::{broadcast, mpsc};

use super::frames::{ChatPush, Outbound, frame};
use super::hub::{HubHandle, PresenceChange, Targets};
use super::presence::SNAPSHOT_EVERY;
use crate::bus::call::{CallFrame, CallTarget};
use crate::bus::{BusMessage, Event, FriendEventKind};
use crate::domain::{SessionType, UserId};
use crate::service::friend;
use crate::state::AppState;

/// Run the relay until the bus closes.
pub async fn run(
    state: actix_web::web::Data<AppState>,
    mut presence_changes: mpsc::UnboundedReceiver<PresenceChange>,
    log: Logger,
) {
    let mut events = state.bus.subscribe();
    let mut snapshot = tokio::time::interval(SNAPSHOT_EVERY);
    let mut relayed = RelayedRooms::default();
    // Presence announcements read the database; they run beside the relay so that chat
    // pushes never queue behind a storm of (re)connections.
    let (announce, announcements) = mpsc::unbounded_channel();
    tokio::spawn(announcer(state.clone(), announcements, log.clone()));
    loop {
        tokio::select! {
            received = events.recv() => match received {
                Ok(message) => handle(&state, &message, &mut relayed, &announce, &log).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // Events were skipped: every connection re-reads its rooms from the store.
                    warn!(log, "relay lagged; connections resynchronised"; "skipped" => n);
                    relayed.forget();
                    state.hub.resync_all().await;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            Some((user_id, online)) = presence_changes.recv() => {
                state.publisher.publish(Event::Presence { instance: state.instance_id.clone(), user_id, online });
            }
            _ = snapshot.tick() => {
                let user_ids = state.hub.online_users().await;
                state.publisher.publish(Event::PresenceSnapshot { instance: state.instance_id.clone(), user_ids });
            }
        }
    }
}

/// The last message id this relay pushed per room, to tell connections when a message
/// directly follows one already relayed here (see [`Outbound::Chat`]). Bounded: forgetting
/// only costs connections a look-back query.
#[derive(Default)]
struct RelayedRooms {
    last: HashMap<Arc<str>, i64>,
}

impl RelayedRooms {
    const MAX_ROOMS: usize = 200_000;

    /// Record `message_id` of `room_id`; whether it follows the last one relayed.
    fn follows(&mut self, room_id: &Arc<str>, message_id: i64) -> bool {
        if self.last.len() >= Self::MAX_ROOMS && !self.last.contains_key(room_id) {
            self.forget();
        }
        let last = self.last.entry(room_id.clone()).or_insert(0);
        let follows = *last == message_id - 1;
        *last = (*last).max(message_id);
        follows
    }

    /// After pushes may have been skipped.
    fn forget(&mut self) {
        self.last.clear();
    }
}

async fn handle(
    state: &AppState,
    message: &Arc<BusMessage>,
    relayed: &mut RelayedRooms,
    announce: &mpsc::UnboundedSender<UserId>,
    log: &Logger,
) {
    let hub: &HubHandle = &state.hub;
    match &message.event {
        Event::ChatMessage { message, recipient_ids } => {
            let targets = if message.session_type == SessionType::World {
                Targets::World
            } else {
                Targets::Users(recipient_ids.clone())
            };
            let room_id: Arc<str> = Arc::from(message.room_id.as_str());
            let out = Outbound::Chat(Arc::new(ChatPush {
                follows: relayed.follows(&room_id, message.message_id),
                room_id,
                message_id: message.message_id,
                frame: frame("chat_message", message),
            }));
            hub.deliver(targets, out, None).await;
        }
        Event::MessageRecalled { message, recipient_ids, actor_id } => {
            let data = json!({"room_id": message.room_id, "message_id": message.message_id,
                "session_type": message.session_type, "sender_id": message.sender_id,
                "receiver_id": message.receiver_id, "actor_id": actor_id, "status": message.status});
            hub.deliver(
                Targets::Users(recipient_ids.clone()),
                Outbound::Frame(frame("message_recalled", data)),
                None,
            )
            .await;
        }
        Event::MessageDeleted { user_id, room_id, message_id } => {
            let data = json!({"room_id": room_id, "message_id": message_id});
            hub.deliver(
                Targets::Users(vec![*user_id]),
                Outbound::Frame(frame("message_deleted", data)),
                None,
            )
            .await;
        }
        Event::ReadPosition {
            user_id,
            room_id,
            session_type,
            target_id,
            read_message_id,
            recipient_ids,
        } => {
            let data = json!({"user_id": user_id, "room_id": room_id, "session_type": session_type,
                "target_id": target_id, "read_message_id": read_message_id});
            hub.deliver(
                Targets::Users(recipient_ids.clone()),
                Outbound::Frame(frame("read_position", data)),
                None,
            )
            .await;
        }
        Event::ConversationFlagged { user_id, room_id, session_type, target_id, pinned, muted } => {
            let mut data = json!({"room_id": room_id, "session_type": session_type,
                "target_id": target_id});
            if let Some(pinned) = pinned {
                data["pinned"] = json!(pinned);
            }
            if let Some(muted) = muted {
                data["muted"] = json!(muted);
            }
            hub.deliver(
                Targets::Users(vec![*user_id]),
                Outbound::Frame(frame("conversation_flagged", data)),
                None,
            )
            .await;
        }
        Event::Friend { recipient_ids, kind, actor_id, friend_id, invite } => {
            let name = match kind {
                FriendEventKind::InviteReceived
                | FriendEventKind::InviteRejected
                | FriendEventKind::InviteAccepted => "friend_invite",
                _ => "friend_event",
            };
            let data = friend::push_data(*kind, *actor_id, *friend_id, invite.as_ref());
            hub.deliver(
                Targets::Users(recipient_ids.clone()),
                Outbound::Frame(frame(name, data)),
                None,
            )
            .await;
        }
        Event::Group { group_id, kind, actor_id, target_ids, values, member_ids } => {
            let mut to = member_ids.clone();
            to.extend(target_ids.iter().copied().filter(|t| !member_ids.contains(t)));
            let data = json!({"group_id": group_id, "kind": kind, "actor_id": actor_id,
                "target_ids": target_ids, "values": values});
            hub.deliver(Targets::Users(to), Outbound::Frame(frame("group_event", data)), None)
                .await;
        }
        Event::SessionsRevoked { user_id, session_ids, reason } => {
            // Normally the revoker moved the shared epoch already; this covers a revoker
            // that could not reach Redis.
            state.auth_cache.clear();
            let kicked = Outbound::Frame(frame("kicked", json!({"reason": reason})));
            hub.kick(*user_id, session_ids.clone(), kicked).await;
        }
        Event::Typing { user_id, session_type, target_id, room_id, recipient_ids } => {
            let to: Vec<UserId> = recipient_ids.iter().copied().filter(|r| r != user_id).collect();
            let data = json!({"user_id": user_id, "session_type": session_type, "target_id": target_id, "room_id": room_id});
            hub.deliver(Targets::Users(to), Outbound::Frame(frame("typing", data)), None).await;
        }
        Event::Presence { instance, user_id, online } => {
            if state.presence.apply_change(instance, *user_id, *online) {
                let _ = announce.send(*user_id);
            }
        }
        Event::PresenceSnapshot { instance, user_ids } => {
            for user_id in state.presence.apply_snapshot(instance, user_ids) {
                let _ = announce.send(user_id);
            }
        }
        Event::StatusChanged { user_id } => {
            if state.presence.is_online(*user_id) {
                let _ = announce.send(*user_id);
            }
        }
        Event::Resync { reason } => {
            warn!(log, "resynchronising connections"; "reason" => reason.as_str());
            relayed.forget();
            hub.resync_all().await;
        }
        Event::CallCommand { home, call_id, device, command } => {
            if *home == state.instance_id {
                state.calls.command(call_id, device, command.clone());
            }
        }
        Event::CallFrames { frames } => deliver_call_frames(state, frames).await,
        Event::CallHeartbeat { instance, call_ids } => {
            state.calls.heard(instance, call_ids.clone());
        }
        Event::Probe { .. } => {}
    }
}

/// Write a call's frames to the devices connected here, in order. A device told that the
/// call is over for it (ended, or answered on another device) stops being watched here.
async fn deliver_call_frames(state: &AppState, frames: &[CallFrame]) {
    let me = state.instance_id.as_str();
    for f in frames {
        let targets = match &f.to {
            CallTarget::Device { device } if device.instance == me => {
                if matches!(f.kind.as_str(), "call_ended" | "call_answered_elsewhere")
                    && let Some(call_id) = f.data.get("call_id").and_then(|v| v.as_str())
                {
                    state.calls.unwatch(call_id, device);
                }
                Targets::Conn(device.user_id, device.conn_id)
            }
            CallTarget::Device { .. } => continue,
            CallTarget::User { user_id, except } => {
                let except_conn = except.as_ref().filter(|d| d.instance == me).map(|d| d.conn_id);
                let out = Outbound::Frame(frame(&f.kind, &f.data));
                state.hub.deliver(Targets::Users(vec![*user_id]), out, except_conn).await;
                continue;
            }
        };
        state.hub.deliver(targets, Outbound::Frame(frame(&f.kind, &f.data)), None).await;
    }
}

/// Announce presence changes in arrival order, each user once per round however often it
/// changed meanwhile (the announcement reads the current state).
async fn announcer(
    state: actix_web::web::Data<AppState>,
    mut announcements: mpsc::UnboundedReceiver<UserId>,
    log: Logger,
) {
    let mut round = Vec::new();
    while announcements.recv_many(&mut round, 1024).await > 0 {
        let mut seen = HashSet::new();
        for user_id in round.drain(..) {
            if seen.insert(user_id) {
                announce_presence(&state, user_id, &log).await;
            }
        }
    }
}

/// Tell `user_id`'s friends connected here how they now appear: their chosen status while
/// connected (invisible shows as offline), 0 when not connected anywhere.
async fn announce_presence(state: &AppState, user_id: UserId, log: &Logger) {
    let visible = match crate::service::friend::visible_status(state, user_id).await {
        Ok(v) => v,
        Err(e) => {
            warn!(log, "presence lookup failed"; "error" => format!("{e:#}"));
            return;
        }
    };
    let friends = match crate::service::friend::friend_ids(state, user_id).await {
        Ok(f) => f,
        Err(_) => return,
    };
    if friends.is_empty() {
        return;
    }
    let data = json!({"user_id": user_id, "online_status": visible});
    state
        .hub
        .deliver(Targets::Users(friends), Outbound::Frame(frame("presence", data)), None)
        .await;
}
