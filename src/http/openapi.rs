//! The OpenAPI 3.1 document generated from the handlers' annotations, and the vendored
//! Swagger UI that renders it (no CDN).

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::{HttpResponse, get};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Response, ResponseBuilder, content::ContentBuilder};
use utoipa::{Modify, OpenApi};

use super::{auth, call, chat, envelope, friend, group, health, media, profile};
use crate::service;

/// The API description. Every route must be listed in `paths`; a test checks the router and
/// this list agree.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "JIM-rs",
        description = "Self-hosted instant messaging. Every answer uses the envelope \
            `{request_id, status, error, code, data}`: `status` 1 is success, 2 an error with \
            a stable `code`.",
        license(name = "MIT")
    ),
    paths(
        health::livez,
        health::readyz,
        auth::captcha_issue,
        auth::captcha_issue_post,
        auth::options,
        auth::register,
        auth::login,
        auth::password_forgot,
        auth::password_reset,
        auth::email_verify,
        auth::email_resend,
        auth::logout,
        auth::sessions,
        auth::revoke,
        profile::info,
        profile::update,
        profile::password,
        profile::email_bind,
        profile::email_verify,
        profile::email_remove,
        friend::find,
        friend::list,
        friend::update,
        friend::invite_add,
        friend::invite_update,
        friend::invites_received,
        friend::invites_sent,
        friend::pending_count,
        chat::send,
        chat::rollback,
        chat::delete,
        chat::last,
        chat::list,
        chat::read,
        chat::read_by,
        chat::read_positions,
        chat::world_info,
        chat::conversations,
        chat::pin,
        chat::mute,
        crate::ws::session::connect,
        group::create,
        group::join,
        group::leave,
        group::update,
        group::transfer,
        group::dissolve,
        group::info,
        group::mine,
        group::members,
        group::member_add,
        group::member_update,
        group::member_remove,
        group::member_nickname,
        group::bans,
        group::unban,
        group::requests,
        group::request_accept,
        group::request_reject,
        group::invite,
        group::invites,
        group::invite_accept,
        group::invite_reject,
        group::link_create,
        group::link_join,
        group::link_revoke,
        group::links,
        media::upload,
        media::sign,
        media::download,
        media::thumbnail,
        call::ice_servers,
    ),
    modifiers(&BearerAuth, &CommonResponses),
    components(schemas(envelope::ErrorEnvelope, health::Liveness, service::health::Readiness)),
    tags(
        (name = "health", description = "Liveness and readiness probes"),
        (name = "auth", description = "Captcha, registration, login, sessions, forgotten passwords"),
        (name = "profile", description = "My profile, password and email address"),
        (name = "friend", description = "Search, invitations, friend list, remarks, delete, block"),
        (name = "chat", description = "Messages, history, conversations, read marks, recall"),
        (name = "realtime", description = "The WebSocket: pushes, catch-up, typing, presence"),
        (name = "group", description = "Groups: create, join, roles, moderation, invitations, links, dissolve"),
        (name = "media", description = "Uploads: photos, voice notes, videos, files, avatars; downloads and signed URLs"),
        (name = "call", description = "Voice and video calls: STUN/TURN servers and credentials (the call frames go over the WebSocket)")
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme: the token in `Authorization` (with or without `Bearer `).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Bearer <token>` (or the raw token, as the original JIM sent it); \
                 WebSocket clients may use `?token=`",
            ))),
        );
    }
}

/// The answers any operation may give besides its own, added to every operation here rather
/// than repeated on each handler: 401 where a token is required, 400 `INVALID_PARAMS` where
/// input is parsed, 413 where a body is read, 503 where a dependency is needed.
struct CommonResponses;

/// Codes of a refused token (`AuthUser`).
const AUTH_CODES: &str = "TOKEN_EMPTY, TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED, \
    ACCOUNT_DISABLED, ACCOUNT_DELETED";

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for op in operations.into_iter().flatten() {
                let needs_token = op.security.as_ref().is_some_and(|s| !s.is_empty());
                if needs_token {
                    add_response(op, "401", AUTH_CODES);
                }
                let has_input = op.request_body.is_some()
                    || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                if has_input {
                    add_response(op, "400", "INVALID_PARAMS");
                }
                if op.request_body.is_some() {
                    add_response(op, "413", "PAYLOAD_TOO_LARGE");
                }
                if path != "/livez" {
                    add_response(op, "503", "UNAVAILABLE");
                }
            }
        }
    }
}

/// Add `codes` to the operation's `status` answer (an error envelope), creating it if absent.
fn add_response(op: &mut Operation, status: &str, codes: &str) {
    let responses = &mut op.responses.responses;
    match responses.get_mut(status) {
        Some(RefOr::T(response)) => {
            let listed = response.description.split(',').map(str::trim).collect::<Vec<_>>();
            let missing: Vec<&str> =
                codes.split(',').map(str::trim).filter(|c| !listed.contains(c)).collect();
            if !missing.is_empty() {
                response.description = if response.description.is_empty() {
                    missing.join(", ")
                } else {
                    format!("{}, {}", response.description, missing.join(", "))
                };
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            responses.insert(status.to_string(), RefOr::T(error_response(codes)));
        }
    }
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build(),
        )
        .build()
}

/// Routes served but not part of the API description: the description and its viewer.
const UNDESCRIBED_ROUTES: &[&str] = &[
    "/api/openapi.json",
    "/api/docs",
    "/api/docs/swagger-ui.css",
    "/api/docs/swagger-ui-bundle.js",
];

/// Path -> the `Allow` value of its methods, from the description (every route is in it).
static ALLOWED_METHODS: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    let mut table: HashMap<String, String> =
        UNDESCRIBED_ROUTES.iter().map(|p| (p.to_string(), "GET".to_string())).collect();
    for (path, item) in ApiDoc::openapi().paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("PUT", item.put.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
            ("PATCH", item.patch.is_some()),
        ];
        let allow: Vec<&str> = methods.iter().filter(|m| m.1).map(|m| m.0).collect();
        table.insert(path, allow.join(", "));
    }
    table
});

/// The methods `path` accepts (an `Allow` header value), or `None` for an unknown path.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    if let Some(allow) = ALLOWED_METHODS.get(path) {
        return Some(allow.as_str());
    }
    // A templated path (`/api/v1/media/{id}`) matches any value in its `{…}` segments.
    let segments: Vec<&str> = path.split('/').collect();
    ALLOWED_METHODS
        .iter()
        .filter(|(template, _)| template.contains('{'))
        .find(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| {
                    (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                })
        })
        .map(|(_, allow)| allow.as_str())
}

/// The spec as pretty JSON (also what `jim openapi` prints).
pub fn spec_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".into())
}

#[get("/api/openapi.json")]
pub async fn spec() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(spec_json())
}

const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>JIM-rs API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui" });
</script>
</body>
</html>
"##;

#[get("/api/docs")]
pub async fn docs() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(DOCS_PAGE)
}

#[get("/api/docs/swagger-ui.css")]
pub async fn docs_css() -> HttpResponse {
    vendored_asset("text/css", include_bytes!("../../assets/swagger-ui/swagger-ui.css"))
}

#[get("/api/docs/swagger-ui-bundle.js")]
pub async fn docs_js() -> HttpResponse {
    vendored_asset(
        "application/javascript",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    )
}

/// A file of the vendored Swagger UI: it changes only with the binary, so browsers may keep it
/// for a day.
fn vendored_asset(content_type: &'static str, bytes: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(bytes)
}
