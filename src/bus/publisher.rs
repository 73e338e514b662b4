//! Hands committed events to this instance's subscribers at once, and to the other instances
//! through an ordered, bounded queue in front of the bus: request handlers never wait for
//! Redis, and one task forwards the events in the order they were handed over, pipelining
//! whatever queued up meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use slog::Logger;
use tokio::sync::mpsc;

use super::{Bus, BusMessage, Event};

/// Most events forwarded in one round trip.
const PIPELINE: usize = 256;

/// Hands events to the bus in the background.
#[derive(Clone)]
pub struct Publisher {
    bus: Bus,
    tx: mpsc::Sender<Arc<BusMessage>>,
    dropped: Arc<AtomicU64>,
    log: Logger,
}

impl Publisher {
    /// Start the forwarding task on the current runtime.
    pub fn start(bus: Bus, capacity: usize, log: Logger) -> Self {
        let (tx, mut rx) = mpsc::channel::<Arc<BusMessage>>(capacity.max(1));
        let task_log = log.clone();
        let dropped = Arc::new(AtomicU64::new(0));
        let seen_drops = dropped.clone();
        let forwarder = bus.clone();
        tokio::spawn(async move {
            let bus = forwarder;
            let mut resynced = 0;
            // Events the other instances may have missed since they were last told to resync.
            let mut missed = false;
            let mut batch = Vec::with_capacity(PIPELINE);
            while rx.recv_many(&mut batch, PIPELINE).await > 0 {
                // What queued up while the last round trip was in flight goes in one.
                if let Err(e) = bus.forward(&batch).await {
                    // Stored data is safe; clients fill the gap from the database by id.
                    slog::warn!(task_log, "events not forwarded to other instances"; "error" => e.to_string());
                    missed = true;
                }
                batch.clear();
                // Events were dropped before they reached the queue, or not forwarded: once
                // the queue has drained, have every other instance's connections re-read
                // their rooms (this instance's had them all).
                let drops = seen_drops.load(Ordering::Relaxed);
                if (drops != resynced || missed) && rx.is_empty() {
                    let reason = "events were not forwarded".to_string();
                    if bus.forward(&[bus.stamp(Event::Resync { reason })]).await.is_ok() {
                        resynced = drops;
                        missed = false;
                    }
                }
            }
        });
        Self { bus, tx, dropped, log }
    }

    /// Deliver `event` to this instance's subscribers now and queue it for the other
    /// instances; never waits. When the queue is full it is dropped for them (and counted):
    /// the event's data is already committed.
    pub fn publish(&self, event: Event) {
        metrics::counter!("jim_bus_published_total").increment(1);
        let message = self.bus.deliver_local(event);
        if self.bus.forwards() && self.tx.try_send(message).is_err() {
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
