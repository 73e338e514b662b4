//! Scenarios b1 (friend pairs at a fixed rate) and b2 (the same, stepping the rate up).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::*;
use crate::report::*;
use crate::send::*;
use crate::ws::*;
use crate::{Args, Res};

/// Pairs with one socket per user (`conns_per_user` for b5).
pub(crate) struct PairsSetup {
    pub(crate) users: Vec<User>,
    pub(crate) fleet: Fleet,
}

pub(crate) async fn setup_pairs(
    api: &Api,
    args: &Args,
    prefix: &str,
    pairs: usize,
    cpu: usize,
    reconnect: bool,
    start: Instant,
) -> Res<PairsSetup> {
    let users = make_users(api, prefix, pairs * 2).await?;
    make_pairs(api, &users).await?;
    let mut specs = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let peer = &users[i ^ 1];
        for _ in 0..cpu {
            specs.push(ConnSpec {
                user_id: u.id,
                token: u.token.clone(),
                conversations: vec![(1, peer.id)],
                reconnect,
                src: src_ip(specs.len(), args.source_ips),
            });
        }
    }
    let fleet = Fleet::open(api, specs, start).await?;
    Ok(PairsSetup { users, fleet })
}

/// `n` private messages round-robin over the pairs, alternating direction.
pub(crate) fn pair_jobs(users: &[User], n: usize) -> Vec<Job> {
    let pairs = users.len() / 2;
    (0..n)
        .map(|i| {
            let p = i % pairs;
            let flip = (i / pairs) % 2;
            let (from, to) = (&users[2 * p + flip], &users[2 * p + (1 - flip)]);
            Job {
                token: from.token.as_str().into(),
                session_type: 1,
                target_id: to.id,
                recipients: Arc::from(vec![to.id]),
            }
        })
        .collect()
}

/// One fixed-rate phase over established pairs: the figures, and whether it was clean.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn pairs_phase(
    api: &Api,
    args: &Args,
    users: &[User],
    fleet: &Fleet,
    rate: f64,
    secs: f64,
    tag: &str,
    start: Instant,
) -> (SendOut, u64, ProcWindow, Instant) {
    let n = ((rate * secs).round() as usize).max(1);
    let jobs = pair_jobs(users, n);
    let per_user = &fleet.per_user;
    let expected: u64 =
        jobs.iter().map(|j| j.recipients.iter().map(|u| per_user[u] as u64).sum::<u64>()).sum();
    let base = fleet.ctl.delivered.load(Ordering::Relaxed);
    let window = ProcWindow::begin(args.server_pid);
    let t0 = Instant::now() + Duration::from_millis(50);
    let paced = at_rate(rate);
    let out = send_schedule(api, jobs, paced, t0, start, tag, args.max_inflight, None).await;
    drain(&fleet.ctl, base + expected, Duration::from_secs_f64(args.drain_secs)).await;
    (out, expected, window, t0)
}

pub(crate) fn phase_figures(
    outs: &[ConnOut],
    send: &SendOut,
    window: &ProcWindow,
    t0: Instant,
    rate: f64,
) -> (Check, Value) {
    let c = check(outs, &send.sent, &send.errors);
    let (cpu, _wall, rss) = window.end();
    let samples: Vec<&Sample> = samples_since(outs, &send.sent).collect();
    let last = samples.iter().map(|s| s.at).max().unwrap_or(t0);
    let span = last.saturating_duration_since(t0).as_secs_f64().max(1e-3);
    let lat = latency(samples.iter().map(|s| s.latency_us).collect());
    let msgs = send.sent.len().max(1) as f64;
    // The p99 of each half second by send time: shows whether a high p99 is a stall or
    // spread over the run.
    let mut slices: Vec<Vec<u64>> = Vec::new();
    for s in &samples {
        let sent_at = s.at.checked_sub(Duration::from_micros(s.latency_us)).unwrap_or(t0);
        let slice = (sent_at.saturating_duration_since(t0).as_millis() / 500) as usize;
        if slices.len() <= slice {
            slices.resize_with(slice + 1, Vec::new);
        }
        slices[slice].push(s.latency_us);
    }
    let p99_by_half_second: Vec<f64> = slices
        .into_iter()
        .map(|mut us| {
            us.sort_unstable();
            pct(&us, 99.0)
        })
        .collect();
    let v = json!({
        "p99_ms_by_half_second": p99_by_half_second,
        "offered_rate": rate,
        "messages": send.sent.len(),
        "delivered_rate": (c.delivered as f64 / span).round(),
        "lost": c.lost.len(), "duplicates": c.duplicates.len(), "reordered": c.reorders.len(),
        "latency": lat,
        "server_cpu_s": cpu, "server_cpu_us_per_msg": (cpu * 1e6 / msgs).round(),
        "server_rss_mib": rss as f64 / 1024.0,
    });
    (c, v)
}

/// b1: fixed rate over N pairs (after the warm-up, if any).
pub(crate) async fn b1(api: &Api, args: &Args, prefix: &str, start: Instant) -> Res<()> {
    let setup = setup_pairs(api, args, prefix, args.pairs, 1, false, start).await?;
    let warmup = if args.warmup > 0.0 {
        let tag = format!("{prefix}b1w");
        let (send, _, window, t0) =
            pairs_phase(api, args, &setup.users, &setup.fleet, args.rate, args.warmup, &tag, start)
                .await;
        Some((send, window, t0))
    } else {
        None
    };
    let (send, _, window, t0) = pairs_phase(
        api,
        args,
        &setup.users,
        &setup.fleet,
        args.rate,
        args.duration,
        &format!("{prefix}b1"),
        start,
    )
    .await;
    let outs = setup.fleet.close().await;
    let (c, mut v) = phase_figures(&outs, &send, &window, t0, args.rate);
    if !c.ok() {
        c.print_failure("b1");
        return Err("b1 refused".into());
    }
    if let Some((send, window, t0)) = warmup {
        let (c, w) = phase_figures(&outs, &send, &window, t0, args.rate);
        if !c.ok() {
            c.print_failure("b1 warm-up");
            return Err("b1 refused".into());
        }
        v["warmup"] = json!({"duration_s": args.warmup, "latency": w["latency"]});
    }
    v["pairs"] = json!(args.pairs);
    v["duration_s"] = json!(args.duration);
    report("b1", v);
    Ok(())
}

/// b2: step the rate up until a step loses messages or its p99 passes the limit.
pub(crate) async fn b2(api: &Api, args: &Args, prefix: &str, start: Instant) -> Res<()> {
    let setup = setup_pairs(api, args, prefix, args.pairs, 1, false, start).await?;
    setup.fleet.ctl.late_us.store((args.p99_max_ms * 1000.0) as u64, Ordering::Relaxed);
    let mut steps = Vec::new();
    let mut best: Option<Value> = None;
    let mut sent_all: Vec<SendOut> = Vec::new();
    for (k, &rate) in args.rates.iter().enumerate() {
        let (late0, del0) = (
            setup.fleet.ctl.late.load(Ordering::Relaxed),
            setup.fleet.ctl.delivered.load(Ordering::Relaxed),
        );
        let (send, _, window, t0) = pairs_phase(
            api,
            args,
            &setup.users,
            &setup.fleet,
            rate,
            args.duration,
            &format!("{prefix}b2s{k}"),
            start,
        )
        .await;
        let late = setup.fleet.ctl.late.load(Ordering::Relaxed) - late0;
        let delivered = setup.fleet.ctl.delivered.load(Ordering::Relaxed) - del0;
        sent_all.push(send);
        let send = sent_all.last().expect("just pushed");
        let (cpu, _, rss) = window.end();
        let msgs = send.sent.len().max(1) as f64;
        let lost_or_err = !send.errors.is_empty();
        steps.push((rate, t0, cpu, rss, msgs, lost_or_err));
        // Per-step latency needs the sockets' samples: peek by closing only at the end; use
        // the delivered counter for loss and compute percentiles at the end.
        if lost_or_err {
            eprintln!("b2: step {rate}/s had send errors: {}", send.errors[0]);
            break;
        }
        eprintln!("b2: step {rate}/s sent {} in {:.1} s", send.sent.len(), send.offered_secs);
        // Stop early when the step clearly fell behind (deliveries still outstanding).
        let expected: usize = sent_all.iter().map(|s| s.sent.len()).sum();
        if (setup.fleet.ctl.delivered.load(Ordering::Relaxed) as usize) < expected {
            eprintln!("b2: step {rate}/s did not drain");
            break;
        }
        if late * 100 > delivered {
            eprintln!(
                "b2: step {rate}/s: {late} of {delivered} deliveries over {} ms; stopping",
                args.p99_max_ms
            );
            break;
        }
    }
    let outs = setup.fleet.close().await;
    let mut failed = Check::default();
    let mut rows = Vec::new();
    for (send, (rate, t0, cpu, rss, msgs, _)) in sent_all.iter().zip(steps) {
        let c = check(&outs, &send.sent, &send.errors);
        let samples: Vec<&Sample> = samples_since(&outs, &send.sent).collect();
        let last = samples.iter().map(|s| s.at).max().unwrap_or(t0);
        let span = last.saturating_duration_since(t0).as_secs_f64().max(1e-3);
        let lat = latency(samples.iter().map(|s| s.latency_us).collect());
        let pass = c.ok() && lat["p99_ms"].as_f64().is_some_and(|p| p <= args.p99_max_ms);
        let row = json!({"offered_rate": rate, "delivered_rate": (c.delivered as f64 / span).round(),
            "lost": c.lost.len(), "duplicates": c.duplicates.len(), "reordered": c.reorders.len(),
            "latency": lat, "server_cpu_us_per_msg": (cpu * 1e6 / msgs).round(),
            "server_rss_mib": rss as f64 / 1024.0, "pass": pass});
        eprintln!("b2 step: {row}");
        // Duplicates, reorders and errors refuse the whole run; loss ends the search (the
        // step is shown as failed with its loss, and no later step counts).
        failed.duplicates.extend(c.duplicates);
        failed.reorders.extend(c.reorders);
        failed.errors.extend(c.errors);
        // Rates go up: the best is the last step that passed with every step before it.
        if pass && rows.iter().all(|r: &Value| r["pass"] == true) {
            best = Some(row.clone());
        }
        rows.push(row);
    }
    if !failed.ok() {
        failed.print_failure("b2");
        return Err("b2 refused".into());
    }
    let v = json!({"pairs": args.pairs, "step_s": args.duration, "p99_limit_ms": args.p99_max_ms,
        "best": best.clone().unwrap_or(Value::Null),
        "max_sustained_rate": best.as_ref().map_or(json!(0), |b| b["offered_rate"].clone()),
        "steps": rows});
    report("b2", v);
    Ok(())
}
