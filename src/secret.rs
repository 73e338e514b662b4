//! The deployment's secret: never shipped as a constant. Taken from config when set, otherwise
//! generated on first start and kept in `data_dir/secret.key` (embedded) or in the shared
//! database (scale-out, so every instance agrees without extra setup).

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::{Config, DatabaseKind};
use crate::db::Db;

/// 32 bytes of key material. `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Arc<[u8; 32]>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A secret derived from configured text (any length).
    pub fn from_text(text: &str) -> Self {
        Self(Arc::new(Sha256::digest(text.as_bytes()).into()))
    }

    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(Arc::new(bytes))
    }

    fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text.trim()).ok()?;
        Some(Self(Arc::new(bytes.try_into().ok()?)))
    }

    fn to_hex(&self) -> String {
        hex::encode(*self.0)
    }

    /// HMAC-SHA256 of `data` under this secret, hex-encoded. Used to store token digests that
    /// are useless without the secret.
    pub fn keyed_hash(&self, data: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0[..])
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Find or create the secret for this deployment.
pub async fn load_or_create(config: &Config, db: &Db) -> anyhow::Result<Secret> {
    if !config.secret.is_empty() {
        return Ok(Secret::from_text(&config.secret));
    }
    match db.kind() {
        DatabaseKind::Sqlite => load_or_create_file(&config.data_dir.join("secret.key")),
        DatabaseKind::Mysql => {
            let stored = db.meta_get_or_insert("secret", Secret::generate().to_hex()).await?;
            Secret::from_hex(&stored)
                .ok_or_else(|| anyhow::anyhow!("server_meta 'secret' is not 64 hex characters"))
        }
    }
}

fn load_or_create_file(path: &Path) -> anyhow::Result<Secret> {
    if let Some(parent) = path.parent() {
        crate::config::ensure_data_dir(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            let secret = Secret::generate();
            file.write_all(secret.to_hex().as_bytes())?;
            file.sync_all()?;
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)?;
            Secret::from_hex(&text)
                .ok_or_else(|| anyhow::anyhow!("{} must hold 64 hex characters", path.display()))
        }
        Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secret_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let first = load_or_create_file(&path).unwrap();
        let second = load_or_create_file(&path).unwrap();
        assert_eq!(first.keyed_hash(b"x"), second.keyed_hash(b"x"));
        assert_ne!(first.keyed_hash(b"x"), Secret::generate().keyed_hash(b"x"));
        assert_eq!(format!("{first:?}"), "Secret(<redacted>)");
    }
}
