//! `jim backup DEST` and `jim restore ARCHIVE`: the embedded profile's state in one archive,
//! taken while the server runs, and restored into an empty data directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::LoadedConfig;
use crate::service::backup::{self, BackupError};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Archive to write (must not exist), or a directory to write a dated
    /// `jim-backup-…tar.gz` into.
    pub dest: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Archive written by `jim backup`.
    pub archive: PathBuf,
    /// Restore into this data directory instead of the configured `data_dir`. It must be
    /// absent or empty.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

fn failed(e: BackupError) -> anyhow::Result<ExitCode> {
    eprintln!("error: {}: {e}", e.code());
    Ok(ExitCode::from(1))
}

pub async fn run_backup(args: BackupArgs, loaded: LoadedConfig) -> anyhow::Result<ExitCode> {
    match backup::backup(&loaded.config, loaded.file.as_deref(), &args.dest).await {
        Ok(report) => {
            let m = &report.manifest;
            println!(
                "backup written: {} ({} bytes)\ndatabase: {} users, {} messages, integrity {}\n\
                 media: {} file(s), {} bytes; secret: {}; config file: {}",
                report.archive.display(),
                report.archive_bytes,
                m.facts.users,
                m.facts.messages,
                m.facts.integrity,
                m.media_files,
                m.media_bytes,
                if m.secret_file { "included" } else { "from config (not a file)" },
                if m.config_file { "included" } else { "none in use" },
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => failed(e),
    }
}

pub async fn run_restore(args: RestoreArgs, loaded: LoadedConfig) -> anyhow::Result<ExitCode> {
    let mut config = loaded.config;
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    match backup::restore(&config, &args.archive).await {
        Ok(report) => {
            let m = &report.manifest;
            println!(
                "restored the backup of {} into {}\ndatabase: {} ({} users, {} messages, \
                 integrity ok)",
                m.created_at,
                report.data_dir.display(),
                report.database.display(),
                m.facts.users,
                m.facts.messages,
            );
            if let Some(media) = &report.media_dir {
                println!("media: {} file(s) in {}", m.media_files, media.display());
            }
            if let Some(copy) = &report.config_copy {
                println!(
                    "the backed-up config file is at {} (compare it with yours)",
                    copy.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => failed(e),
    }
}
