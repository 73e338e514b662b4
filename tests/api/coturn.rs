//! A private coturn (the TURN server operators most often run beside jim) for the call tests:
//! installed once per machine by scripts/install-coturn.sh (Debian's package), started per
//! test on 127.0.0.1 with a random port and `use-auth-secret`, killed on drop; and a TURN
//! client just big enough to ask it for a relay (an Allocate with long-term credentials,
//! RFC 5766 / RFC 5389), so a test sees whether it accepts a username and password.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use tempfile::TempDir;
use tokio::net::UdpSocket;

use crate::helpers::{free_port, installed_by, scaleout_required};

/// The realm the test server announces (any text: it is part of the key).
pub const REALM: &str = "jim.test";

/// The turnserver binary, installed (or found) once per test process.
fn turnserver_bin() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| installed_by("install-coturn.sh")).clone()
}

/// A running turnserver.
pub struct Coturn {
    child: Option<Child>,
    pub port: u16,
    /// Its log (stdout), and its user database.
    dir: TempDir,
}

impl Coturn {
    /// Start one sharing `secret` with its clients' issuer. `None` (the test is skipped, with
    /// the reason printed) when coturn cannot be installed, unless
    /// `JIM_TEST_REQUIRE_SCALEOUT=1`: then it panics.
    pub async fn start(secret: &str) -> Option<Coturn> {
        let bin = match tokio::task::spawn_blocking(turnserver_bin).await.unwrap() {
            Ok(bin) => bin,
            Err(e) if scaleout_required() => panic!("coturn required but unavailable: {e}"),
            Err(e) => {
                eprintln!("SKIPPED: coturn unavailable: {e}");
                return None;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        // Relay ports of their own, so that parallel tests do not share a range.
        let low = 40_000 + (port % 200) * 100;
        let log = std::fs::File::create(dir.path().join("turnserver.log")).unwrap();
        let child = Command::new(bin)
            .args(["-n", "--log-file=stdout", "--simple-log", "--no-cli", "--no-tls", "--no-dtls"])
            .args(["--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
            .arg(format!("--listening-port={port}"))
            .arg(format!("--min-port={low}"))
            .arg(format!("--max-port={}", low + 99))
            .args(["--use-auth-secret", &format!("--static-auth-secret={secret}")])
            .arg(format!("--realm={REALM}"))
            .args(["--allow-loopback-peers", "--verbose"])
            .arg(format!("--userdb={}", dir.path().join("turndb").display()))
            .arg(format!("--pidfile={}", dir.path().join("turnserver.pid").display()))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let coturn = Coturn { child: Some(child), port, dir };
        for _ in 0..100 {
            if coturn.binding().await {
                return Some(coturn);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("turnserver did not answer on 127.0.0.1:{port}; log:\n{}", coturn.log());
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("turnserver.log")).unwrap_or_default()
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Whether it answers a STUN Binding request.
    async fn binding(&self) -> bool {
        let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else { return false };
        let request = message(BINDING_REQUEST, &transaction_id(), &[]);
        match exchange(&socket, self.addr(), &request).await {
            Some(answer) => answer.kind == BINDING_SUCCESS,
            None => false,
        }
    }

    /// Ask for a UDP relay with these credentials: the relayed address when the server grants
    /// it, the error code it answered otherwise.
    pub async fn allocate(&self, username: &str, password: &str) -> Result<SocketAddr, u16> {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut transport = Vec::new();
        attribute(&mut transport, REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        // First without credentials: the server names its realm and a nonce (401).
        let first = message(ALLOCATE_REQUEST, &transaction_id(), &transport);
        let challenge = exchange(&socket, self.addr(), &first).await.expect("an answer");
        assert_eq!(challenge.kind, ALLOCATE_ERROR, "unauthenticated Allocate must be challenged");
        assert_eq!(challenge.error_code(), Some(401));
        let realm = challenge.get(REALM_ATTR).expect("a realm").to_vec();
        let nonce = challenge.get(NONCE).expect("a nonce").to_vec();
        assert_eq!(realm, REALM.as_bytes());
        // Then with them: key = MD5(username ":" realm ":" password).
        let mut attrs = Vec::new();
        attribute(&mut attrs, USERNAME, username.as_bytes());
        attribute(&mut attrs, REALM_ATTR, &realm);
        attribute(&mut attrs, NONCE, &nonce);
        attrs.extend_from_slice(&transport);
        let key = Md5::digest(format!("{username}:{REALM}:{password}").as_bytes());
        let request = with_integrity(ALLOCATE_REQUEST, &transaction_id(), attrs, &key);
        let answer = exchange(&socket, self.addr(), &request).await.expect("an answer");
        match answer.kind {
            ALLOCATE_SUCCESS => {
                let relayed = answer.get(XOR_RELAYED_ADDRESS).expect("a relayed address");
                Ok(xor_address(relayed))
            }
            _ => Err(answer.error_code().unwrap_or(0)),
        }
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const ALLOCATE_REQUEST: u16 = 0x0003;
const ALLOCATE_SUCCESS: u16 = 0x0103;
const ALLOCATE_ERROR: u16 = 0x0113;
const USERNAME: u16 = 0x0006;
const MESSAGE_INTEGRITY: u16 = 0x0008;
const ERROR_CODE: u16 = 0x0009;
const REALM_ATTR: u16 = 0x0014;
const NONCE: u16 = 0x0015;
const XOR_RELAYED_ADDRESS: u16 = 0x0016;
const REQUESTED_TRANSPORT: u16 = 0x0019;

fn transaction_id() -> [u8; 12] {
    let mut id = [0u8; 12];
    id.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..12]);
    id
}

fn attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn header(kind: u16, length: usize, id: &[u8; 12]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + length);
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(length as u16).to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE);
    out.extend_from_slice(id);
    out
}

fn message(kind: u16, id: &[u8; 12], attrs: &[u8]) -> Vec<u8> {
    let mut out = header(kind, attrs.len(), id);
    out.extend_from_slice(attrs);
    out
}

/// The message with MESSAGE-INTEGRITY last: HMAC-SHA1 over everything before it, the length
/// in the header already counting the integrity attribute (24 bytes).
fn with_integrity(kind: u16, id: &[u8; 12], attrs: Vec<u8>, key: &[u8]) -> Vec<u8> {
    let mut out = header(kind, attrs.len() + 24, id);
    out.extend_from_slice(&attrs);
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).unwrap();
    mac.update(&out);
    attribute(&mut out, MESSAGE_INTEGRITY, &mac.finalize().into_bytes());
    out
}

/// A STUN answer: its type and attributes.
struct Answer {
    kind: u16,
    attributes: Vec<(u16, Vec<u8>)>,
}

impl Answer {
    fn get(&self, kind: u16) -> Option<&[u8]> {
        self.attributes.iter().find(|(k, _)| *k == kind).map(|(_, v)| v.as_slice())
    }

    fn error_code(&self) -> Option<u16> {
        let v = self.get(ERROR_CODE)?;
        Some(u16::from(v[2] & 0x07) * 100 + u16::from(v[3]))
    }
}

async fn exchange(socket: &UdpSocket, to: SocketAddr, request: &[u8]) -> Option<Answer> {
    for _ in 0..3 {
        socket.send_to(request, to).await.ok()?;
        let mut buf = [0u8; 2048];
        let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await
        else {
            continue;
        };
        let data = &buf[..n];
        if n < 20 || data[4..8] != MAGIC_COOKIE || data[8..20] != request[8..20] {
            continue;
        }
        let mut attributes = Vec::new();
        let mut at = 20;
        while at + 4 <= n {
            let kind = u16::from_be_bytes([data[at], data[at + 1]]);
            let len = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
            let value = data.get(at + 4..at + 4 + len)?.to_vec();
            attributes.push((kind, value));
            at += 4 + len.div_ceil(4) * 4;
        }
        return Some(Answer { kind: u16::from_be_bytes([data[0], data[1]]), attributes });
    }
    None
}

/// An XOR-…-ADDRESS value (IPv4).
fn xor_address(value: &[u8]) -> SocketAddr {
    let port = u16::from_be_bytes([value[2], value[3]]) ^ 0x2112;
    let ip: [u8; 4] = std::array::from_fn(|i| value[4 + i] ^ MAGIC_COOKIE[i]);
    SocketAddr::from((ip, port))
}
