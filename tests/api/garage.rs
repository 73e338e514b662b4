//! A private Garage (an S3-compatible store operators run in production) for the media tests:
//! installed once per machine by scripts/install-garage.sh, started per test in a fresh
//! directory on free ports with its key and bucket created at start-up, SIGKILLed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jim::media::blob::S3Settings;
use tempfile::TempDir;

use crate::helpers::{free_port, installed_by, scaleout_required};

const BUCKET: &str = "jim-media-test";
/// Must equal `s3_region` in the config: it is part of every signature.
const REGION: &str = "garage";
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The garage binary, installed (or found in the cache) once per test process.
fn garage_bin() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        // Building takes minutes the first time on a machine; the script prints why on stderr.
        installed_by("install-garage.sh")
    })
    .clone()
}

/// A running single-node Garage with one bucket and one key.
pub struct Garage {
    child: Option<Child>,
    /// Garage's data, metadata, config and log; removed after the process is killed.
    _dir: TempDir,
    s3_port: u16,
    key_id: String,
    secret: String,
}

fn hex(bytes: usize) -> String {
    let mut out = String::new();
    while out.len() < bytes * 2 {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(bytes * 2);
    out
}

/// The status code of `GET path` on 127.0.0.1:`port`, or `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

impl Garage {
    /// Start one. `None` (the test is skipped, with the reason printed) when Garage cannot be
    /// installed or started, unless `JIM_TEST_REQUIRE_SCALEOUT=1`: then it panics.
    pub async fn start() -> Option<Garage> {
        let started = tokio::task::spawn_blocking(|| {
            let bin = garage_bin()?;
            let mut last = String::new();
            // Ports are picked free, then bound by Garage: another process may take one in
            // between, so a failed start is retried with new ports.
            for _ in 0..3 {
                match Garage::try_start(&bin) {
                    Ok(garage) => return Ok(garage),
                    Err(e) => last = e,
                }
            }
            Err(last)
        })
        .await
        .expect("garage start task");
        match started {
            Ok(garage) => Some(garage),
            Err(e) if scaleout_required() => {
                panic!("Garage required (JIM_TEST_REQUIRE_SCALEOUT=1) but unavailable: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED S3 test: Garage unavailable: {e}");
                None
            }
        }
    }

    fn try_start(bin: &Path) -> Result<Garage, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (s3_port, rpc_port, admin_port) = (free_port(), free_port(), free_port());
        let root = dir.path().display().to_string();
        let config = format!(
            r#"metadata_dir = "{root}/meta"
data_dir = "{root}/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{rpc_secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3_port}"

[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
admin_token = "{admin_token}"
"#,
            rpc_secret = hex(32),
            admin_token = hex(16),
        );
        let config_path = dir.path().join("garage.toml");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let log_path = dir.path().join("garage.log");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let key_id = format!("GK{}", hex(12));
        let secret = hex(32);
        let child = Command::new(bin)
            .arg("-c")
            .arg(&config_path)
            .args(["server", "--single-node", "--default-bucket"])
            .env("GARAGE_DEFAULT_ACCESS_KEY", &key_id)
            .env("GARAGE_DEFAULT_SECRET_KEY", &secret)
            .env("GARAGE_DEFAULT_BUCKET", BUCKET)
            .env("RUST_LOG", "warn,garage=info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        // From here on, dropping `garage` kills the process.
        let mut garage = Garage { child: Some(child), _dir: dir, s3_port, key_id, secret };
        let log_tail = |path: &Path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(10)..].join("\n")
        };
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if let Some(child) = garage.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("garage exited ({status}):\n{}", log_tail(&log_path)));
            }
            // A port already taken does not stop Garage: it logs this and runs without that
            // API, and the port might then answer for some other process.
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if text.contains("server exited with error") {
                return Err(format!("garage could not bind a port:\n{}", log_tail(&log_path)));
            }
            // Admin health is 200 once the layout exists; the S3 API refuses anonymous
            // requests (403) once the key and bucket are made.
            if http_status(admin_port, "/health") == Some(200)
                && http_status(s3_port, "/") == Some(403)
            {
                return Ok(garage);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let tail = log_tail(&log_path);
        garage.kill();
        Err(format!("garage not ready within {READY_WITHIN:?}:\n{tail}"))
    }

    /// How the media store reaches this Garage.
    pub fn s3_settings(&self) -> S3Settings {
        S3Settings {
            endpoint: format!("http://127.0.0.1:{}", self.s3_port),
            bucket: BUCKET.to_string(),
            region: REGION.to_string(),
            access_key_id: self.key_id.clone(),
            secret_access_key: self.secret.clone(),
            path_style: true,
        }
    }

    /// SIGKILL: the directory is thrown away, so there is nothing to shut down cleanly.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.kill();
    }
}
