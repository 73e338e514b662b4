//! Extractors: the authenticated caller (token from `Authorization: Bearer …`, a raw
//! `Authorization` value as the original sent it, or `?token=`) and client details.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::middleware::{ClientIp, RequestUser};
use crate::error::AppError;
use crate::service::auth::{self, ClientInfo, Principal};
use crate::state::AppState;

/// The token a request carries, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    token_from(req.headers(), req.query_string())
}

/// [`bearer_token`] from the parts of a request: the `Authorization` header (with or
/// without `Bearer`), else the `token` query parameter.
pub fn token_from(headers: &HeaderMap, query: &str) -> Option<String> {
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => value,
        };
        if !token.is_empty() {
            return Some(token.to_string());
        }
    }
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// The authenticated caller. Fails with 401 and a `TOKEN_*` / `ACCOUNT_*` code.
pub struct AuthUser(pub Principal);

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no app state")))?;
            let token = bearer_token(&req).unwrap_or_default();
            let principal = auth::authenticate(&state, &token).await?;
            req.extensions_mut().insert(RequestUser(principal.user_id));
            Ok(AuthUser(principal))
        })
    }
}

/// Client IP (as resolved by the request middleware) and user agent.
pub fn client_info(req: &HttpRequest) -> ClientInfo {
    let ip = req.extensions().get::<ClientIp>().and_then(|c| c.0);
    let user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let lang = req
        .headers()
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
        .map(crate::service::mail::Lang::from_accept_language)
        .unwrap_or_default();
    ClientInfo { ip, user_agent, lang }
}
