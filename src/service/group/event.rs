//! Group events: what changed, who is told, and how the news reaches every instance.

use serde_json::{Value, json};

use crate::bus::{Event, GroupEventKind};
use crate::domain::{GroupId, UserId};
use crate::state::Core;

/// How an event reaches the instances: published on the bus by a server, recorded in the
/// control table by the CLI (running servers relay it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    Bus,
    Control,
}

/// One group event under construction: `GroupEvent::new(group, kind, actor)`, then only what
/// differs from the usual (no targets, no values, told to every member, over the bus), then
/// [`send`](GroupEvent::send).
#[must_use = "an event is told only by `send`"]
pub(super) struct GroupEvent {
    group_id: GroupId,
    kind: GroupEventKind,
    actor_id: UserId,
    target_ids: Vec<UserId>,
    values: Value,
    /// `None`: every member at the time of sending.
    recipients: Option<Vec<UserId>>,
    also: Vec<UserId>,
    via: Via,
}

/// The actor of an event an administrator caused through the CLI (no user is stored as 0).
pub(super) const ADMIN: UserId = UserId(0);

impl GroupEvent {
    /// `actor_id` [`ADMIN`] stands for an administrator (the CLI).
    pub(super) fn new(group_id: GroupId, kind: GroupEventKind, actor_id: UserId) -> Self {
        GroupEvent {
            group_id,
            kind,
            actor_id,
            target_ids: Vec::new(),
            values: json!({}),
            recipients: None,
            also: Vec::new(),
            via: Via::Bus,
        }
    }

    /// `target` was muted (`speak` 0, until `until` or for good) or unmuted (`speak` 1).
    pub(super) fn speak_changed(
        group_id: GroupId,
        actor_id: UserId,
        target: UserId,
        speak: i16,
        until: Option<i64>,
    ) -> Self {
        let kind =
            if speak == 0 { GroupEventKind::MemberMuted } else { GroupEventKind::MemberUnmuted };
        GroupEvent::new(group_id, kind, actor_id)
            .targets(vec![target])
            .values(json!({"speak_status": speak, "muted_until": until}))
    }

    /// The users the event is about.
    pub(super) fn targets(mut self, ids: Vec<UserId>) -> Self {
        self.target_ids = ids;
        self
    }

    /// What changed, as the clients read it.
    pub(super) fn values(mut self, values: Value) -> Self {
        self.values = values;
        self
    }

    /// Tell only `ids` instead of every member.
    pub(super) fn to(mut self, ids: Vec<UserId>) -> Self {
        self.recipients = Some(ids);
        self
    }

    /// Tell `ids` as well (people who just left the group, say).
    pub(super) fn also_to(mut self, ids: &[UserId]) -> Self {
        self.also.extend_from_slice(ids);
        self
    }

    pub(super) fn via(mut self, via: Via) -> Self {
        self.via = via;
        self
    }

    /// Resolve the recipients and tell them. Never fails the operation that caused the
    /// event: the change is committed already, and clients catch up from the database.
    pub(super) async fn send(self, state: &Core) {
        let mut member_ids = match self.recipients {
            Some(ids) => ids,
            None => match state.db.group_member_ids(self.group_id, None).await {
                Ok(ids) => ids,
                Err(e) => {
                    slog::warn!(state.log, "group event: cannot load members"; "error" => e.to_string());
                    Vec::new()
                }
            },
        };
        member_ids.extend(self.also);
        member_ids.sort_unstable();
        member_ids.dedup();
        let event = Event::Group {
            group_id: self.group_id,
            kind: self.kind,
            actor_id: self.actor_id,
            target_ids: self.target_ids,
            values: self.values,
            member_ids,
        };
        match self.via {
            Via::Control => state.notifier.record_for_servers(event).await,
            Via::Bus => {
                if let Err(e) = state.bus.publish(event.clone()).await {
                    slog::warn!(state.log, "group event publish failed; using control table"; "error" => e.to_string());
                    state.notifier.record_for_servers(event).await;
                }
            }
        }
    }
}
