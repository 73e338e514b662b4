//! The actix layer: routes, input parsing and error mapping. Handlers stay thin: parse, call
//! one service function, wrap the result in the envelope; [`signed_in_handlers`] writes the
//! signed-in ones with their OpenAPI entries and routes.

/// Writes thin handlers for signed-in callers, each with its `#[utoipa::path]` entry, and a
/// function registering their routes: a route's method and path are written once, for the
/// router and the documentation alike, and what every such handler shares (the `bearer`
/// security, the envelope around the answer, the error envelope of each documented status,
/// the extractors and the return type) is written here instead of at every handler.
///
/// ```text
/// signed_in_handlers! {
///     tag "group", routes routes;
///
///     /// Leave a group. (Doc comments are the OpenAPI summary and description.)
///     post "/api/v1/group/leave", json GroupIdRequest => [Object],
///     errors [403 "NOT_GROUP_MEMBER", 404 "GROUP_NOT_FOUND"];
///     fn leave(state, user, body) { ... }
/// }
/// ```
///
/// `json T` reads a JSON body into the third argument, `query T` the query string; without
/// either the handler takes the state and the caller only. `=> [T]` is the `data` of the
/// success envelope; `errors` lists the documented error codes by status. The expansion
/// names the handler files' imports (`web`, `HttpResponse`, `AppState`, `AuthUser`,
/// `AppError`, `Envelope`, `ErrorEnvelope`), spelled as a hand-written handler spells them.
macro_rules! signed_in_handlers {
    (
        tag $tag:tt, routes $routes:ident;
        $(
            $(#[doc = $doc:tt])*
            $method:ident $path:tt $(, $kind:ident $input:ident)? => [$($ok:tt)+]
            $(, errors [$($status:tt $description:tt),+ $(,)?])?;
            fn $name:ident($state:ident, $user:ident $(, $arg:ident)?) $body:block
        )+
    ) => {
        $(
            signed_in_handlers! {
                @input [$($kind $input)?] ($($arg)?)
                [$(#[doc = $doc])*]
                [$method, path = $path, tag = $tag, security(("bearer" = []))]
                [responses((status = 200, body = inline(Envelope<$($ok)+>))
                    $($(, (status = $status, description = $description, body = ErrorEnvelope))+)?)]
                fn $name($state, $user) $body
            }
        )+

        pub fn $routes(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($name));)+
        }
    };
    // What the input adds to the entry and to the arguments.
    (@input [json $input:ident] ($arg:ident) $($rest:tt)+) => {
        signed_in_handlers! { @handler [request_body = $input,] [$arg: web::Json<$input>] $($rest)+ }
    };
    (@input [query $input:ident] ($arg:ident) $($rest:tt)+) => {
        signed_in_handlers! { @handler [params($input),] [$arg: web::Query<$input>] $($rest)+ }
    };
    (@input [] () $($rest:tt)+) => {
        signed_in_handlers! { @handler [] [] $($rest)+ }
    };
    (
        @handler [$($entry_input:tt)*] [$($arg:tt)*] [$($doc:tt)*] [$($entry:tt)*]
        [$($responses:tt)*] fn $name:ident($state:ident, $user:ident) $body:block
    ) => {
        $($doc)*
        #[utoipa::path($($entry)*, $($entry_input)* $($responses)*)]
        pub async fn $name(
            $state: web::Data<AppState>,
            $user: AuthUser,
            $($arg)*
        ) -> Result<HttpResponse, AppError> $body
    };
}

pub mod auth;
pub mod call;
pub mod chat;
pub mod envelope;
mod error;
pub mod extract;
pub mod friend;
pub mod group;
pub mod health;
pub mod media;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod profile;
pub mod schema;
pub mod web_client;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::error::{AppError, ErrorCode};
use crate::state::AppState;

/// Register every route and the input error handlers.
pub fn configure(cfg: &mut web::ServiceConfig, body_limit: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(body_limit)
            // The original decoded JSON whatever the Content-Type; existing clients rely on it.
            .content_type_required(false)
            .error_handler(json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(query_error))
    .app_data(web::PathConfig::default().error_handler(path_error))
    .app_data(web::PayloadConfig::default().limit(body_limit))
    .service(health::livez)
    .service(health::readyz)
    .service(openapi::spec)
    .service(openapi::docs)
    .service(openapi::docs_css)
    .service(openapi::docs_js)
    .configure(auth::routes)
    .configure(profile::routes)
    .configure(profile::email_routes)
    .configure(friend::routes)
    .configure(chat::routes)
    .route("/api/v1/ws", web::get().to(crate::ws::session::connect))
    .configure(group::routes)
    .configure(media::routes)
    .configure(call::routes)
    .default_service(web::to(no_route));
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let app = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => AppError::with_message(
            ErrorCode::PayloadTooLarge,
            format!("request body larger than {limit} bytes"),
        ),
        JsonPayloadError::Deserialize(e) => AppError::invalid(format!("invalid JSON body: {e}")),
        JsonPayloadError::ContentType => AppError::invalid("expected a JSON body"),
        _ => AppError::invalid("invalid JSON body"),
    };
    app.into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let message = match &err {
        QueryPayloadError::Deserialize(e) => format!("invalid query parameters: {e}"),
        _ => "invalid query parameters".to_string(),
    };
    AppError::invalid(message).into()
}

fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let message = match &err {
        PathError::Deserialize(e) => format!("invalid path parameter: {e}"),
        _ => "invalid path parameter".to_string(),
    };
    AppError::invalid(message).into()
}

/// No route matched: one of the web client's files when it names one, else 405 with `Allow`
/// when the path exists with other methods, else 404. (Routes are registered with their
/// method as a guard, so actix itself only sees "no match".)
async fn no_route(req: HttpRequest) -> HttpResponse {
    let web_enabled = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.config.web.enabled);
    if let Some(res) = web_client::serve(&req, web_enabled) {
        return res;
    }
    match openapi::allowed_methods(req.path()) {
        // The method fits the path's shape but no route took it (an id of the wrong form):
        // there is no such thing.
        Some(allow) if allow.split(", ").any(|m| m == req.method().as_str()) => {
            AppError::code(ErrorCode::NotFound).error_response()
        }
        Some(allow) => {
            let mut res = AppError::code(ErrorCode::MethodNotAllowed).error_response();
            if let Ok(value) = HeaderValue::from_str(allow) {
                res.headers_mut().insert(header::ALLOW, value);
            }
            res
        }
        None => AppError::code(ErrorCode::NotFound).error_response(),
    }
}
