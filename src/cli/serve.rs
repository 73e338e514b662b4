//! `jim serve`: build the application, print the startup line, stop on SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Args;
use slog::{error, info, warn};

use crate::app::Application;
use crate::config::LoadedConfig;
use crate::logging;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Do not apply pending migrations at start (refuse to start if any are pending).
    #[arg(long)]
    pub no_migrate: bool,
}

pub async fn run(args: ServeArgs, loaded: LoadedConfig) -> anyhow::Result<ExitCode> {
    let mut config = loaded.config.clone();
    if args.no_migrate {
        config.database.migrate_on_start = false;
    }
    let (log, _guard) = logging::init(&config.log);
    for unknown in &loaded.unknown {
        warn!(log, "unknown config key"; "key" => &unknown.key, "source" => &unknown.source);
    }
    for warning in loaded.warnings() {
        warn!(log, "config"; "key" => &warning.key, "warning" => &warning.message);
    }
    let app = match Application::build(config.clone(), log.clone()).await {
        Ok(app) => app,
        Err(e) => {
            error!(log, "cannot start"; "error" => format!("{e:#}"));
            drop(_guard);
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    info!(log, "jim serving";
        "addr" => app.local_addr().to_string(),
        "profile" => config.profile_name(),
        "database" => crate::config::redact_url(&config.database_url()),
        "redis" => if config.uses_redis() { crate::config::redact_url(&config.redis.url) } else { "in-process".into() },
        "messages" => config.messages.backend.as_str(),
        "config_sources" => loaded.sources.join(" < "),
        "version" => env!("CARGO_PKG_VERSION"));

    let stopper = app.stopper();
    let signal_log = log.clone();
    tokio::spawn(async move {
        let name = wait_for_signal().await;
        info!(signal_log, "shutting down"; "signal" => name);
        stopper.stop().await;
    });
    app.run_until_stopped().await?;
    info!(log, "stopped");
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}
