//! `--smoke`: a `jim serve` of our own on a temp data dir, and tiny runs of b1, b3, b4 and b5.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::*;
use crate::group::*;
use crate::idle::*;
use crate::pairs::*;
use crate::restart::*;
use crate::{Args, Res};

/// A `jim serve` child on a temp data dir.
pub(crate) struct Server {
    pub(crate) bin: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
    pub(crate) child: Option<Child>,
}

impl Server {
    pub(crate) fn spawn(&mut self) -> Res<()> {
        let log = std::fs::File::create(self.dir.join("server.log")).map_err(|e| e.to_string())?;
        let child = Command::new(&self.bin)
            .arg("-O")
            .arg(format!("data_dir={}", self.dir.display()))
            .arg("-O")
            .arg(format!("http.listen=127.0.0.1:{}", self.port))
            .args([
                "-O",
                "http.workers=2",
                "-O",
                "auth.captcha_on_register=false",
                "-O",
                "auth.bcrypt_cost=4",
            ])
            .args(["-O", "log.level=warn", "-O", "chat.world_enabled=false", "serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) async fn smoke(args: &Args, start: Instant) -> Res<()> {
    let bin = args.jim.clone().unwrap_or_else(|| PathBuf::from("target/debug/jim"));
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut server = Server { bin, dir: dir.path().to_path_buf(), port, child: None };
    server.spawn()?;
    let api = Api::new(&format!("http://127.0.0.1:{port}"))?;
    let began = Instant::now();
    while !api.ready().await {
        if began.elapsed() > Duration::from_secs(15) {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            return Err(format!("server not ready after 15 s: {log}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let server = Arc::new(std::sync::Mutex::new(server));
    let mut a = args.clone();
    a.server_pid = Some(server.lock().expect("server").pid());
    a.pairs = 5;
    a.rate = 50.0;
    a.duration = 1.0;
    a.drain_secs = 3.0;
    b1(&api, &a, "smk1u", start).await?;
    a.members = 6;
    a.ticks = 5;
    a.burst = 20;
    b3(&api, &a, "smk3u", start).await?;
    a.conns = 20;
    a.idle_secs = 0.5;
    // Two processes, as the ~19k step runs.
    a.procs = 2;
    b4(&api, &a, "smk4u", start).await?;
    a.procs = 1;
    a.conns = 8;
    a.conns_per_user = 2;
    a.rate = 40.0;
    a.duration = 1.5;
    b5(&api, &a, "smk5u", start, Restarter::Child(server.clone())).await?;
    server.lock().expect("server").kill();
    println!("SMOKE OK");
    Ok(())
}
