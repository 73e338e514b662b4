//! The embedded profile's bus (a tokio broadcast channel) and cache (a TTL map), both living
//! inside this one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::{BusMessage, FANOUT_CAPACITY};

/// In-process publish/subscribe.
#[derive(Clone)]
pub struct LocalBus {
    sender: broadcast::Sender<Arc<BusMessage>>,
    instance_id: Arc<str>,
}

impl LocalBus {
    pub fn new(instance_id: &str) -> Self {
        let (sender, _) = broadcast::channel(FANOUT_CAPACITY);
        Self { sender, instance_id: instance_id.into() }
    }

    pub fn deliver(&self, message: Arc<BusMessage>) {
        // No receiver yet is not an error: nobody is listening for this event.
        let _ = self.sender.send(message);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<BusMessage>> {
        self.sender.subscribe()
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }
}

#[derive(Debug)]
struct Entry {
    value: String,
    expires_at: Instant,
}

/// A mutex-guarded map with per-entry expiry. Expired entries are invisible at once and
/// removed by [`LocalCache::purge_expired`], which the server calls periodically.
#[derive(Debug, Default)]
pub struct LocalCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LocalCache {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>) -> T) -> T {
        // A panic while holding the lock cannot leave an entry half-written, so a poisoned
        // map is still consistent and safe to keep using.
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub fn get(&self, key: &str) -> Option<String> {
        let now = Instant::now();
        self.with(|m| m.get(key).filter(|e| e.expires_at > now).map(|e| e.value.clone()))
    }

    pub fn set(&self, key: &str, value: &str, ttl: Duration) {
        let entry = Entry { value: value.to_string(), expires_at: Instant::now() + ttl };
        self.with(|m| m.insert(key.to_string(), entry));
    }

    pub fn incr(&self, key: &str, ttl: Duration) -> i64 {
        let now = Instant::now();
        self.with(|m| {
            let entry = m
                .entry(key.to_string())
                .and_modify(|e| {
                    if e.expires_at <= now {
                        *e = Entry { value: "0".into(), expires_at: now + ttl };
                    }
                })
                .or_insert_with(|| Entry { value: "0".into(), expires_at: now + ttl });
            let next = entry.value.parse::<i64>().unwrap_or(0) + 1;
            entry.value = next.to_string();
            next
        })
    }

    pub fn decr(&self, key: &str) -> i64 {
        let now = Instant::now();
        self.with(|m| match m.get_mut(key).filter(|e| e.expires_at > now) {
            Some(entry) => {
                let next = (entry.value.parse::<i64>().unwrap_or(0) - 1).max(0);
                entry.value = next.to_string();
                next
            }
            None => 0,
        })
    }

    pub fn del(&self, key: &str) -> bool {
        let now = Instant::now();
        self.with(|m| m.remove(key).is_some_and(|e| e.expires_at > now))
    }

    pub fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        self.with(|m| {
            if m.get(key).is_some_and(|e| e.expires_at > now) {
                return false;
            }
            m.insert(key.to_string(), Entry { value: value.to_string(), expires_at: now + ttl });
            true
        })
    }

    pub fn del_if(&self, key: &str, value: &str) -> bool {
        let now = Instant::now();
        self.with(|m| {
            let held = m.get(key).is_some_and(|e| e.expires_at > now && e.value == value);
            if held {
                m.remove(key);
            }
            held
        })
    }

    pub fn take(&self, key: &str) -> Option<String> {
        let now = Instant::now();
        self.with(|m| m.remove(key).filter(|e| e.expires_at > now).map(|e| e.value))
    }

    /// Drop expired entries; returns how many were removed.
    pub fn purge_expired(&self) -> usize {
        let now = Instant::now();
        self.with(|m| {
            let before = m.len();
            m.retain(|_, e| e.expires_at > now);
            before - m.len()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_take_is_single_use() {
        let cache = LocalCache::default();
        cache.set("a", "1", Duration::from_millis(30));
        assert_eq!(cache.take("a").as_deref(), Some("1"));
        assert_eq!(cache.take("a"), None);
        cache.set("b", "2", Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.purge_expired(), 1);
    }

    #[test]
    fn counters_start_fresh_after_expiry() {
        let cache = LocalCache::default();
        assert_eq!(cache.incr("n", Duration::from_millis(5)), 1);
        assert_eq!(cache.incr("n", Duration::from_millis(5)), 2);
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(cache.incr("n", Duration::from_millis(5)), 1);
    }
}
