//! Backup and restore of the embedded profile: one archive (tar + gzip) holding a consistent
//! snapshot of the SQLite database, the secret, the uploaded media and the config file, taken
//! while the server runs; and its restoration into an empty data directory. The scale-out
//! profile's state lives in services that have their own tools, so it is refused with how.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Config, DatabaseKind, MediaBackend};
use crate::db::backup::{self as snapshot, SnapshotFacts};

/// What `jim backup` answers when the deployment is not the embedded profile.
pub const SCALE_OUT_ADVICE: &str = "jim backup covers the embedded profile (SQLite + local \
media) only. In the scale-out profile back up each service with its own tool: MariaDB/MySQL \
with `mariadb-dump --single-transaction --routines --databases DB > jim.sql` (a consistent \
snapshot without locking the server); Redis holds nothing durable (bus, caches, counters: \
nothing to back up); S3 media with the object store's own replication or versioning, or a copy \
(`rclone sync`, `aws s3 sync`) of the bucket; and keep jim.toml with its secret.";

/// Name of the manifest inside an archive; first entry, so a reader sees it before the rest.
const MANIFEST: &str = "manifest.json";
const DB_ENTRY: &str = "jim.db";
const SECRET_ENTRY: &str = "secret.key";
const CONFIG_ENTRY: &str = "jim.toml";
const MEDIA_ENTRY: &str = "media";
const FORMAT: &str = "jim-backup";
const FORMAT_VERSION: u32 = 1;

/// A failed backup or restore, with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{SCALE_OUT_ADVICE}")]
    ScaleOut,
    #[error("{0}")]
    DestinationExists(String),
    #[error("{0}")]
    DataDirNotEmpty(String),
    #[error("{0}")]
    InvalidArchive(String),
    #[error("{0}")]
    Integrity(String),
    #[error("{0}")]
    Database(String),
    #[error("{0}")]
    Io(String),
}

impl BackupError {
    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::ScaleOut => "BACKUP_SCALE_OUT",
            BackupError::DestinationExists(_) => "DESTINATION_EXISTS",
            BackupError::DataDirNotEmpty(_) => "DATA_DIR_NOT_EMPTY",
            BackupError::InvalidArchive(_) => "INVALID_ARCHIVE",
            BackupError::Integrity(_) => "INTEGRITY_CHECK_FAILED",
            BackupError::Database(_) => "DATABASE_ERROR",
            BackupError::Io(_) => "IO_ERROR",
        }
    }
}

fn io_error(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> BackupError {
    move |e| BackupError::Io(format!("{what}: {e}"))
}

/// The archive's table of contents, checked on restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub jim_version: String,
    pub created_at: String,
    pub database_sha256: String,
    pub database_bytes: u64,
    pub facts: SnapshotFacts,
    pub secret_file: bool,
    pub config_file: bool,
    pub media_files: u64,
    pub media_bytes: u64,
}

/// What a finished backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub archive: PathBuf,
    pub archive_bytes: u64,
    pub manifest: Manifest,
}

/// What a finished restore put where.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub data_dir: PathBuf,
    pub database: PathBuf,
    pub media_dir: Option<PathBuf>,
    pub config_copy: Option<PathBuf>,
    pub manifest: Manifest,
}

fn embedded_only(config: &Config) -> Result<(), BackupError> {
    match config.database_kind() {
        Ok(DatabaseKind::Sqlite) => {}
        Ok(DatabaseKind::Mysql) => return Err(BackupError::ScaleOut),
        Err(e) => return Err(BackupError::Database(format!("database.url {e}"))),
    }
    if config.media.backend == MediaBackend::S3 || config.uses_redis() {
        return Err(BackupError::ScaleOut);
    }
    Ok(())
}

fn database_path(config: &Config) -> PathBuf {
    PathBuf::from(crate::db::sqlite_path(&config.database_url()))
}

/// Take a backup of the deployment `config` describes into `dest`: a file path (which must
/// not exist), or an existing directory where a dated archive name is chosen. The database
/// is snapshotted first, then checked, then the media files, the secret and `config_file`
/// are added. The server may run and serve throughout.
pub async fn backup(
    config: &Config,
    config_file: Option<&Path>,
    dest: &Path,
) -> Result<BackupReport, BackupError> {
    embedded_only(config)?;
    let config = config.clone();
    let config_file = config_file.map(Path::to_path_buf);
    let dest = dest.to_path_buf();
    tokio::task::spawn_blocking(move || backup_blocking(&config, config_file.as_deref(), &dest))
        .await
        .map_err(|e| BackupError::Io(format!("backup task: {e}")))?
}

fn backup_blocking(
    config: &Config,
    config_file: Option<&Path>,
    dest: &Path,
) -> Result<BackupReport, BackupError> {
    let now = chrono::Utc::now();
    let archive = if dest.is_dir() {
        dest.join(format!("jim-backup-{}.tar.gz", now.format("%Y%m%dT%H%M%SZ")))
    } else {
        dest.to_path_buf()
    };
    if archive.exists() {
        return Err(BackupError::DestinationExists(format!(
            "{} already exists; choose another name or a directory",
            archive.display()
        )));
    }
    let parent = match archive.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // The snapshot and the half-written archive stay next to the destination (same file
    // system, so the final rename is atomic) and go away on any failure.
    let work = tempfile::Builder::new()
        .prefix(".jim-backup-")
        .tempdir_in(&parent)
        .map_err(io_error(format!("cannot write in {}", parent.display())))?;

    let db_copy = work.path().join(DB_ENTRY);
    let busy = Duration::from_millis(config.database.sqlite_busy_timeout_ms.max(1000));
    snapshot::snapshot_sqlite(&database_path(config), &db_copy, busy)
        .map_err(|e| BackupError::Database(format!("snapshot: {e}")))?;
    let facts = snapshot::inspect_sqlite(&db_copy)
        .map_err(|e| BackupError::Database(format!("checking the snapshot: {e}")))?;
    if facts.integrity != "ok" {
        return Err(BackupError::Integrity(format!(
            "the snapshot failed its integrity check: {}",
            facts.integrity
        )));
    }
    let (database_sha256, database_bytes) = digest_file(&db_copy)?;

    let secret = config.data_dir.join("secret.key");
    let secret = secret.is_file().then_some(secret);
    let media_dir = config.media_dir();
    let media = if media_dir.is_dir() { list_files(&media_dir)? } else { Vec::new() };

    let partial = work.path().join("archive.partial");
    let file = File::create(&partial).map_err(io_error(partial.display()))?;
    let gz = flate2::write::GzEncoder::new(io::BufWriter::new(file), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);

    let mut manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        jim_version: env!("CARGO_PKG_VERSION").into(),
        created_at: now.to_rfc3339(),
        database_sha256,
        database_bytes,
        facts,
        secret_file: secret.is_some(),
        config_file: config_file.is_some(),
        media_files: 0,
        media_bytes: 0,
    };
    // Media first counted while added: a file removed in between (an upload cleaned up) is
    // skipped, not an error.
    let mut media_added = Vec::new();
    for relative in media {
        let path = media_dir.join(&relative);
        match File::open(&path) {
            Ok(f) => media_added.push((relative, f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(BackupError::Io(format!("{}: {e}", path.display()))),
        }
    }
    for (_, f) in &media_added {
        manifest.media_files += 1;
        manifest.media_bytes += f.metadata().map(|m| m.len()).unwrap_or(0);
    }
    let manifest_json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Io(format!("manifest: {e}")))?;
    append_bytes(&mut tar, MANIFEST, &manifest_json, 0o600)?;
    append_file(&mut tar, DB_ENTRY, &db_copy)?;
    if let Some(secret) = &secret {
        append_file(&mut tar, SECRET_ENTRY, secret)?;
    }
    if let Some(config_file) = config_file {
        append_file(&mut tar, CONFIG_ENTRY, config_file)?;
    }
    for (relative, mut f) in media_added {
        let name = Path::new(MEDIA_ENTRY).join(&relative);
        tar.append_file(&name, &mut f).map_err(io_error(name.display()))?;
    }
    let gz = tar.into_inner().map_err(io_error("finishing the archive"))?;
    let writer = gz.finish().map_err(io_error("compressing the archive"))?;
    let file = writer.into_inner().map_err(|e| BackupError::Io(format!("writing: {e}")))?;
    file.sync_all().map_err(io_error(partial.display()))?;
    drop(file);

    // Read the archive back before calling it done.
    verify_archive(&partial, &manifest)?;
    fs::rename(&partial, &archive).map_err(io_error(archive.display()))?;
    if let Ok(dir) = File::open(&parent) {
        let _ = dir.sync_all();
    }
    let archive_bytes = fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport { archive, archive_bytes, manifest })
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<(), BackupError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_cksum();
    tar.append_data(&mut header, name, bytes).map_err(io_error(name))
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    path: &Path,
) -> Result<(), BackupError> {
    let mut f = File::open(path).map_err(io_error(path.display()))?;
    tar.append_file(name, &mut f).map_err(io_error(path.display()))
}

/// Every regular file under `root`, as paths relative to it, in a stable order.
fn list_files(root: &Path) -> Result<Vec<PathBuf>, BackupError> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(BackupError::Io(format!("{}: {e}", dir.display()))),
        };
        for entry in entries {
            let entry = entry.map_err(io_error(dir.display()))?;
            let kind = entry.file_type().map_err(io_error(entry.path().display()))?;
            let name = relative.join(entry.file_name());
            if kind.is_dir() {
                pending.push(name);
            } else if kind.is_file() {
                out.push(name);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn digest_file(path: &Path) -> Result<(String, u64), BackupError> {
    let mut f = File::open(path).map_err(io_error(path.display()))?;
    digest_reader(&mut f).map_err(io_error(path.display()))
}

fn digest_reader(reader: &mut impl Read) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

fn open_archive(path: &Path) -> Result<tar::Archive<impl Read>, BackupError> {
    let f = File::open(path).map_err(io_error(path.display()))?;
    Ok(tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(f))))
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> BackupError {
    BackupError::InvalidArchive(format!("{}: {what}", path.display()))
}

/// Read `archive` through: it decompresses, its database has the recorded digest, and it
/// holds the recorded media count.
fn verify_archive(archive: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let mut tar = open_archive(archive)?;
    let mut media_files = 0u64;
    let mut database = None;
    for entry in tar.entries().map_err(|e| invalid(archive, e))? {
        let mut entry = entry.map_err(|e| invalid(archive, e))?;
        let name = entry.path().map_err(|e| invalid(archive, e))?.into_owned();
        if name == Path::new(DB_ENTRY) {
            database = Some(digest_reader(&mut entry).map_err(|e| invalid(archive, e))?);
        } else if name.starts_with(MEDIA_ENTRY) {
            media_files += 1;
        }
    }
    if database != Some((manifest.database_sha256.clone(), manifest.database_bytes)) {
        return Err(invalid(archive, "the database in the archive does not match its manifest"));
    }
    if media_files != manifest.media_files {
        return Err(invalid(archive, "the archive does not hold every media file"));
    }
    Ok(())
}

/// Whether `dir` is absent or an empty directory.
fn is_empty_dir(dir: &Path) -> Result<bool, BackupError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(BackupError::Io(format!("{}: {e}", dir.display()))),
    }
}

/// Restore `archive` into the deployment `config` describes (its `data_dir`, database path
/// and media directory). Refuses unless all of them are absent or empty: a running server's
/// data directory always holds its database, so a live deployment is never overwritten.
pub async fn restore(config: &Config, archive: &Path) -> Result<RestoreReport, BackupError> {
    embedded_only(config)?;
    let config = config.clone();
    let archive = archive.to_path_buf();
    tokio::task::spawn_blocking(move || restore_blocking(&config, &archive))
        .await
        .map_err(|e| BackupError::Io(format!("restore task: {e}")))?
}

fn restore_blocking(config: &Config, archive: &Path) -> Result<RestoreReport, BackupError> {
    let data_dir = config.data_dir.clone();
    let database = database_path(config);
    let media_dir = config.media_dir();
    if !is_empty_dir(&data_dir)? {
        return Err(BackupError::DataDirNotEmpty(format!(
            "{} is not empty (a server may be using it): restore only into a new or empty \
             data directory (--data-dir)",
            data_dir.display()
        )));
    }
    if database.exists() {
        return Err(BackupError::DataDirNotEmpty(format!(
            "the database {} already exists: refusing to overwrite it",
            database.display()
        )));
    }
    if !is_empty_dir(&media_dir)? {
        return Err(BackupError::DataDirNotEmpty(format!(
            "the media directory {} is not empty: refusing to overwrite it",
            media_dir.display()
        )));
    }
    if !archive.is_file() {
        return Err(invalid(archive, "no such file"));
    }
    crate::config::ensure_data_dir(&data_dir).map_err(io_error(data_dir.display()))?;
    // Unpacked into a directory inside data_dir, checked, then moved into place: a failure
    // leaves data_dir as empty as it was.
    let staging = tempfile::Builder::new()
        .prefix(".restoring-")
        .tempdir_in(&data_dir)
        .map_err(io_error(data_dir.display()))?;
    let result = unpack_and_place(archive, staging.path(), &data_dir, &database, &media_dir);
    drop(staging);
    if result.is_err() {
        // Leave nothing half-restored behind.
        let _ = fs::remove_file(&database);
        let _ = fs::remove_file(data_dir.join(SECRET_ENTRY));
        let _ = fs::remove_file(data_dir.join(format!("{CONFIG_ENTRY}.restored")));
        if media_dir.starts_with(&data_dir) {
            let _ = fs::remove_dir_all(&media_dir);
        }
    }
    let (manifest, config_copy) = result?;
    Ok(RestoreReport {
        data_dir,
        database,
        media_dir: (manifest.media_files > 0).then_some(media_dir),
        config_copy,
        manifest,
    })
}

fn unpack_and_place(
    archive: &Path,
    staging: &Path,
    data_dir: &Path,
    database: &Path,
    media_dir: &Path,
) -> Result<(Manifest, Option<PathBuf>), BackupError> {
    let mut tar = open_archive(archive)?;
    let mut manifest: Option<Manifest> = None;
    for entry in tar.entries().map_err(|e| invalid(archive, e))? {
        let mut entry = entry.map_err(|e| invalid(archive, e))?;
        let name = entry.path().map_err(|e| invalid(archive, e))?.into_owned();
        if manifest.is_none() {
            if name != Path::new(MANIFEST) {
                return Err(invalid(archive, "not a jim backup (no manifest first)"));
            }
            let mut text = Vec::new();
            entry.read_to_end(&mut text).map_err(|e| invalid(archive, e))?;
            let parsed: Manifest = serde_json::from_slice(&text)
                .map_err(|e| invalid(archive, format!("manifest: {e}")))?;
            if parsed.format != FORMAT || parsed.format_version != FORMAT_VERSION {
                return Err(invalid(
                    archive,
                    format!(
                        "format {} version {} is not one this jim reads",
                        parsed.format, parsed.format_version
                    ),
                ));
            }
            manifest = Some(parsed);
            continue;
        }
        // `unpack_in` refuses entries that would land outside the staging directory.
        let inside = entry.unpack_in(staging).map_err(|e| invalid(archive, e))?;
        if !inside {
            return Err(invalid(archive, format!("entry {} points outside", name.display())));
        }
    }
    let manifest = manifest.ok_or_else(|| invalid(archive, "empty archive"))?;

    let staged_db = staging.join(DB_ENTRY);
    let (sha, bytes) = digest_file(&staged_db)?;
    if sha != manifest.database_sha256 || bytes != manifest.database_bytes {
        return Err(invalid(archive, "the database does not match the manifest"));
    }
    let facts = snapshot::inspect_sqlite(&staged_db)
        .map_err(|e| BackupError::Database(format!("checking the restored database: {e}")))?;
    if facts.integrity != "ok" {
        return Err(BackupError::Integrity(format!(
            "the restored database failed its integrity check: {}",
            facts.integrity
        )));
    }
    let staged_media = staging.join(MEDIA_ENTRY);
    let media_count =
        if staged_media.is_dir() { list_files(&staged_media)?.len() as u64 } else { 0 };
    if media_count != manifest.media_files {
        return Err(invalid(archive, "media files are missing from the archive"));
    }

    if let Some(parent) = database.parent()
        && !parent.as_os_str().is_empty()
    {
        fs::create_dir_all(parent).map_err(io_error(parent.display()))?;
    }
    move_path(&staged_db, database)?;
    let staged_secret = staging.join(SECRET_ENTRY);
    if staged_secret.is_file() {
        move_path(&staged_secret, &data_dir.join(SECRET_ENTRY))?;
    }
    if staged_media.is_dir() {
        if media_dir.exists() {
            fs::remove_dir(media_dir).map_err(io_error(media_dir.display()))?;
        }
        if let Some(parent) = media_dir.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent.display()))?;
        }
        move_path(&staged_media, media_dir)?;
    }
    let staged_config = staging.join(CONFIG_ENTRY);
    let config_copy = if staged_config.is_file() {
        // Next to the data, not over anyone's jim.toml: the operator decides what to keep.
        let to = data_dir.join(format!("{CONFIG_ENTRY}.restored"));
        move_path(&staged_config, &to)?;
        Some(to)
    } else {
        None
    };
    Ok((manifest, config_copy))
}

/// Rename `from` to `to`, copying when they are on different file systems.
fn move_path(from: &Path, to: &Path) -> Result<(), BackupError> {
    if fs::rename(from, to).is_ok() {
        return Ok(());
    }
    if from.is_dir() {
        fs::create_dir_all(to).map_err(io_error(to.display()))?;
        for relative in list_files(from)? {
            let target = to.join(&relative);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(io_error(parent.display()))?;
            }
            fs::copy(from.join(&relative), &target).map_err(io_error(target.display()))?;
        }
        Ok(())
    } else {
        fs::copy(from, to).map(drop).map_err(io_error(to.display()))
    }
}
