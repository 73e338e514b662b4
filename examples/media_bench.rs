//! `media_bench`: upload and download figures for a running `jim serve`, through the API.
//!
//! - `--file PATH`: uploads the file (streamed from disk, never held in memory), downloads it
//!   back, checks its SHA-256, and prints both throughputs and how far the server's RSS rose
//!   above its level before the transfer (`--server-pid`). With `--compare-url` (the same
//!   file served by another server, e.g. nginx) it downloads that too, with the same client,
//!   for the ratio.
//! - `--photos N --seconds S`: N clients each upload a generated 12-megapixel JPEG over and
//!   over for S seconds (what runs beside the load tool's b1 to see chat latency under photo
//!   uploads); prints uploads done and their latency percentiles.
//!
//! Each run prints a human report and one `RESULT {json}` line for scripts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

#[derive(Debug, Parser)]
#[command(about = "Upload/download figures for jim serve (see examples/media_bench.rs)")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The server's pid, for its RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A file to upload and download back.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The same file served by another server (the download is compared).
    #[arg(long)]
    compare_url: Option<String>,
    /// Concurrent photo uploaders.
    #[arg(long, default_value_t = 0)]
    photos: usize,
    /// Seconds the photo uploaders run.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// A label for the RESULT line (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
}

fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Samples the server's RSS every 20 ms until stopped; the peak in KiB.
struct RssWatch {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssWatch {
    fn start(pid: Option<u32>) -> RssWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid).unwrap_or(0)));
        let (s, p) = (stop.clone(), peak.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if let Some(rss) = rss_kib(pid) {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        RssWatch { stop, peak, task }
    }

    async fn peak(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}

async fn login(client: &reqwest::Client, url: &str, name: &str) -> String {
    let pw = "bench-passw0rd";
    let reg = json!({"username": name, "password": pw, "confirm_password": pw});
    let _ = client.post(format!("{url}/api/v1/auth/register")).json(&reg).send().await;
    let res: Value = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": name, "password": pw}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["data"]["token"].as_str().expect("a token (is captcha_on_register off?)").to_string()
}

/// Read `path` as a stream of 256 KiB chunks.
fn file_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures_util::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
}

/// Download `url` (with `token` when given), hashing it; (bytes, seconds, sha256).
async fn download(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u64, f64, String) {
    let mut req = client.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let start = Instant::now();
    let mut res = req.send().await.unwrap();
    assert!(res.status().is_success(), "GET {url}: {}", res.status());
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = res.chunk().await.unwrap() {
        n += chunk.len() as u64;
        hasher.update(&chunk);
    }
    (n, start.elapsed().as_secs_f64(), hex::encode(hasher.finalize()))
}

fn mib_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1048576.0 / secs
}

async fn big_file(args: &Args, client: &reqwest::Client, path: &PathBuf) -> Value {
    let token = login(client, &args.url, "bench_big").await;
    let len = std::fs::metadata(path).unwrap().len();
    let base = rss_kib(args.server_pid).unwrap_or(0);

    let watch = RssWatch::start(args.server_pid);
    let file = tokio::fs::File::open(path).await.unwrap();
    let body = reqwest::Body::wrap_stream(file_stream(file));
    let part = reqwest::multipart::Part::stream_with_length(body, len).file_name("big.bin");
    let form = reqwest::multipart::Form::new().text("kind", "file").part("file", part);
    let start = Instant::now();
    let res = client
        .post(format!("{}/api/v1/media/upload", args.url))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let answer: Value = res.json().await.unwrap();
    let up_secs = start.elapsed().as_secs_f64();
    let up_peak = watch.peak().await;
    let info = &answer["data"];
    assert!(info["id"].is_string(), "upload failed: {answer}");

    let base_down = rss_kib(args.server_pid).unwrap_or(0);
    let watch = RssWatch::start(args.server_pid);
    let url = format!("{}{}", args.url, info["url"].as_str().unwrap());
    let (n, down_secs, sha) = download(client, &url, Some(&token)).await;
    let down_peak = watch.peak().await;
    assert_eq!(n, len);
    assert_eq!(sha, info["sha256"].as_str().unwrap(), "the bytes came back intact");

    let compare = match &args.compare_url {
        Some(other) => {
            let (n2, secs2, sha2) = download(client, other, None).await;
            assert_eq!((n2, &sha2), (n, &sha), "the compared server serves the same file");
            Some(secs2)
        }
        None => None,
    };
    let up = mib_s(len, up_secs);
    let down = mib_s(len, down_secs);
    println!("file: {} MiB ({})", len / 1048576, args.label);
    println!(
        "  upload:   {up:8.1} MiB/s  server RSS +{:.1} MiB over {:.1} MiB",
        up_peak.saturating_sub(base) as f64 / 1024.0,
        base as f64 / 1024.0
    );
    println!(
        "  download: {down:8.1} MiB/s  server RSS +{:.1} MiB over {:.1} MiB",
        down_peak.saturating_sub(base_down) as f64 / 1024.0,
        base_down as f64 / 1024.0
    );
    if let Some(secs) = compare {
        let other = mib_s(len, secs);
        println!("  compared: {other:8.1} MiB/s  (download ratio {:.2})", down / other);
    }
    json!({
        "label": args.label,
        "bytes": len,
        "upload_mib_s": up,
        "download_mib_s": down,
        "upload_rss_growth_mib": up_peak.saturating_sub(base) as f64 / 1024.0,
        "download_rss_growth_mib": down_peak.saturating_sub(base_down) as f64 / 1024.0,
        "compare_download_mib_s": compare.map(|s| mib_s(len, s)),
    })
}

/// A 12-megapixel JPEG (4000 x 3000) with enough detail to cost a real decode.
fn photo() -> Vec<u8> {
    let img = image::RgbImage::from_fn(4000, 3000, |x, y| {
        image::Rgb([((x * 7 + y) % 256) as u8, ((y * 3) % 256) as u8, ((x ^ y) % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

async fn photos(args: &Args, client: &reqwest::Client) -> Value {
    let bytes = bytes::Bytes::from(tokio::task::spawn_blocking(photo).await.unwrap());
    let token = login(client, &args.url, "bench_photos").await;
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.photos {
        let (client, url, token, bytes) =
            (client.clone(), args.url.clone(), token.clone(), bytes.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let part = reqwest::multipart::Part::stream(bytes.clone()).file_name("photo.jpg");
                let form = reqwest::multipart::Form::new().text("kind", "image").part("file", part);
                let start = Instant::now();
                let res = client
                    .post(format!("{url}/api/v1/media/upload"))
                    .bearer_auth(&token)
                    .multipart(form)
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                let _ = res.bytes().await;
                assert!(status.is_success(), "photo upload: {status}");
                latencies.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "photos: {} uploads of {:.1} MB by {} clients in {:.0} s; latency p50 {:.0} ms, p99 {:.0} ms",
        all.len(),
        bytes.len() as f64 / 1e6,
        args.photos,
        args.seconds,
        pct(0.5),
        pct(0.99)
    );
    json!({"label": args.label, "uploads": all.len(), "photo_bytes": bytes.len(), "p50_ms": pct(0.5), "p99_ms": pct(0.99)})
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let client = reqwest::Client::new();
    let mut result = json!({});
    if let Some(path) = &args.file {
        result["file"] = big_file(&args, &client, path).await;
    }
    if args.photos > 0 {
        result["photos"] = photos(&args, &client).await;
    }
    println!("RESULT {result}");
}
