//! `jim media gc|stats`: the clean-up of uploads nothing refers to any more, on demand, and
//! what the media store holds.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::LoadedConfig;
use crate::service::media;

#[derive(Debug, Subcommand)]
pub enum MediaCommand {
    /// Delete uploads no message or avatar refers to any more (after
    /// media.unreferenced_grace_secs) and the leftovers of interrupted uploads.
    Gc {
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Count stored uploads and their bytes per kind.
    Stats,
}

pub async fn run(cmd: MediaCommand, loaded: LoadedConfig) -> anyhow::Result<ExitCode> {
    let state = crate::app::cli_state(loaded.config).await?;
    match cmd {
        MediaCommand::Gc { dry_run } => {
            let report = media::gc(&state, dry_run).await?;
            let verb = if dry_run { "would delete" } else { "deleted" };
            println!("{verb} {} upload(s), {} bytes", report.deleted, report.bytes);
            if report.failed > 0 {
                println!(
                    "{} upload(s) could not be removed from the media store (retried next run)",
                    report.failed
                );
                return Ok(ExitCode::from(1));
            }
        }
        MediaCommand::Stats => {
            println!("{:<8} {:>10} {:>16} {:>10}", "kind", "count", "bytes", "pending");
            for row in media::stats(&state).await? {
                println!("{:<8} {:>10} {:>16} {:>10}", row.kind, row.count, row.bytes, row.pending);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
