//! Checking what arrived (loss, duplicates, order), latency percentiles, and the `RESULT` lines.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::{Value, json};

use crate::procfs::*;
use crate::send::*;
use crate::ws::*;

/// Loss, duplicates and reorders over a run; only the messages in `sent` are expected.
#[derive(Default, Debug)]
pub(crate) struct Check {
    pub(crate) expected: u64,
    pub(crate) delivered: u64,
    pub(crate) lost: Vec<String>,
    pub(crate) duplicates: Vec<String>,
    pub(crate) reorders: Vec<String>,
    pub(crate) errors: Vec<String>,
}

impl Check {
    pub(crate) fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.duplicates.is_empty()
            && self.reorders.is_empty()
            && self.errors.is_empty()
    }

    pub(crate) fn print_failure(&self, name: &str) {
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

pub(crate) fn check(outs: &[ConnOut], sent: &[Sent], send_errors: &[String]) -> Check {
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

pub(crate) fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

/// Latency percentiles in ms: p50, p99, p99.9, max.
pub(crate) fn latency(mut us: Vec<u64>) -> Value {
    us.sort_unstable();
    json!({"p50_ms": pct(&us, 50.0), "p99_ms": pct(&us, 99.0), "p999_ms": pct(&us, 99.9),
        "max_ms": pct(&us, 100.0), "n": us.len()})
}

/// Samples of the messages sent from `t0` on.
pub(crate) fn samples_since<'a>(
    outs: &'a [ConnOut],
    sent: &'a [Sent],
) -> impl Iterator<Item = &'a Sample> {
    let ids: HashSet<(&str, i64)> = sent.iter().map(|s| (s.room.as_str(), s.message_id)).collect();
    outs.iter()
        .flat_map(|o| o.samples.iter())
        .filter(move |s| ids.contains(&(s.room.as_str(), s.message_id)))
}

/// Server CPU and memory over a phase.
pub(crate) struct ProcWindow {
    pub(crate) pid: Option<u32>,
    pub(crate) at: Instant,
    pub(crate) start: Option<(f64, u64)>,
}

impl ProcWindow {
    pub(crate) fn begin(pid: Option<u32>) -> ProcWindow {
        ProcWindow { pid, at: Instant::now(), start: proc_sample(pid) }
    }

    /// CPU seconds used, wall seconds, RSS KiB now.
    pub(crate) fn end(&self) -> (f64, f64, u64) {
        let wall = self.at.elapsed().as_secs_f64();
        match (self.start, proc_sample(self.pid)) {
            (Some((c0, _)), Some((c1, rss))) => (c1 - c0, wall, rss),
            _ => (f64::NAN, wall, 0),
        }
    }
}

pub(crate) fn report(name: &str, result: Value) {
    println!("== {name}");
    if let Some(map) = result.as_object() {
        for (k, v) in map {
            println!("  {k:<28} {v}");
        }
    }
    println!("RESULT {}", json!({"scenario": name, "result": result}));
}
