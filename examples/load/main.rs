//! `load`: an open-loop load generator for a running `jim serve`, through the public API only.
//!
//! It registers users, makes friend pairs or a group, opens WebSockets (optionally spread over
//! several 127.0.0.x source addresses), then sends over HTTP on a fixed schedule: every send
//! has a scheduled time and latency is *push receive time − scheduled time*, so a stalled server
//! (or a stalled client) shows up in the figures instead of slowing the offered load down.
//!
//! Scenarios (`--scenario`):
//! - `b1`: N friend pairs, a fixed offered rate, latency percentiles (after `--warmup` seconds
//!   at that rate, whose figures are reported apart).
//! - `b2`: the same, stepping the rate up (`--rates`) until loss or p99 > `--p99-max-ms`.
//! - `b3`: group fan-out: M online members, one message per 100 ms, then a burst.
//! - `b4`: K idle authenticated sockets: server RSS per connection and idle CPU.
//! - `b5`: K connected sockets, `--restart-cmd` kills -9 and restarts the server mid-traffic;
//!   clients reconnect with their tokens and catch up by message id.
//!
//! Every run checks, per connection and per room, that each message arrived exactly once and
//! in message-id order. A run with any loss, duplicate or reorder is refused: the failure is
//! printed and the exit code is non-zero. Server CPU and RSS come from `/proc/<pid>` of
//! `--server-pid`. `--smoke` starts its own server (`target/debug/jim` or `--jim`) on a temp
//! data dir and a free port and runs tiny versions of b1, b3, b4 and b5.
//!
//! Each run prints a human report and one `RESULT {json}` line for scripts.

// A tool run by hand and by tests/api/load_smoke.rs: stopping with a message is its way to fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod group;
mod idle;
mod pairs;
mod procfs;
mod report;
mod restart;
mod send;
mod smoke;
mod ws;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};

use crate::api::*;
use crate::group::*;
use crate::idle::*;
use crate::pairs::*;
use crate::restart::*;
use crate::smoke::*;

pub(crate) type Res<T> = Result<T, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
    B1,
    B2,
    B3,
    B4,
    B5,
    /// Internal (b4 with `--procs`): hold the sockets listed on stdin until stdin closes.
    Hold,
}

/// Command line.
#[derive(Debug, Parser, Clone)]
#[command(about = "Open-loop load generator for jim serve (see examples/load/main.rs)")]
pub(crate) struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub(crate) url: String,
    /// Pid of the server process, for CPU and RSS from /proc.
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,
    #[arg(long, value_enum, default_value = "b1")]
    pub(crate) scenario: Scenario,
    /// Start a server (`--jim`) on a temp dir and run tiny b1, b3, b4, b5.
    #[arg(long)]
    pub(crate) smoke: bool,
    /// The `jim` binary for `--smoke` (default target/debug/jim).
    #[arg(long)]
    pub(crate) jim: Option<PathBuf>,
    /// b1/b2/b5: friend pairs.
    #[arg(long, default_value_t = 1000)]
    pub(crate) pairs: usize,
    /// b1/b5: offered messages per second.
    #[arg(long, default_value_t = 5000.0)]
    pub(crate) rate: f64,
    /// Seconds of sending (b1, each b2 step, b5).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// b1: seconds of sending at the same rate before the measured phase, so that the
    /// figures are the steady state's (each sender's first message reads its friendship
    /// from the database). Its deliveries are checked like the rest; its latencies are
    /// reported apart, as `warmup`.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) warmup: f64,
    /// b2: offered rates to step through.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,4000,8000,16000,20000")]
    pub(crate) rates: Vec<f64>,
    /// b2: a step passes only with p99 at or below this.
    #[arg(long, default_value_t = 250.0)]
    pub(crate) p99_max_ms: f64,
    /// b3: group members (all online).
    #[arg(long, default_value_t = 1000)]
    pub(crate) members: usize,
    /// b3: paced messages (one per 100 ms) before the burst.
    #[arg(long, default_value_t = 50)]
    pub(crate) ticks: usize,
    /// b3: burst size.
    #[arg(long, default_value_t = 200)]
    pub(crate) burst: usize,
    /// b4/b5: WebSocket connections to open.
    #[arg(long, default_value_t = 10000)]
    pub(crate) conns: usize,
    /// b4/b5: connections per user (server cap: 10).
    #[arg(long, default_value_t = 10)]
    pub(crate) conns_per_user: usize,
    /// Spread sockets over 127.0.0.1 ..= 127.0.0.N.
    #[arg(long, default_value_t = 1)]
    pub(crate) source_ips: u8,
    /// b5: shell command that kills -9 the server and starts it again, returning once it is
    /// ready; it may print the new pid on its last stdout line.
    #[arg(long)]
    pub(crate) restart_cmd: Option<String>,
    /// b4: client processes holding the sockets (one process may hold ~20,000 descriptors
    /// here, so ~19,000 sockets need two).
    #[arg(long, default_value_t = 1)]
    pub(crate) procs: usize,
    /// b4: seconds of idle measurement.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) idle_secs: f64,
    /// Seconds without delivery progress after which the remaining messages count as lost.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) drain_secs: f64,
    /// Most sends in flight (an open loop still measures from the scheduled time).
    #[arg(long, default_value_t = 4096)]
    pub(crate) max_inflight: usize,
    /// Username prefix (default: derived from the clock, so runs never collide).
    #[arg(long)]
    pub(crate) prefix: Option<String>,
}

// The same allocator as the server: glibc malloc's free-list work was a visible share of
// this tool's CPU, which the server it measures shares.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let start = Instant::now();
    let prefix = args.prefix.clone().unwrap_or_else(|| {
        let t =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("ld{:x}u", t.as_millis() % 0xffff_ffff)
    });
    let result = if args.smoke {
        smoke(&args, start).await
    } else {
        match Api::new(&args.url) {
            Err(e) => Err(e),
            Ok(api) => match args.scenario {
                Scenario::B1 => b1(&api, &args, &prefix, start).await,
                Scenario::B2 => b2(&api, &args, &prefix, start).await,
                Scenario::B3 => b3(&api, &args, &prefix, start).await,
                Scenario::B4 => b4(&api, &args, &prefix, start).await,
                Scenario::Hold => hold(&api, start).await,
                Scenario::B5 => match &args.restart_cmd {
                    Some(cmd) => b5(&api, &args, &prefix, start, Restarter::Cmd(cmd.clone())).await,
                    None => Err("b5 needs --restart-cmd".into()),
                },
            },
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
    }
}
