//! The web client's files (`web/` of the repository, compiled into the binary; a debug build
//! reads them from disk, so editing the client needs no rebuild), served at `/` with a strict
//! Content-Security-Policy, strong ETags, `no-cache` (every load revalidates, so a new binary's
//! client is picked up at once) and gzip made once per file version.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{LazyLock, Mutex};

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// The client's files.
#[derive(rust_embed::RustEmbed)]
#[folder = "web/"]
struct Files;

/// What the client's pages may load: scripts, styles and fonts from this server only (no
/// inline script, no eval), pictures and sound from it or from `blob:` (previews, captcha),
/// connections to it (HTTP and its WebSocket), and never inside another site's frame.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob:; media-src 'self' blob:; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The answer for `req` when it asks for one of the client's files (`GET`/`HEAD`, web client
/// enabled); `None` lets the caller answer as for an unknown route.
pub fn serve(req: &HttpRequest, enabled: bool) -> Option<HttpResponse> {
    if !enabled || !(req.method() == Method::GET || req.method() == Method::HEAD) {
        return None;
    }
    let path = match req.path() {
        "/" => "index.html",
        p => p.strip_prefix('/')?,
    };
    // Hidden files and folders (editor leftovers) are never served.
    if path.split('/').any(|part| part.is_empty() || part.starts_with('.')) {
        return None;
    }
    let file = Files::get(path)?;
    let hash = hex::encode(&file.metadata.sha256_hash()[..16]);
    let gzip = accepts_gzip(req) && compressible(path);
    let body = if gzip { gzipped(&hash, &file.data) } else { None };
    let gzip = body.is_some();
    let etag = if gzip { format!("\"{hash}-gz\"") } else { format!("\"{hash}\"") };

    let mut res = if if_none_match(req, &etag) {
        HttpResponse::NotModified().finish()
    } else {
        let mut res = match body {
            Some(body) => {
                HttpResponse::Ok().insert_header((header::CONTENT_ENCODING, "gzip")).body(body)
            }
            // A release build's files are static: sent without a copy.
            None => HttpResponse::Ok().body(match file.data {
                Cow::Borrowed(bytes) => Bytes::from_static(bytes),
                Cow::Owned(bytes) => Bytes::from(bytes),
            }),
        };
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
        res
    };
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(csp) = HeaderValue::from_str(&policy(req)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    Some(res)
}

/// [`CSP`] plus `connect-src`: this server, and its WebSocket by name (older browsers do not
/// count `ws:`/`wss:` of the page's host as `'self'`). The host comes from the request's
/// `Host` header and is left out unless it is a plain `name[:port]` or `[v6][:port]`.
fn policy(req: &HttpRequest) -> String {
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).filter(|h| {
        !h.is_empty()
            && h.len() <= 255
            && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
    });
    match host {
        Some(h) => format!("{CSP}; connect-src 'self' ws://{h} wss://{h}"),
        None => format!("{CSP}; connect-src 'self'"),
    }
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers().get_all(header::ACCEPT_ENCODING).filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim().strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>() == Ok(0.0))
            });
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// Text is worth compressing; pictures already are.
fn compressible(path: &str) -> bool {
    matches!(
        extension(path),
        "html" | "js" | "mjs" | "css" | "svg" | "json" | "webmanifest" | "txt"
    )
}

fn extension(path: &str) -> &str {
    path.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("")
}

fn content_type(path: &str) -> &'static str {
    match extension(path) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// A file's gzip, made once per version (its hash) and kept: the client is a few small files
/// (a debug build, which reads them from disk, keeps one more per edit).
fn gzipped(hash: &str, data: &[u8]) -> Option<Bytes> {
    static CACHE: LazyLock<Mutex<HashMap<String, Bytes>>> = LazyLock::new(Default::default);
    if let Some(hit) = CACHE.lock().ok().and_then(|c| c.get(hash).cloned()) {
        return Some(hit);
    }
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::best());
    // Writing to memory does not fail; if it did, the file goes out uncompressed.
    encoder.write_all(data).ok()?;
    let body = Bytes::from(encoder.finish().ok()?);
    if let Ok(mut cache) = CACHE.lock() {
        cache.insert(hash.to_string(), body.clone());
    }
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;

    #[test]
    fn index_is_served_at_the_root_with_its_policy() {
        let req = TestRequest::get().uri("/").to_http_request();
        let res = serve(&req, true).expect("index");
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers();
        assert_eq!(h.get(header::CONTENT_TYPE).unwrap(), "text/html; charset=utf-8");
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-cache");
        let csp = h.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
        assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe"));
        assert!(serve(&req, false).is_none(), "disabled");
    }

    #[test]
    fn unknown_hidden_and_non_get_paths_are_not_served() {
        for uri in
            ["/nope.js", "/api/v1/auth/login", "/js/.hidden", "/js//api.js", "/../Cargo.toml"]
        {
            let req = TestRequest::get().uri(uri).to_http_request();
            assert!(serve(&req, true).is_none(), "{uri}");
        }
        let req = TestRequest::post().uri("/").to_http_request();
        assert!(serve(&req, true).is_none());
    }

    #[test]
    fn gzip_and_etags() {
        let req = TestRequest::get()
            .uri("/js/app.js")
            .insert_header((header::ACCEPT_ENCODING, "br, gzip;q=0.8"))
            .to_http_request();
        let res = serve(&req, true).expect("app.js");
        assert_eq!(res.headers().get(header::CONTENT_ENCODING).unwrap(), "gzip");
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/javascript; charset=utf-8"
        );
        let etag = res.headers().get(header::ETAG).unwrap().to_str().unwrap().to_string();
        assert!(etag.ends_with("-gz\""));
        let again = TestRequest::get()
            .uri("/js/app.js")
            .insert_header((header::ACCEPT_ENCODING, "gzip"))
            .insert_header((header::IF_NONE_MATCH, etag.as_str()))
            .to_http_request();
        assert_eq!(serve(&again, true).unwrap().status(), StatusCode::NOT_MODIFIED);
        let plain = TestRequest::get()
            .uri("/js/app.js")
            .insert_header((header::ACCEPT_ENCODING, "gzip;q=0"))
            .to_http_request();
        let res = serve(&plain, true).unwrap();
        assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
    }
}
