//! `jim migrate` and `jim migrate status`.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::config::LoadedConfig;
use crate::db::Db;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub action: Option<MigrateAction>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration (the default).
    Run,
    /// List applied and pending migrations without changing anything.
    Status,
}

pub async fn run(args: MigrateArgs, loaded: LoadedConfig) -> anyhow::Result<ExitCode> {
    let config = &loaded.config;
    crate::config::ensure_data_dir(&config.data_dir)?;
    let db = Db::connect(config).await?;
    println!("database: {} ({})", db.display_url(), db.kind().as_str());
    match args.action.unwrap_or(MigrateAction::Run) {
        MigrateAction::Run => {
            let applied = db.migrate().await?;
            if applied.is_empty() {
                println!("nothing to apply: the database is up to date");
            } else {
                for version in &applied {
                    println!("applied {version}");
                }
            }
        }
        MigrateAction::Status => {
            let status = db.migration_status().await?;
            for version in &status.applied {
                println!("applied  {version}");
            }
            for version in &status.pending {
                println!("pending  {version}");
            }
            println!("{} applied, {} pending", status.applied.len(), status.pending.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
