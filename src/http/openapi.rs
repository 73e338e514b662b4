//! The OpenAPI 3.1 document generated from the handlers' annotations, and the vendored
//! Swagger UI that renders it (no CDN).

use actix_web::{HttpResponse, get};
use utoipa::OpenApi;

use utoipa::Modify;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

use super::{auth, chat, envelope, friend, group, health, profile};
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
        auth::register,
        auth::login,
        auth::logout,
        auth::sessions,
        auth::revoke,
        profile::info,
        profile::update,
        profile::password,
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
    ),
    modifiers(&BearerAuth),
    components(schemas(envelope::ErrorEnvelope, health::Liveness, service::health::Readiness)),
    tags(
        (name = "health", description = "Liveness and readiness probes"),
        (name = "auth", description = "Captcha, registration, login, sessions"),
        (name = "profile", description = "My profile and password"),
        (name = "friend", description = "Search, invitations, friend list, remarks, delete, block"),
        (name = "chat", description = "Messages, history, conversations, read marks, recall"),
        (name = "realtime", description = "The WebSocket: pushes, catch-up, typing, presence"),
        (name = "group", description = "Groups: create, join, roles, moderation, invitations, links, dissolve")
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
    HttpResponse::Ok()
        .content_type("text/css")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(&include_bytes!("../../assets/swagger-ui/swagger-ui.css")[..])
}

#[get("/api/docs/swagger-ui-bundle.js")]
pub async fn docs_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(&include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js")[..])
}
