//! An ordered, bounded queue in front of the bus: request handlers hand over committed events
//! without waiting for Redis, and one task publishes them in the order they were handed over,
//! pipelining whatever queued up meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use slog::Logger;
use tokio::sync::mpsc;

use super::{Bus, Event};

/// Most events published in one round trip.
const PIPELINE: usize = 256;

/// Hands events to the bus in the background.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
    log: Logger,
}

impl Publisher {
    /// Start the publishing task on the current runtime.
    pub fn start(bus: Bus, capacity: usize, log: Logger) -> Self {
        let (tx, mut rx) = mpsc::channel::<Event>(capacity.max(1));
        let task_log = log.clone();
        let dropped = Arc::new(AtomicU64::new(0));
        let seen_drops = dropped.clone();
        tokio::spawn(async move {
            let mut resynced = 0;
            let mut batch = Vec::with_capacity(PIPELINE);
            while rx.recv_many(&mut batch, PIPELINE).await > 0 {
                // What queued up while the last round trip was in flight goes in one.
                let mut failed = bus.publish_all(std::mem::take(&mut batch)).await.err();
                // Pushes were dropped before they reached the queue: once the queue has
                // drained, have every connection re-read its rooms.
                let drops = seen_drops.load(Ordering::Relaxed);
                if drops != resynced && rx.is_empty() {
                    resynced = drops;
                    let reason = "publish queue overflowed".to_string();
                    failed = failed.or(bus.publish(Event::Resync { reason }).await.err());
                }
                if let Some(e) = failed {
                    // Stored data is safe; clients fill the gap from the database by id.
                    slog::warn!(task_log, "event not published"; "error" => e.to_string());
                    bus.deliver_local(Event::Resync { reason: "bus unavailable".into() });
                }
            }
        });
        Self { tx, dropped, log }
    }

    /// Queue `event` for publishing; never waits. When the queue is full the push is dropped
    /// (and counted): the event's data is already committed.
    pub fn publish(&self, event: Event) {
        if self.tx.try_send(event).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                slog::warn!(self.log, "publish queue full; pushes dropped"; "dropped_total" => n);
            }
        }
    }

    /// Pushes dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
