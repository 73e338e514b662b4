//! Scenario b5: the server killed -9 and restarted mid-traffic; clients reconnect and catch up.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::*;
use crate::pairs::*;
use crate::procfs::*;
use crate::report::*;
use crate::send::*;
use crate::smoke::*;
use crate::{Args, Res};

/// How b5 restarts the server.
pub(crate) enum Restarter {
    /// A shell command (kills -9, starts again, returns when ready; may print the new pid).
    Cmd(String),
    /// Our own child (smoke).
    Child(Arc<std::sync::Mutex<Server>>),
}

impl Restarter {
    /// Kill -9 and start again; the new pid when known.
    pub(crate) async fn restart(&self, api: &Api) -> Res<Option<u32>> {
        let pid = match self {
            Restarter::Cmd(cmd) => {
                let out = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .output()
                    .await
                    .map_err(|e| e.to_string())?;
                if !out.status.success() {
                    return Err(format!(
                        "restart command failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .last()
                    .and_then(|l| l.trim().parse().ok())
            }
            Restarter::Child(server) => {
                let mut s = server.lock().expect("server");
                s.kill();
                s.spawn()?;
                Some(s.pid())
            }
        };
        let began = Instant::now();
        while !api.ready().await {
            if began.elapsed() > Duration::from_secs(30) {
                return Err("server not ready 30 s after restart".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(pid)
    }
}

/// b5: K sockets (pairs × 2 × conns_per_user), traffic, kill -9 + restart mid-traffic.
pub(crate) async fn b5(
    api: &Api,
    args: &Args,
    prefix: &str,
    start: Instant,
    restarter: Restarter,
) -> Res<()> {
    let cpu = args.conns_per_user.clamp(1, 10);
    let pairs = (args.conns / (2 * cpu)).max(1);
    let setup = setup_pairs(api, args, prefix, pairs, cpu, true, start).await?;
    let k = pairs * 2 * cpu;
    let n = ((args.rate * args.duration).round() as usize).max(2);
    let jobs = pair_jobs(&setup.users, n);
    let rate = args.rate;
    let t0 = Instant::now() + Duration::from_millis(50);
    let kill_at = t0 + Duration::from_secs_f64(args.duration / 2.0);
    let api2 = api.clone();
    let restart = tokio::spawn(async move {
        tokio::time::sleep_until(kill_at.into()).await;
        let killed = Instant::now();
        let r = restarter.restart(&api2).await;
        (killed, Instant::now(), r)
    });
    let (paced, tag, retry) = (at_rate(rate), format!("{prefix}b5"), Some(Duration::from_secs(30)));
    let send = send_schedule(api, jobs, paced, t0, start, &tag, args.max_inflight, retry).await;
    let (killed, ready, new_pid) = restart.await.map_err(|e| e.to_string())?;
    let new_pid = new_pid?;
    let expected: u64 = send
        .sent
        .iter()
        .map(|s| s.recipients.iter().map(|u| setup.fleet.per_user[u] as u64).sum::<u64>())
        .sum();
    // Wait for everyone to be back and caught up, then for the deliveries.
    let began = Instant::now();
    while setup.fleet.ctl.caught_up.load(Ordering::Relaxed) < k
        && began.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drain(&setup.fleet.ctl, expected, Duration::from_secs_f64(args.drain_secs)).await;
    let rss = proc_sample(new_pid.or(args.server_pid)).map_or(0, |p| p.1);
    let outs = setup.fleet.close().await;
    let c = check(&outs, &send.sent, &send.errors);
    let reconnected = outs.iter().filter(|o| o.connects >= 2).count();
    let within = |from: Instant| {
        outs.iter()
            .filter(|o| {
                o.caught_up_at
                    .is_some_and(|t| t.saturating_duration_since(from) <= Duration::from_secs(5))
            })
            .count()
    };
    let mut times: Vec<u64> = outs
        .iter()
        .filter_map(|o| {
            o.caught_up_at.map(|t| t.saturating_duration_since(ready).as_micros() as u64)
        })
        .collect();
    times.sort_unstable();
    if !c.ok() {
        c.print_failure("b5");
        return Err("b5 refused".into());
    }
    let v = json!({
        "sockets": k, "users": setup.users.len(), "messages": send.sent.len(), "offered_rate": rate,
        "restart_s": ready.duration_since(killed).as_secs_f64(),
        "reconnected": reconnected,
        "pct_caught_up_5s_after_ready": within(ready) as f64 * 100.0 / k as f64,
        "pct_caught_up_5s_after_kill": within(killed) as f64 * 100.0 / k as f64,
        "caught_up_after_ready_p50_ms": pct(&times, 50.0), "caught_up_after_ready_p99_ms": pct(&times, 99.0),
        "caught_up_after_ready_max_ms": pct(&times, 100.0),
        "lost": c.lost.len(), "duplicates": c.duplicates.len(), "reordered": c.reorders.len(),
        "server_rss_mib_after": rss as f64 / 1024.0,
    });
    report("b5", v);
    Ok(())
}
