//! Where blobs live: a local directory or an S3-compatible bucket, behind one contract (put a
//! file or bytes, read whole or a range as a stream, size, delete, list, check).
//!
//! Keys are unique by construction (the caller picks random ids): some S3 servers ignore
//! conditional writes, so nothing here relies on "create only if absent".

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, GetOptions, GetRange, GetResultPayload,
    ObjectStore, ObjectStoreExt, PutOptions, PutPayload, RetryConfig,
};
use tokio::io::AsyncReadExt;

/// Where an S3-compatible bucket is and how to sign requests to it.
#[derive(Clone)]
pub struct S3Settings {
    /// `http(s)://host:port`; empty for AWS's own endpoint for `region`. With
    /// `path_style = false` (virtual-hosted requests) it must already name the bucket's host.
    pub endpoint: String,
    pub bucket: String,
    /// Must equal the server's region exactly: it is part of every signature.
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `host/bucket/key` requests (what self-hosted servers expect) rather than `bucket.host/key`.
    pub path_style: bool,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<hidden>")
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    /// The store is down, unreachable, full, refuses us, or answered with an error.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

/// A blob being read: its whole size, the byte range being sent, and that range's bytes.
pub struct BlobRead {
    /// Size of the whole object, not of `range`.
    pub size: u64,
    pub range: Range<u64>,
    pub stream: BoxStream<'static, Result<Bytes, BlobError>>,
}

impl fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobRead").field("size", &self.size).field("range", &self.range).finish()
    }
}

/// A store of blobs by key, on local disk or S3. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// What logs call it: `fs:<root>` or `s3:<bucket> at <endpoint>`.
    name: String,
    /// The local root, for the `fs` backend.
    root: Option<PathBuf>,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStore").field("name", &self.name).finish()
    }
}

/// Connecting to a store that does not answer gives up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A request that is not a streamed body (head, delete, a small put, a get until its first
/// byte, one page of a listing) must finish within this.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// A streamed upload or download that makes no progress for this long is abandoned; a slow
/// but moving client is never cut off.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Files at least this big are sent to S3 in parts of this size (S3's smallest part is 5 MiB).
const PART_SIZE: usize = 8 << 20;
/// Parts in flight at once per upload: with `PART_SIZE`, bounds an upload's memory to ~24 MiB.
const PARTS_IN_FLIGHT: usize = 2;
/// Bytes read from the local file per step of an upload, and per chunk of a local download.
const CHUNK_SIZE: usize = 256 << 10;

fn unavailable(e: impl fmt::Display) -> BlobError {
    BlobError::Unavailable(e.to_string())
}

fn map_err(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => unavailable(other),
    }
}

/// Run `fut`, turning its errors and a missed `limit` into `BlobError`.
async fn within<T>(
    limit: Duration,
    fut: impl Future<Output = object_store::Result<T>>,
) -> Result<T, BlobError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(map_err),
        Err(_) => Err(BlobError::Unavailable(format!("no answer within {limit:?}"))),
    }
}

/// End a stream with an error when its next item takes longer than `STALL_TIMEOUT`.
fn stall_guard<T: Send + 'static>(
    inner: BoxStream<'static, Result<T, BlobError>>,
) -> BoxStream<'static, Result<T, BlobError>> {
    stream::unfold(Some(inner), |state| async move {
        let mut inner = state?;
        match tokio::time::timeout(STALL_TIMEOUT, inner.next()).await {
            Ok(Some(Ok(item))) => Some((Ok(item), Some(inner))),
            Ok(Some(Err(e))) => Some((Err(e), None)),
            Ok(None) => None,
            Err(_) => Some((Err(BlobError::Unavailable("blob store stalled".into())), None)),
        }
    })
    .boxed()
}

/// Keys are made of ASCII letters, digits, `-`, `_` and `.`, in `/`-separated segments (no
/// empty, `.` or `..` segment): the same key then means the same thing on disk and in S3.
fn object_path(key: &str) -> Result<ObjectPath, BlobError> {
    let valid = !key.is_empty()
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if !valid {
        return Err(BlobError::Unavailable(format!("invalid blob key {key:?}")));
    }
    ObjectPath::parse(key).map_err(unavailable)
}

/// A local file read in `CHUNK_SIZE` pieces off the async workers (object_store's own file
/// stream reads 8 KiB per blocking task, too slow for big downloads).
fn file_stream(
    file: std::fs::File,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes, BlobError>> {
    stream::try_unfold((file, range, true), |(mut file, range, first)| async move {
        if range.start >= range.end {
            return Ok(None);
        }
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            if first {
                file.seek(SeekFrom::Start(range.start))?;
            }
            let want = (range.end - range.start).min(CHUNK_SIZE as u64);
            let mut buf = BytesMut::zeroed(want as usize);
            // A file cut short meanwhile ends the stream with an error, not short data.
            file.read_exact(&mut buf)?;
            Ok::<_, std::io::Error>((file, buf.freeze()))
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
        let next = range.start + chunk.len() as u64..range.end;
        Ok(Some((chunk, (file, next, false))))
    })
    .boxed()
}

impl BlobStore {
    /// Blobs as files under `root` (created if missing). A put writes `<key>#<n>` next to its
    /// final name and renames it when complete (object_store's `LocalFileSystem` does so for
    /// single and multipart writes, and removes the partial file when an upload is dropped),
    /// so a crash never leaves a half-written blob under a real key; listings skip such names.
    pub fn fs(root: &Path) -> Result<Self, BlobError> {
        std::fs::create_dir_all(root).map_err(unavailable)?;
        let root = root.canonicalize().map_err(unavailable)?;
        // Empty key folders go away with their last blob.
        let store = LocalFileSystem::new_with_prefix(&root)
            .map_err(unavailable)?
            .with_automatic_cleanup(true);
        Ok(BlobStore {
            store: Arc::new(store),
            name: format!("fs:{}", root.display()),
            root: Some(root),
        })
    }

    /// Blobs in an S3-compatible bucket. Plain `http://` endpoints are allowed (a store on the
    /// same host or network). A dead endpoint answers `Unavailable` within seconds: short
    /// connect timeout, two quick retries.
    pub fn s3(settings: &S3Settings) -> Result<Self, BlobError> {
        let options = ClientOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            // A whole-request timeout would also cut a long download to a slow client; the
            // deadlines here cover requests, and stalls cover streams.
            .with_timeout_disabled()
            .with_allow_http(settings.endpoint.starts_with("http://"));
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(5),
        };
        let mut builder = AmazonS3Builder::new()
            .with_client_options(options)
            .with_retry(retry)
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_virtual_hosted_style_request(!settings.path_style);
        if !settings.endpoint.is_empty() {
            builder = builder.with_endpoint(&settings.endpoint);
        }
        if !settings.access_key_id.is_empty() {
            builder = builder
                .with_access_key_id(&settings.access_key_id)
                .with_secret_access_key(&settings.secret_access_key);
        }
        let store = builder.build().map_err(unavailable)?;
        let endpoint =
            if settings.endpoint.is_empty() { "AWS" } else { settings.endpoint.as_str() };
        Ok(BlobStore {
            store: Arc::new(store),
            name: format!("s3:{} at {endpoint}", settings.bucket),
            root: None,
        })
    }

    /// What logs call this store.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether blobs live on this machine's disk (not shared between instances).
    pub fn is_local(&self) -> bool {
        self.root.is_some()
    }

    /// Attributes sent with a put. S3 stores the type (some servers return none when none was
    /// given); the local store keeps none and refuses them.
    fn attributes(&self, content_type: &str) -> Attributes {
        let mut attributes = Attributes::new();
        if !self.is_local() {
            attributes.insert(Attribute::ContentType, content_type.to_string().into());
        }
        attributes
    }

    /// Store the file at `path` under `key`, streamed: small files in one request, bigger
    /// ones in `PART_SIZE` parts, never the whole file in memory. Returns the bytes written.
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, BlobError> {
        let location = object_path(key)?;
        let mut file = tokio::fs::File::open(path).await.map_err(unavailable)?;
        let mut writer = BufWriter::with_capacity(Arc::clone(&self.store), location, PART_SIZE)
            .with_max_concurrency(PARTS_IN_FLIGHT)
            .with_attributes(self.attributes(content_type));
        let mut written = 0u64;
        let sent = async {
            loop {
                let mut buf = BytesMut::with_capacity(CHUNK_SIZE);
                let n = file.read_buf(&mut buf).await.map_err(unavailable)?;
                if n == 0 {
                    return Ok(());
                }
                written += n as u64;
                within(STALL_TIMEOUT, writer.put(buf.freeze())).await?;
            }
        }
        .await;
        if let Err(e) = sent {
            // Drop the parts already sent (S3 keeps an unfinished upload's parts otherwise).
            let _ = tokio::time::timeout(REQUEST_DEADLINE, writer.abort()).await;
            return Err(e);
        }
        // Completes the upload (or sends the one request); the writer cannot be aborted after.
        match tokio::time::timeout(STALL_TIMEOUT, tokio::io::AsyncWriteExt::shutdown(&mut writer))
            .await
        {
            Ok(Ok(())) => Ok(written),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(BlobError::Unavailable("blob store stalled".into())),
        }
    }

    /// Store small `bytes` (a thumbnail, an avatar) under `key` in one request.
    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), BlobError> {
        let location = object_path(key)?;
        let options = PutOptions::from(self.attributes(content_type));
        within(REQUEST_DEADLINE, self.store.put_opts(&location, PutPayload::from(bytes), options))
            .await
            .map(|_| ())
    }

    /// Read `key`, whole or `range` (already checked against the size by the caller).
    pub async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobRead, BlobError> {
        let location = object_path(key)?;
        let options = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
        let result = within(REQUEST_DEADLINE, self.store.get_opts(&location, options)).await?;
        let size = result.meta.size;
        let range = result.range.clone();
        let stream = match result.payload {
            GetResultPayload::File(file, _) => file_stream(file, range.clone()),
            GetResultPayload::Stream(stream) => stall_guard(stream.map_err(map_err).boxed()),
        };
        Ok(BlobRead { size, range, stream })
    }

    /// The size of `key` in bytes.
    pub async fn size(&self, key: &str) -> Result<u64, BlobError> {
        let location = object_path(key)?;
        Ok(within(REQUEST_DEADLINE, self.store.head(&location)).await?.size)
    }

    /// Remove `key`; a key that is already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let location = object_path(key)?;
        match within(REQUEST_DEADLINE, self.store.delete(&location)).await {
            Ok(()) | Err(BlobError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every key under the folder `prefix` (`""`: all keys; `"a"` lists `a/…`, not `ab`) with
    /// its size, for finding blobs nothing refers to.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, BlobError> {
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() { None } else { Some(object_path(prefix)?) };
        let listing = self.store.list(prefix.as_ref()).map_err(map_err).boxed();
        stall_guard(listing)
            .map_ok(|meta| (meta.location.to_string(), meta.size))
            .try_collect()
            .await
    }

    /// Whether the store answers: the local root is a folder, or the bucket can be listed.
    pub async fn check(&self) -> Result<(), BlobError> {
        if let Some(root) = &self.root {
            let meta = tokio::fs::metadata(root).await.map_err(unavailable)?;
            if !meta.is_dir() {
                return Err(BlobError::Unavailable(format!("{} is not a folder", root.display())));
            }
        }
        let probe = object_path("jim-health-probe")?;
        let mut listing = self.store.list(Some(&probe));
        match tokio::time::timeout(REQUEST_DEADLINE, listing.next()).await {
            Ok(None | Some(Ok(_))) => Ok(()),
            Ok(Some(Err(e))) => Err(unavailable(e)),
            Err(_) => Err(BlobError::Unavailable(format!("no answer within {REQUEST_DEADLINE:?}"))),
        }
    }
}
