//! A real SMTP server for the email tests: aiosmtpd (installed once per machine by
//! scripts/install-smtp-sink.sh) running tests/support/smtp_sink.py on a free port, with
//! STARTTLS and AUTH on a certificate generated per server (or implicit TLS, or none). Each
//! accepted mail lands as a JSON file the test reads back; the server can be stopped and
//! started again on the same port (an outage).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{eventually, free_port, installed_by, scaleout_required};

pub const SMTP_USER: &str = "jim";
pub const SMTP_PASSWORD: &str = "s3cret-smtp";

/// How the server takes connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// STARTTLS required, then AUTH required.
    StartTls,
    /// TLS from the first byte, no AUTH.
    ImplicitTls,
    /// Plain SMTP, no AUTH (a local relay).
    Plain,
}

/// The Python with aiosmtpd, installed (or found in the cache) once per test process.
fn sink_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(|| installed_by("install-smtp-sink.sh")).clone()
}

/// A running SMTP sink.
pub struct SmtpSink {
    pub port: u16,
    pub security: Security,
    dir: TempDir,
    child: Option<Child>,
}

impl SmtpSink {
    /// Start one. `None` (the test is skipped) when aiosmtpd or openssl cannot be had,
    /// unless `JIM_TEST_REQUIRE_SCALEOUT=1` (CI): then it panics.
    pub async fn start(security: Security) -> Option<SmtpSink> {
        let dir = tempfile::tempdir().expect("tempdir");
        let made = make_certificates(dir.path());
        let ready = match (made, sink_python()) {
            (Ok(()), Ok(_)) => Ok(()),
            (made, python) => Err(format!("openssl: {made:?}, aiosmtpd: {python:?}")),
        };
        if let Err(why) = ready {
            if scaleout_required() {
                panic!("the SMTP sink is required but cannot start: {why}");
            }
            eprintln!("SKIPPED email test: {why}");
            return None;
        }
        let mut sink = SmtpSink { port: free_port(), security, dir, child: None };
        sink.restart().await;
        Some(sink)
    }

    /// Where the accepted mails are written.
    fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// The CA file jim must trust for this server (the test CA that signed its certificate).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `[mail]` settings that reach this server.
    pub fn configure(&self, mail: &mut jim::config::MailConfig) {
        mail.smtp_url = match self.security {
            Security::StartTls => {
                format!("smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{}", self.port)
            }
            Security::ImplicitTls => format!("smtps://127.0.0.1:{}", self.port),
            Security::Plain => format!("smtp://127.0.0.1:{}?tls=none", self.port),
        };
        mail.smtp_ca_file = self.ca_file().display().to_string();
        mail.from = "JIM Test <no-reply@jim.test>".into();
        mail.smtp_timeout_secs = 10;
        mail.poll_interval_ms = 100;
        mail.retry_initial_ms = 100;
        mail.retry_max_ms = 500;
        mail.requests_per_ip_per_hour = 1000;
        mail.codes_per_account_per_hour = 100;
        mail.codes_per_address_per_hour = 100;
    }

    /// Stop the server (SIGKILL) and wait for it: an outage.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server (again) on the same port and wait until it says it listens.
    pub async fn restart(&mut self) {
        use std::io::BufRead;
        self.stop();
        let python = sink_python().expect("aiosmtpd installed");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .args(["--port", &self.port.to_string()])
            .arg("--maildir")
            .arg(self.maildir());
        let (cert, key) = (self.dir.path().join("cert.pem"), self.dir.path().join("key.pem"));
        match self.security {
            Security::StartTls => {
                cmd.arg("--starttls").arg(&cert).arg(&key);
                cmd.args(["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]);
            }
            Security::ImplicitTls => {
                cmd.arg("--implicit-tls").arg(&cert).arg(&key);
            }
            Security::Plain => {}
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the SMTP sink");
        let stdout = child.stdout.take().expect("stdout");
        let ready = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(20), ready)
            .await
            .expect("the SMTP sink starts within 20 s")
            .expect("join")
            .expect("read");
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        self.child = Some(child);
    }

    /// Every mail accepted so far, oldest first.
    pub fn mails(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(self.maildir()) else { return Vec::new() };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
            .map(|p| (std::fs::metadata(&p).and_then(|m| m.modified()).expect("mtime"), p))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    /// The mails sent to `to`.
    pub fn mails_to(&self, to: &str) -> Vec<Value> {
        self.mails()
            .into_iter()
            .filter(|m| m["rcpt_tos"].as_array().unwrap().iter().any(|r| r == to))
            .collect()
    }

    /// Wait (up to 15 s) until `to` has received `n` mails; returns them.
    pub async fn wait_for(&self, to: &str, n: usize) -> Vec<Value> {
        let arrived =
            eventually(Duration::from_secs(15), || async { self.mails_to(to).len() >= n }).await;
        let mails = self.mails_to(to);
        assert!(arrived, "{to} received {} mail(s), not {n}: {mails:?}", mails.len());
        mails
    }
}

/// A throw-away CA (`ca.pem`) and a server certificate it signed for 127.0.0.1 and
/// localhost (`cert.pem`, `key.pem`) in `dir`. (A self-signed CA certificate used by the
/// server itself would be refused by rustls: a CA is not an end entity.)
fn make_certificates(dir: &Path) -> Result<(), String> {
    let openssl = |args: &[&str]| -> Result<(), String> {
        let status = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("openssl: {e}"))?;
        if status.success() { Ok(()) } else { Err(format!("openssl {args:?}: {status}")) }
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=jim-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        "cert.pem",
        "-extfile",
        "server.ext",
    ])
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The 6-digit code of a mail: the line of its text part that is 6 digits and nothing else.
pub fn code_of(mail: &Value) -> String {
    let text = mail["text"].as_str().unwrap();
    text.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_string()
}
