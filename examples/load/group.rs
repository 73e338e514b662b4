//! Scenario b3: group fan-out to online members, paced messages then a burst.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;

use crate::api::*;
use crate::report::*;
use crate::send::*;
use crate::ws::*;
use crate::{Args, Res};

/// b3: group fan-out to M online members: paced messages, then a burst.
pub(crate) async fn b3(api: &Api, args: &Args, prefix: &str, start: Instant) -> Res<()> {
    let m = args.members.max(2);
    let users = make_users(api, prefix, m).await?;
    let owner = users[0].clone();
    let done: Vec<Res<()>> = futures_util::stream::iter(users[1..].iter().cloned())
        .map(|u| {
            let (api, owner) = (api.clone(), owner.clone());
            async move { api.befriend(&owner, &u).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    done.into_iter().collect::<Res<()>>()?;
    let ids: Vec<i64> = users[1..].iter().map(|u| u.id).collect();
    let gid = api
        .post(Some(&owner.token), "/api/v1/group/create", &json!({"member_ids": ids}))
        .await?["group_id"]
        .as_i64()
        .ok_or("group/create: no group_id")?;
    let specs = users
        .iter()
        .enumerate()
        .map(|(i, u)| ConnSpec {
            user_id: u.id,
            token: u.token.clone(),
            conversations: vec![(2, gid)],
            reconnect: false,
            src: src_ip(i, args.source_ips),
        })
        .collect();
    let fleet = Fleet::open(api, specs, start).await?;
    let recipients: Arc<[i64]> = Arc::from(ids.clone());
    let job =
        Job { token: owner.token.as_str().into(), session_type: 2, target_id: gid, recipients };
    let per_msg = (m - 1) as u64;

    // Paced: one every 100 ms.
    let window = ProcWindow::begin(args.server_pid);
    let t0 = Instant::now() + Duration::from_millis(50);
    let paced = send_schedule(
        api,
        vec![job.clone(); args.ticks],
        |i| Duration::from_millis(100 * i as u64),
        t0,
        start,
        &format!("{prefix}b3p"),
        args.max_inflight,
        None,
    )
    .await;
    drain(&fleet.ctl, per_msg * args.ticks as u64, Duration::from_secs_f64(args.drain_secs)).await;
    let (paced_cpu, _, _) = window.end();

    // Burst: all due at once.
    let window = ProcWindow::begin(args.server_pid);
    let t1 = Instant::now() + Duration::from_millis(50);
    let burst = send_schedule(
        api,
        vec![job; args.burst],
        |_| Duration::ZERO,
        t1,
        start,
        &format!("{prefix}b3b"),
        args.max_inflight,
        None,
    )
    .await;
    drain(
        &fleet.ctl,
        per_msg * (args.ticks + args.burst) as u64,
        Duration::from_secs_f64(args.drain_secs),
    )
    .await;
    let (burst_cpu, _, rss) = window.end();
    let outs = fleet.close().await;

    let mut all = check(&outs, &paced.sent, &paced.errors);
    let cb = check(&outs, &burst.sent, &burst.errors);
    all.lost.extend(cb.lost);
    all.duplicates.extend(cb.duplicates);
    all.reorders.extend(cb.reorders);
    all.errors.extend(cb.errors);
    all.duplicates.dedup();
    all.reorders.dedup();
    if !all.ok() {
        all.print_failure("b3");
        return Err("b3 refused".into());
    }
    // Last member per paced message.
    let mut last_member: HashMap<i64, u64> = HashMap::new();
    let mut per_delivery = Vec::new();
    for s in samples_since(&outs, &paced.sent) {
        let e = last_member.entry(s.message_id).or_insert(0);
        *e = (*e).max(s.latency_us);
        per_delivery.push(s.latency_us);
    }
    let burst_samples: Vec<&Sample> = samples_since(&outs, &burst.sent).collect();
    let burst_last = burst_samples.iter().map(|s| s.at).max().unwrap_or(t1);
    let burst_span = burst_last.saturating_duration_since(t1).as_secs_f64().max(1e-3);
    let v = json!({
        "members_online": m, "paced_messages": paced.sent.len(), "burst_messages": burst.sent.len(),
        "last_member_latency": latency(last_member.into_values().collect()),
        "per_delivery_latency": latency(per_delivery),
        "burst_deliveries": burst_samples.len(),
        "burst_span_s": burst_span,
        "burst_deliveries_per_s": (burst_samples.len() as f64 / burst_span).round(),
        "burst_last_member_ms": burst_span * 1000.0,
        "server_cpu_us_per_delivery_paced": (paced_cpu * 1e6 / (paced.sent.len().max(1) as f64 * per_msg as f64)).round(),
        "server_cpu_us_per_delivery_burst": (burst_cpu * 1e6 / (burst.sent.len().max(1) as f64 * per_msg as f64)).round(),
        "server_rss_mib": rss as f64 / 1024.0,
    });
    report("b3", v);
    Ok(())
}
