//! The upgrade: answer the request like a route (the same envelopes, one log line), with 401
//! before the upgrade for a bad token and 429 for too many connections; register the accepted
//! connection with the hub and hand it, with its socket, to its task.

use std::time::Instant;

use actix_codec::Framed;
use actix_http::{Request, h1};
use actix_web::body::{BoxBody, to_bytes};
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use slog::info;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::Connection;
use super::task::run;
use crate::error::{AppError, ErrorCode};
use crate::http::envelope::{self, RequestContext};
use crate::http::extract::{bearer_token, token_from};
use crate::http::middleware::{answer_headers, client_ip_from, new_request_id};
use crate::service::auth;
use crate::state::AppState;
use crate::ws::frames::Outbound;
use crate::ws::hub::{CloseFrame, ConnectError};
use crate::ws::transport::Socket;

/// Where clients connect.
pub const PATH: &str = "/api/v1/ws";

/// Upgrade to a WebSocket. A missing, invalid, expired or revoked token is refused with 401
/// (and a code) before the upgrade; too many connections with 429. (Upgrade requests are
/// handed to [`upgrade`] by the HTTP layer; this route answers plain GETs.)
#[utoipa::path(get, path = "/api/v1/ws", tag = "realtime", security(("bearer" = [])),
    params(("token" = Option<String>, Query, description = "the token, for clients that cannot set headers"),
        ("catch_up" = Option<bool>, Query, description = "1: my first frame is `catch_up`; hold live pushes until it is answered")),
    responses((status = 101, description = "switching protocols; then frames {type, data}"),
        (status = 401, description = "TOKEN_*, ACCOUNT_*", body = crate::http::envelope::ErrorEnvelope),
        (status = 429, description = "TOO_MANY_CONNECTIONS", body = crate::http::envelope::ErrorEnvelope)))]
pub async fn connect(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let token = bearer_token(&req).unwrap_or_default();
    auth::authenticate(&state, &token).await?;
    Err(AppError::invalid("not a WebSocket upgrade"))
}

/// Every request with `Upgrade: websocket` comes here, with the connection, from the HTTP
/// layer. Answers like a route (the same envelopes, one log line) and, once upgraded, runs
/// the connection until it closes.
pub async fn upgrade(
    state: web::Data<AppState>,
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), actix_web::Error> {
    // Boxed and finished before the connection runs: nothing of the request is kept while
    // it does (B4 memory per socket).
    if let Some((accepted, socket)) = Box::pin(handshake(state, req, framed)).await {
        let Accepted { conn, rx, close, hold } = accepted;
        run(conn, socket, rx, close, hold).await;
    }
    Ok(())
}

/// Answer the upgrade request; the accepted connection and its socket when it was upgraded.
async fn handshake(
    state: web::Data<AppState>,
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Option<(Accepted, Socket)> {
    let started = Instant::now();
    let request_id = new_request_id();
    let logger = state.log.new(slog::o!("request_id" => request_id.clone()));
    let ctx = RequestContext { request_id, logger: logger.clone() };
    let ip = client_ip_from(req.peer_addr(), req.headers(), &state.trusted_proxies);
    // The error answer is built inside the request context: its envelope carries the id.
    let (mut response, accepted) = envelope::with_context(ctx, async {
        match accept(&state, &req).await {
            Ok((response, accepted)) => (response, Some(accepted)),
            Err(e) => (refusal(&e), None),
        }
    })
    .await;
    answer_headers(response.headers_mut());
    info!(logger, "request";
        "method" => req.method().as_str(), "path" => req.path(),
        "status" => response.status().as_u16(),
        "latency_ms" => (started.elapsed().as_secs_f64() * 1e6).round() / 1000.0,
        "client_ip" => ip.map(|i| i.to_string()).unwrap_or_default(),
        "user_id" => accepted.as_ref().map(|a| a.conn.user_id.get()));
    // Bodies here are small envelopes; collected, they can be written by the h1 codec.
    let (head, body) = response.into_parts();
    let body = to_bytes(body).await.unwrap_or_default();
    let sent = h1::SendResponse::new(framed, head.set_body(body)).await;
    let accepted = accepted?;
    let Ok(framed) = sent else {
        state.hub.disconnect(accepted.conn.user_id, accepted.conn.conn_id).await;
        return None;
    };
    // The HTTP layer's buffers (8 KiB each) go; the socket reads into its own.
    let actix_codec::FramedParts { io, read_buf, .. } = framed.into_parts();
    let socket = Socket::new(io, read_buf, state.config.ws.max_frame_bytes);
    Some((accepted, socket))
}

/// The answer to a refused upgrade (a wrong method also says which one to use).
fn refusal(e: &AppError) -> actix_http::Response<BoxBody> {
    let mut response: actix_http::Response<BoxBody> = e.error_response().into();
    if e.error_code() == ErrorCode::MethodNotAllowed {
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
    }
    response
}

/// A connection that passed the handshake and joined the hub.
struct Accepted {
    conn: Connection,
    rx: mpsc::Receiver<Outbound>,
    close: watch::Receiver<Option<CloseFrame>>,
    hold: bool,
}

async fn accept(
    state: &web::Data<AppState>,
    req: &Request,
) -> Result<(actix_http::Response<BoxBody>, Accepted), AppError> {
    if req.path() != PATH {
        return Err(AppError::code(ErrorCode::NotFound));
    }
    let handshake = actix_http::ws::handshake(req.head()).map_err(|e| match e {
        actix_http::ws::HandshakeError::GetMethodRequired => {
            AppError::code(ErrorCode::MethodNotAllowed)
        }
        e => AppError::invalid(format!("not a WebSocket upgrade: {e}")),
    });
    let token = token_from(req.headers(), req.uri().query().unwrap_or_default());
    let principal = auth::authenticate(state, &token.unwrap_or_default()).await?;
    let mut response = handshake?;
    let registration =
        state.hub.connect(principal.user_id, principal.session_id).await.map_err(|e| match e {
            ConnectError::TooManyConnections => AppError::code(ErrorCode::TooManyConnections),
            ConnectError::ShuttingDown => AppError::Unavailable(anyhow::anyhow!("shutting down")),
        })?;
    // From here on every relayed message reaches this connection, so what is committed from
    // now on is its to get (see `deliver_chat`).
    let connected_at = crate::db::now_ms();
    let conn = Connection {
        state: state.clone(),
        user_id: principal.user_id,
        conn_id: registration.conn_id,
        close_tx: registration.close_tx,
        shared: registration.shared,
        connected_at,
    };
    // `?catch_up=1`: the client will send `catch_up` first; hold live pushes until then.
    let hold = url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "catch_up" && (v == "1" || v == "true"));
    let response = response.finish().map_into_boxed_body();
    let accepted = Accepted { conn, rx: registration.rx, close: registration.close, hold };
    Ok((response, accepted))
}
