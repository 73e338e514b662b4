//! Request-scoped plumbing: request id, the per-request log line, and the client address.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use slog::{info, o};

use super::envelope::{self, RequestContext};
use crate::state::AppState;

/// The authenticated user of a request, recorded by the auth extractor for the request log.
#[derive(Debug, Clone, Copy)]
pub struct RequestUser(pub i64);

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
    let result = envelope::with_context(ctx, next.call(req)).await;

    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (status, user_id) = match &result {
        Ok(res) => {
            (res.status().as_u16(), res.request().extensions().get::<RequestUser>().map(|u| u.0))
        }
        Err(e) => (e.as_response_error().status_code().as_u16(), None),
    };
    let client_ip = ip.map(|i| i.to_string()).unwrap_or_default();
    info!(logger, "request";
        "method" => method, "path" => path, "status" => status,
        "latency_ms" => (latency_ms * 1000.0).round() / 1000.0,
        "client_ip" => client_ip, "user_id" => user_id);
    result
}
