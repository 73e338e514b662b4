//! The metrics listener: `/metrics` in the Prometheus text format, on `[metrics] listen`
//! only, apart from the API.

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, HttpServer, web};

use crate::state::AppState;

/// Bind `listen` and serve `/metrics` there until the returned server is stopped.
pub fn serve(
    listen: SocketAddr,
    state: web::Data<AppState>,
) -> anyhow::Result<actix_web::dev::Server> {
    let handle = crate::metrics::handle()?;
    let server = HttpServer::new(move || {
        let handle = handle.clone();
        App::new().app_data(state.clone()).route(
            "/metrics",
            web::get().to(move |state: web::Data<AppState>| {
                let handle = handle.clone();
                async move {
                    crate::metrics::sample(&state).await;
                    HttpResponse::Ok()
                        .content_type("text/plain; version=0.0.4; charset=utf-8")
                        .body(handle.render())
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind(listen)?
    .run();
    Ok(server)
}
