//! Sending on a fixed schedule (open loop), a precise timer, and waiting for deliveries to drain.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Semaphore;

use crate::api::*;
use crate::ws::*;

/// One message to send: who, to what.
#[derive(Clone)]
pub(crate) struct Job {
    pub(crate) token: Arc<str>,
    pub(crate) session_type: i64,
    pub(crate) target_id: i64,
    /// Users who must receive it (each of their connections).
    pub(crate) recipients: Arc<[i64]>,
}

/// One committed send.
pub(crate) struct Sent {
    pub(crate) room: String,
    pub(crate) message_id: i64,
    pub(crate) recipients: Arc<[i64]>,
}

#[derive(Default)]
pub(crate) struct SendOut {
    pub(crate) sent: Vec<Sent>,
    pub(crate) errors: Vec<String>,
    pub(crate) offered_secs: f64,
}

/// The schedule of the fixed-rate scenarios for [`send_schedule`]: jobs spread evenly at
/// `rate` a second.
pub(crate) fn at_rate(rate: f64) -> impl Fn(usize) -> Duration {
    move |i| Duration::from_secs_f64(i as f64 / rate)
}

/// Send `jobs` open-loop: job `i` is due at `t0 + at(i)`. A send that fails is retried with
/// the same `action_id` until `retry_until` (b5), else counted as an error.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_schedule(
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
pub(crate) struct PreciseTimer {
    pub(crate) fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

impl PreciseTimer {
    pub(crate) fn new() -> std::io::Result<Self> {
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

    pub(crate) async fn sleep_until(&self, deadline: Instant) -> std::io::Result<()> {
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
pub(crate) async fn drain(ctl: &Ctl, expected: u64, quiet: Duration) {
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
