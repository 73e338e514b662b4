//! Request-scoped plumbing: request id, the per-request log line, the headers every answer
//! carries, whole numbers in JSON bodies, and the client address.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::Value;
use slog::{info, o};

use super::envelope::{self, RequestContext};
use crate::domain::UserId;
use crate::error::{AppError, ErrorCode};
use crate::state::AppState;

/// The authenticated user of a request, recorded by the auth extractor for the request log.
#[derive(Debug, Clone, Copy)]
pub struct RequestUser(pub UserId);

/// The client address as far as we trust it (proxy headers only from `http.trusted_proxies`).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// Resolve the client address of `req`.
pub fn client_ip(req: &ServiceRequest, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    client_ip_from(req.peer_addr(), req.headers(), trusted_proxies)
}

/// [`client_ip`] from the parts of a request.
pub fn client_ip_from(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trusted_proxies: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer.map(|a| a.ip());
    match peer {
        Some(p) if trusted_proxies.contains(&p) => {
            let forwarded =
                headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).and_then(|v| {
                    // The right-most address not added by one of our proxies is the client.
                    v.split(',')
                        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
                        .rev()
                        .find(|ip| !trusted_proxies.contains(ip))
                });
            let real_ip = headers
                .get("x-real-ip")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<IpAddr>().ok());
            forwarded.or(real_ip).or(peer)
        }
        _ => peer,
    }
}

/// A request id: a UUID v4 from the thread's generator (no system call per request; ids
/// need to be unique, not secret).
pub fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string()
}

/// Headers every answer carries, whatever produced it: `nosniff` (browsers must not guess a
/// type from the body, e.g. run an error message that echoes input as HTML), and an explicit
/// `charset` on JSON.
pub fn answer_headers(headers: &mut HeaderMap) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let bare_json = headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        v.to_str().is_ok_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if bare_json {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
}

/// Give each request an id and a logger, run it, then write one log line: request id,
/// method, path (never the query string, which may hold a token), status, latency, client ip
/// and user id when known.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let ip = client_ip(&req, &state.trusted_proxies);
    req.extensions_mut().insert(ClientIp(ip));
    let request_id = new_request_id();
    let logger = state.log.new(o!("request_id" => request_id.clone()));
    let method = req.method().to_string();
    let path = req.path().to_string();
    let started = Instant::now();

    let ctx = RequestContext { request_id, logger: logger.clone() };
    // Handlers, extractors and CORS turn their errors into answers before this point, so
    // every answer passes here.
    let result = envelope::with_context(ctx, next.call(req)).await.map(|mut res| {
        answer_headers(res.headers_mut());
        res
    });

    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (status, user_id, route) = match &result {
        Ok(res) => (
            res.status().as_u16(),
            res.request().extensions().get::<RequestUser>().map(|u| u.0.get()),
            res.request().match_pattern(),
        ),
        Err(e) => (e.as_response_error().status_code().as_u16(), None, None),
    };
    // Route templates only (never the raw path), so the label set stays bounded.
    let route = route.unwrap_or_else(|| "unmatched".to_string());
    metrics::histogram!("jim_http_request_duration_seconds", "route" => route.clone())
        .record(latency_ms / 1000.0);
    metrics::counter!("jim_http_requests_total", "route" => route, "method" => method_label(&method),
        "status" => status.to_string())
    .increment(1);
    let client_ip = ip.map(|i| i.to_string()).unwrap_or_default();
    info!(logger, "request";
        "method" => method, "path" => path, "status" => status,
        "latency_ms" => (latency_ms * 1000.0).round() / 1000.0,
        "client_ip" => client_ip, "user_id" => user_id);
    result
}

/// JSON does not tell `1` from `1.0`, and JSON Schema calls both integers, but serde refuses a
/// float for an integer field. A request body with whole floats (`1.0`, `2e3`) is passed on
/// with integers in their place; any other body is passed on untouched. The body limit
/// (`http.body_limit_bytes`) is enforced while reading, as the JSON extractor would.
pub async fn whole_numbers(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limit = req.app_data::<web::Data<AppState>>().map(|s| s.config.http.body_limit_bytes);
    // Only JSON bodies are read here; anything else (an upload) streams on untouched.
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    let reads_body = json && req.method() != Method::GET && req.method() != Method::HEAD;
    let Some(limit) = limit.filter(|_| reads_body) else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            let err = AppError::with_message(
                ErrorCode::PayloadTooLarge,
                format!("request body larger than {limit} bytes"),
            );
            return Ok(req.error_response(err).map_into_right_body());
        }
        body.extend_from_slice(&chunk);
    }
    req.set_payload(Payload::from(whole_floats_as_integers(body.freeze())));
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// `body` with its whole floats written as integers, or `body` itself when it has none (or is
/// not JSON: the extractor will say so).
fn whole_floats_as_integers(body: Bytes) -> Bytes {
    // Most bodies (every text message) have no number with a fraction or an exponent: they
    // pass after one scan of their bytes, never parsed twice.
    if !has_fraction_or_exponent(&body) {
        return body;
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    if !integerize(&mut value) {
        return body;
    }
    serde_json::to_vec(&value).map(Bytes::from).unwrap_or(body)
}

/// Whether a JSON text has a number written with a fraction or an exponent (outside strings).
fn has_fraction_or_exponent(body: &[u8]) -> bool {
    let (mut in_string, mut escaped, mut in_number) = (false, false, false);
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => (in_string, in_number) = (true, false),
            b'0'..=b'9' | b'-' => in_number = true,
            b'.' | b'e' | b'E' if in_number => return true,
            b'+' if in_number => {}
            _ => in_number = false,
        }
    }
    false
}

/// Replace whole floats in `value` by integers; whether any was replaced.
fn integerize(value: &mut Value) -> bool {
    /// Beyond 2^53 a float is no longer exactly the whole number the client wrote.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64().map(|f| (f, f.round())) {
            // serde_json's fast float parser may land a unit in the last place off a whole
            // number it was given (`2247254548884485.0` reads as `…4.8`).
            Some((f, whole))
                if whole.abs() <= EXACT
                    && (f - whole).abs() <= 2.0 * f64::EPSILON * whole.abs() =>
            {
                *value = Value::from(whole as i64);
                true
            }
            _ => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |changed, v| integerize(v) | changed),
        Value::Object(map) => map.values_mut().fold(false, |changed, v| integerize(v) | changed),
        _ => false,
    }
}

/// A request method as a metrics label: the standard ones, anything else as `other`.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_floats_become_integers_and_nothing_else_changes() {
        let body = Bytes::from_static(
            br#"{"a":1.0,"b":[2e3,-0.0,1.5,1e-7],"c":{"d":"1.0"},"e":1e300,"f":2247254548884485.0}"#,
        );
        let out: Value = serde_json::from_slice(&whole_floats_as_integers(body)).unwrap();
        let expected = serde_json::json!(
            {"a":1,"b":[2000,0,1.5,1e-7],"c":{"d":"1.0"},"e":1e300,"f":2247254548884485_i64});
        assert_eq!(out, expected);
        assert!(out["a"].is_i64());
        let untouched = Bytes::from_static(br#"{"a": 1.5, "b": "x"}"#);
        assert_eq!(whole_floats_as_integers(untouched.clone()), untouched);
        let not_json = Bytes::from_static(b"{1.0");
        assert_eq!(whole_floats_as_integers(not_json.clone()), not_json);
        // Letters and dots inside strings, and true/false, are not numbers.
        assert!(!has_fraction_or_exponent(br#"{"text":"see 1.0e5 here \" 2.0","t":true,"n":12}"#));
        assert!(has_fraction_or_exponent(br#"{"text":"x","n":-12.5}"#));
        assert!(has_fraction_or_exponent(br#"[1e3]"#));
    }
}
