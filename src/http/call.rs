//! `/api/v1/call/*`: what a client needs before it places or answers a call (the call itself
//! goes over the WebSocket).

use actix_web::{HttpResponse, web};

use super::envelope::{self, Envelope, ErrorEnvelope};
use super::extract::AuthUser;
use crate::error::AppError;
use crate::service::call::{self, IceServers};
use crate::state::AppState;

signed_in_handlers! {
    tag "call", routes routes;

    /// The STUN and TURN servers to give `RTCPeerConnection` (`iceServers`), with TURN
    /// credentials valid `calls.turn_ttl_secs` ("TURN REST API": username
    /// `<expiry>:<user id>`, credential base64(HMAC-SHA1(secret, username))). Fetch it
    /// before each call.
    get "/api/v1/call/ice_servers" => [IceServers], errors [403 "CALLS_DISABLED"];
    fn ice_servers(state, user) {
        Ok(envelope::ok(call::ice_servers(&state, user.0.user_id)?))
    }
}
