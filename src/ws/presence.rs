//! Who is online anywhere: each instance announces its users' 0↔1 connection changes and a
//! periodic snapshot; an instance that stops announcing ages out, so a crash leaves no ghosts.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::UserId;

/// How often an instance announces a snapshot of its online users.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(30);
/// An instance not heard from for this long is considered gone.
pub const INSTANCE_TTL: Duration = Duration::from_secs(95);

#[derive(Default)]
struct Table {
    instances: HashMap<String, (Instant, HashSet<UserId>)>,
}

/// The cluster-wide presence table, as this instance knows it.
#[derive(Clone, Default)]
pub struct Presence {
    table: Arc<Mutex<Table>>,
}

impl Presence {
    fn with<T>(&self, f: impl FnOnce(&mut Table) -> T) -> T {
        let mut guard = self.table.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Whether `user_id` has a connection on any live instance.
    pub fn is_online(&self, user_id: UserId) -> bool {
        let now = Instant::now();
        self.with(|t| {
            t.instances.values().any(|(seen, users)| {
                now.duration_since(*seen) < INSTANCE_TTL && users.contains(&user_id)
            })
        })
    }

    /// Apply a change announced by `instance`; returns whether `user_id`'s online state
    /// (anywhere) changed.
    pub fn apply_change(&self, instance: &str, user_id: UserId, online: bool) -> bool {
        let before = self.is_online(user_id);
        self.with(|t| {
            let entry = t
                .instances
                .entry(instance.to_string())
                .or_insert_with(|| (Instant::now(), HashSet::new()));
            entry.0 = Instant::now();
            if online {
                entry.1.insert(user_id);
            } else {
                entry.1.remove(&user_id);
            }
        });
        before != self.is_online(user_id)
    }

    /// Replace what `instance` holds; returns the users whose online state changed.
    pub fn apply_snapshot(&self, instance: &str, user_ids: &[UserId]) -> Vec<UserId> {
        let affected: HashSet<UserId> = self.with(|t| {
            let mut a: HashSet<UserId> = user_ids.iter().copied().collect();
            if let Some((_, old)) = t.instances.get(instance) {
                a.extend(old.iter().copied());
            }
            a
        });
        let before: HashMap<UserId, bool> =
            affected.iter().map(|u| (*u, self.is_online(*u))).collect();
        self.with(|t| {
            t.instances
                .insert(instance.to_string(), (Instant::now(), user_ids.iter().copied().collect()));
            let now = Instant::now();
            t.instances.retain(|_, (seen, _)| now.duration_since(*seen) < INSTANCE_TTL);
        });
        before.into_iter().filter(|(u, was)| self.is_online(*u) != *was).map(|(u, _)| u).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_anywhere() {
        let p = Presence::default();
        assert!(p.apply_change("a", UserId(1), true));
        assert!(!p.apply_change("b", UserId(1), true), "already online");
        assert!(!p.apply_change("a", UserId(1), false), "still on b");
        assert!(p.apply_change("b", UserId(1), false));
        assert!(!p.is_online(UserId(1)));
        let mut changed = p.apply_snapshot("c", &[UserId(2), UserId(3)]);
        changed.sort();
        assert_eq!(changed, vec![UserId(2), UserId(3)]);
        assert!(p.is_online(UserId(2)));
        let mut changed = p.apply_snapshot("c", &[UserId(3)]);
        changed.sort();
        assert_eq!(changed, vec![UserId(2)]);
    }
}
