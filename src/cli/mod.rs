//! The `jim` command line: `serve`, `migrate`, `config`, `openapi`, `backup`, `restore` and the
//! admin commands. Each goes through the same config loading, services and repositories as the
//! HTTP API; none touches SQL.

mod backup;
mod config_cmd;
mod group;
mod mail;
mod media;
mod migrate;
mod serve;
mod user;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, ConfigSources, LoadedConfig};

/// Version text: the version plus the backends compiled into this binary.
pub const VERSION_TEXT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (databases: sqlite [bundled], mysql/mariadb; bus and cache: in-process, redis; \
     message stores: sql, mongodb)"
);

/// JIM-rs: a self-hosted instant-messaging server with an embedded admin CLI.
///
/// Configuration is layered: built-in defaults, then the config file (`-c`, or ./jim.toml
/// when present), then `JIM_*` environment variables (`__` separates sections, e.g.
/// JIM_DATABASE__URL), then `-O key=value` options. See jim.toml.example for every key.
#[derive(Debug, Parser)]
#[command(name = "jim", version = VERSION_TEXT, propagate_version = true)]
pub struct Cli {
    /// Config file to read (default: ./jim.toml if it exists).
    #[arg(short, long, global = true, value_name = "FILE", env = "JIM_CONFIG")]
    pub config: Option<PathBuf>,

    /// Override one config key, e.g. `-O http.listen=0.0.0.0:8080`. Repeatable; wins over
    /// the file and the environment.
    #[arg(short = 'O', long = "option", global = true, value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (HTTP API, WebSocket, background tasks) until SIGINT/SIGTERM.
    Serve(serve::ServeArgs),
    /// Apply pending database migrations, or show their status.
    Migrate(migrate::MigrateArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Print the OpenAPI 3.1 description of the HTTP API as JSON.
    Openapi,
    /// Manage user accounts (same rules as the API; running servers act on changes at once).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Mute, unmute or inspect the world channel (running servers follow at once).
    #[command(subcommand)]
    World(world::WorldCommand),
    /// Manage groups: list, show, mute, unmute, dissolve (running servers act at once).
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Uploads: clean up what nothing refers to (`gc [--dry-run]`), or count them (`stats`).
    #[command(subcommand)]
    Media(media::MediaCommand),
    /// Outbound mail: send a test mail (`test ADDRESS`), or count the outbox (`status`).
    #[command(subcommand)]
    Mail(mail::MailCommand),
    /// Write a verified archive of the database, secret, media and config file while the
    /// server runs (embedded profile; scale-out says how to back up each service).
    Backup(backup::BackupArgs),
    /// Restore an archive of `jim backup` into an absent or empty data directory.
    Restore(backup::RestoreArgs),
}

/// Run a parsed command line; the exit code follows the convention 0 ok, 1 error, 2 usage.
pub async fn run(cli: Cli) -> ExitCode {
    let sources =
        ConfigSources { file: cli.config.clone(), overrides: cli.overrides.clone(), use_env: true };
    let result = match cli.command {
        Command::Openapi => {
            println!("{}", crate::http::openapi::spec_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(cmd) => config_cmd::run(cmd, &sources),
        Command::Serve(args) => with_config(&sources, |loaded| serve::run(args, loaded)).await,
        Command::Migrate(args) => with_config(&sources, |loaded| migrate::run(args, loaded)).await,
        Command::User(cmd) => with_config(&sources, |loaded| user::run(cmd, loaded)).await,
        Command::World(cmd) => with_config(&sources, |loaded| world::run(cmd, loaded)).await,
        Command::Group(cmd) => with_config(&sources, |loaded| group::run(cmd, loaded)).await,
        Command::Media(cmd) => with_config(&sources, |loaded| media::run(cmd, loaded)).await,
        Command::Mail(cmd) => with_config(&sources, |loaded| mail::run(cmd, loaded)).await,
        Command::Backup(args) => {
            with_config(&sources, |loaded| backup::run_backup(args, loaded)).await
        }
        Command::Restore(args) => {
            with_config(&sources, |loaded| backup::run_restore(args, loaded)).await
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Ask "are you sure"; without a terminal, refuse unless `--yes` was given.
pub(crate) fn confirmed(yes: bool, what: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(true);
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "refusing to {what} without confirmation: pass --yes"
    );
    print!("{what}? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Run `command` on the loaded config; an invalid config stops it first (see [`load_valid`]).
async fn with_config<F, Fut>(sources: &ConfigSources, command: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(LoadedConfig) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    match load_valid(sources) {
        Ok(loaded) => command(loaded).await,
        Err(code) => Ok(code),
    }
}

/// A page of a list command (`jim user list`, `jim group list`): where it starts, how long it
/// is, how it is printed.
#[derive(Debug, Args)]
pub struct ListPage {
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Start after this id (the last one of the previous page).
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    /// At most this many (1-1000).
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
}

/// Load the config and refuse to go on when it is invalid, printing every problem.
fn load_valid(sources: &ConfigSources) -> Result<LoadedConfig, ExitCode> {
    let loaded = config::load(sources).map_err(|e| {
        eprintln!("error: config: {e}");
        ExitCode::from(1)
    })?;
    let issues = loaded.validate();
    for issue in &issues {
        eprintln!("error: config: {issue}");
    }
    for unknown in &loaded.unknown {
        eprintln!("warning: config: {unknown}");
    }
    if issues.is_empty() { Ok(loaded) } else { Err(ExitCode::from(1)) }
}
