//! Prometheus metrics: a recorder installed once per process when `[metrics] listen` is set,
//! served at `/metrics` on that address only (by `http::metrics`). Labels are bounded (route templates, status
//! codes, session types, outcomes), never paths or ids. With no recorder installed the
//! `metrics` macros are no-ops, so the hot path pays nothing when metrics are off.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Seconds buckets of the latency histograms (requests, commits).
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Messages per commit of the message writer (it commits at most 256 at once).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process's recorder, installed on first use.
pub fn handle() -> anyhow::Result<PrometheusHandle> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full("jim_message_batch_size".into()), BATCH_BUCKETS)?
        .build_recorder();
    let handle = recorder.handle();
    // Another thread may have won the race: keep theirs.
    if metrics::set_global_recorder(recorder).is_ok() {
        let _ = HANDLE.set(handle);
        describe();
    }
    HANDLE.get().cloned().ok_or_else(|| anyhow::anyhow!("another metrics recorder is installed"))
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("jim_http_requests_total", "HTTP requests by route template and status");
    describe_histogram!("jim_http_request_duration_seconds", "HTTP request latency by route");
    describe_counter!("jim_messages_stored_total", "Messages stored, by session type");
    describe_histogram!("jim_message_batch_size", "Messages committed together by the writer");
    describe_histogram!(
        "jim_message_commit_seconds",
        "Time from a batch's start to its commit (before the push is queued)"
    );
    describe_counter!("jim_logins_total", "Login attempts by outcome (ok, failed)");
    describe_counter!("jim_bus_published_total", "Events published on the bus");
    describe_counter!("jim_bus_received_total", "Events delivered to this instance's listeners");
    describe_counter!("jim_ws_slow_consumer_closes_total", "Sockets closed as slow consumers");
    describe_counter!("jim_media_bytes_total", "Upload bytes stored (in) and served (out)");
    describe_counter!("jim_redis_errors_total", "Redis failures of the bus subscription");
    describe_counter!("jim_redis_reconnects_total", "Bus subscriptions lost and reconnected");
    describe_gauge!("jim_ready", "1 when /readyz would answer ready, 0 otherwise");
    describe_gauge!("jim_ws_online_users", "Users with at least one socket on this instance");
    describe_gauge!("jim_db_pool_connections", "Database pool connections (state: open, idle)");
    describe_gauge!("jim_db_pool_waiting", "Tasks waiting for a database connection");
    describe_gauge!("jim_mail_outbox", "Mails in the shared outbox (state: pending, given_up)");
    describe_counter!("jim_calls_ended_total", "Calls ended, by outcome");
}

/// Gauges read at scrape time rather than kept up to date on every change.
pub async fn sample(state: &AppState) {
    let readiness = crate::service::health::readiness(
        &state.db,
        &state.bus,
        state.config.uses_redis(),
        state.is_shutting_down(),
    )
    .await;
    metrics::gauge!("jim_ready").set(if readiness.ready { 1.0 } else { 0.0 });
    let online = state.hub.online_users().await.len();
    metrics::gauge!("jim_ws_online_users").set(online as f64);
    let (open, idle, waiting) = state.db.pool_status();
    metrics::gauge!("jim_db_pool_connections", "state" => "open").set(open as f64);
    metrics::gauge!("jim_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("jim_db_pool_waiting").set(waiting as f64);
    if state.config.mail.enabled() {
        // The outbox is shared by every instance: each reports the same depth.
        if let Ok(tally) = crate::service::mail::outbox_tally(state).await {
            metrics::gauge!("jim_mail_outbox", "state" => "pending").set(tally.pending as f64);
            metrics::gauge!("jim_mail_outbox", "state" => "given_up").set(tally.given_up as f64);
        }
    }
}

/// Count one login attempt.
pub fn login(ok: bool) {
    metrics::counter!("jim_logins_total", "outcome" => if ok { "ok" } else { "failed" })
        .increment(1);
}
