//! Scenario b4: idle authenticated sockets (memory and CPU per connection), and `hold`, the
//! helper processes that hold a share of them.

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::*;
use crate::procfs::*;
use crate::report::*;
use crate::ws::*;
use crate::{Args, Res};

/// A helper process holding a share of b4's sockets.
pub(crate) struct Holder {
    pub(crate) child: tokio::process::Child,
    pub(crate) stdin: Option<tokio::process::ChildStdin>,
    pub(crate) lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Holder {
    /// Start it with `specs` (one line each: user id, source address, token) and wait until
    /// all of its sockets are open.
    pub(crate) async fn start(url: &str, specs: &[ConnSpec]) -> Res<Holder> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = tokio::process::Command::new(exe)
            .args(["--url", url, "--scenario", "hold"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("helper process: {e}"))?;
        let mut stdin = child.stdin.take().ok_or("helper stdin")?;
        let mut list = String::new();
        for spec in specs {
            list.push_str(&format!("{} {} {}\n", spec.user_id, spec.src, spec.token));
        }
        list.push('\n');
        stdin.write_all(list.as_bytes()).await.map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("helper stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        match lines.next_line().await.map_err(|e| e.to_string())? {
            Some(line) if line.starts_with("OPEN ") => {}
            other => return Err(format!("helper process did not open its sockets: {other:?}")),
        }
        Ok(Holder { child, stdin: Some(stdin), lines })
    }

    /// Close its sockets; how many were still open until then.
    pub(crate) async fn finish(mut self) -> Result<usize, String> {
        drop(self.stdin.take());
        let line = self.lines.next_line().await.map_err(|e| e.to_string())?.unwrap_or_default();
        let _ = self.child.wait().await;
        let open = line.strip_prefix("DONE ").and_then(|n| n.parse().ok());
        open.ok_or_else(|| format!("helper process: {line}"))
    }
}

/// `--scenario hold`: open the sockets listed on stdin, say `OPEN n`, hold them until stdin
/// closes, then say `DONE <still open>` (or why not).
pub(crate) async fn hold(api: &Api, start: Instant) -> Res<()> {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut specs = Vec::new();
    while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
        let mut f = line.split_whitespace();
        let (Some(user), Some(src), Some(token)) = (f.next(), f.next(), f.next()) else { break };
        specs.push(ConnSpec {
            user_id: user.parse().map_err(|_| "bad user id")?,
            token: token.to_string(),
            conversations: vec![],
            reconnect: false,
            src: src.parse().map_err(|_| "bad source address")?,
        });
    }
    let n = specs.len();
    let fleet = Fleet::open(api, specs, start).await?;
    println!("OPEN {n}");
    while lines.next_line().await.map_err(|e| e.to_string())?.is_some() {}
    let open = fleet.ctl.open.load(Ordering::Relaxed);
    let outs = fleet.close().await;
    match outs.iter().find_map(|o| o.error.clone()) {
        Some(e) => println!("FAILED {e}"),
        None => println!("DONE {open}"),
    }
    Ok(())
}

/// b4: K idle authenticated sockets: RSS per connection, idle CPU.
pub(crate) async fn b4(api: &Api, args: &Args, prefix: &str, start: Instant) -> Res<()> {
    let cpu = args.conns_per_user.clamp(1, 10);
    let users = make_users(api, prefix, args.conns.div_ceil(cpu)).await?;
    let settle = Duration::from_secs_f64(args.idle_secs.clamp(0.2, 2.0));
    tokio::time::sleep(settle).await;
    let before = proc_sample(args.server_pid);
    let mut specs: Vec<ConnSpec> = (0..args.conns)
        .map(|i| {
            let u = &users[i / cpu];
            ConnSpec {
                user_id: u.id,
                token: u.token.clone(),
                conversations: vec![],
                reconnect: false,
                src: src_ip(i, args.source_ips),
            }
        })
        .collect();
    // This process holds the first share; helper processes (this binary, `--scenario hold`)
    // the others.
    let share = args.conns.div_ceil(args.procs.max(1));
    let mut helpers = Vec::new();
    for part in specs.split_off(share.min(specs.len())).chunks(share) {
        helpers.push(Holder::start(&api.base, part).await?);
    }
    let fleet = Fleet::open(api, specs, start).await?;
    tokio::time::sleep(settle).await;
    let window = ProcWindow::begin(args.server_pid);
    tokio::time::sleep(Duration::from_secs_f64(args.idle_secs)).await;
    let (idle_cpu, wall, rss_after) = window.end();
    let mut still_open = fleet.ctl.open.load(Ordering::Relaxed);
    let outs = fleet.close().await;
    let mut errors: Vec<String> = outs.iter().filter_map(|o| o.error.clone()).collect();
    for helper in helpers {
        match helper.finish().await {
            Ok(open) => still_open += open,
            Err(e) => errors.push(e),
        }
    }
    if still_open != args.conns || !errors.is_empty() {
        eprintln!(
            "REFUSED b4: {still_open} of {} sockets still open; {:?}",
            args.conns,
            errors.first()
        );
        return Err("b4 refused".into());
    }
    let rss_before = before.map_or(0, |b| b.1);
    let delta_kib = rss_after as f64 - rss_before as f64;
    let core_pct = idle_cpu / wall * 100.0;
    let v = json!({
        "sockets": args.conns, "users": users.len(), "client_processes": args.procs.max(1),
        "server_rss_before_mib": rss_before as f64 / 1024.0, "server_rss_after_mib": rss_after as f64 / 1024.0,
        "rss_kib_per_socket": delta_kib / args.conns as f64,
        "idle_cpu_pct_of_core": core_pct,
        "idle_cpu_pct_per_10k": core_pct * 10000.0 / args.conns as f64,
        "idle_window_s": wall,
    });
    report("b4", v);
    Ok(())
}
