//! The STUN and TURN servers a client should use for a call, with TURN credentials in the
//! "TURN REST API" scheme that coturn (`use-auth-secret`) and other TURN servers accept: the
//! username is `<expiry unix time>:<user id>` and the password is
//! base64(HMAC-SHA1(shared secret, username)), so the TURN server checks them with nothing but
//! the secret it shares with us.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;

use crate::domain::UserId;
use crate::error::{AppError, ErrorCode, Result};
use crate::state::Core;

/// One entry of `RTCConfiguration.iceServers`, with the browser's field names.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IceServer {
    /// `stun:…`, `turn:…` or `turns:…` URLs.
    pub urls: Vec<String>,
    /// TURN only: `<expiry unix time>:<user id>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN only: base64(HMAC-SHA1(secret, username)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// What `GET /api/v1/call/ice_servers` answers.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IceServers {
    /// Pass as `iceServers` to `RTCPeerConnection`; empty when the server names none (calls
    /// then connect only where the browsers reach each other directly).
    pub ice_servers: Vec<IceServer>,
    /// Unix seconds after which the TURN credentials are refused (absent without TURN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// The TURN password for `username` under `secret`.
pub fn turn_credential(secret: &str, username: &str) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The ICE servers for `user`, with fresh TURN credentials.
pub fn ice_servers(state: &Core, user: UserId) -> Result<IceServers> {
    let calls = &state.config.calls;
    if !calls.enabled {
        return Err(AppError::code(ErrorCode::CallsDisabled));
    }
    let mut ice_servers = Vec::new();
    if !calls.stun_urls.is_empty() {
        ice_servers.push(IceServer {
            urls: calls.stun_urls.clone(),
            username: None,
            credential: None,
        });
    }
    let mut expires_at = None;
    if !calls.turn_urls.is_empty() && !calls.turn_secret.is_empty() {
        let expiry = chrono::Utc::now().timestamp() + calls.turn_ttl_secs as i64;
        let username = format!("{expiry}:{user}");
        let credential = turn_credential(&calls.turn_secret, &username);
        ice_servers.push(IceServer {
            urls: calls.turn_urls.clone(),
            username: Some(username),
            credential: Some(credential),
        });
        expires_at = Some(expiry);
    }
    Ok(IceServers { ice_servers, expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_match_the_turn_rest_api_scheme() {
        // Cross-checked with Node, Python and `openssl dgst -sha1 -hmac`.
        assert_eq!(
            turn_credential("s3cr3t-for-tests", "1700000000:alice"),
            "QCur/emDUENKk9DHnxWFyUZ513s="
        );
    }
}
