//! One contract for both blob stores: the local disk (a temp folder) and S3 (a real Garage).
//! The same cases run against each; the S3 store must also fail fast when nothing answers.

use std::ops::Range;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use jim::media::blob::{BlobError, BlobStore, S3Settings};
use object_store::ObjectStoreExt;

use crate::garage::Garage;
use crate::helpers::free_port;

const MIB: usize = 1 << 20;

/// Deterministic bytes that differ at every offset (xorshift), so a misplaced range shows.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn read_all(
    store: &BlobStore,
    key: &str,
    range: Option<Range<u64>>,
) -> (u64, Range<u64>, Vec<u8>) {
    let read = store.get(key, range).await.expect("get");
    let (size, range) = (read.size, read.range.clone());
    let mut out = Vec::new();
    let mut stream = read.stream;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    (size, range, out)
}

async fn contract(store: &BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let p = format!("c{}", uuid::Uuid::new_v4().simple());
    store.check().await.expect("store reachable");

    // Small bytes: whole, a range, the size.
    let small = format!("{p}/a/small");
    store.put_bytes(&small, Bytes::from_static(b"hello world"), "text/plain").await.unwrap();
    assert_eq!(store.size(&small).await.unwrap(), 11);
    assert_eq!(read_all(store, &small, None).await, (11, 0..11, b"hello world".to_vec()));
    assert_eq!(read_all(store, &small, Some(2..7)).await, (11, 2..7, b"llo w".to_vec()));
    assert_eq!(read_all(store, &small, Some(10..11)).await, (11, 10..11, b"d".to_vec()));

    // A file in one request (bigger than one read step, smaller than a part).
    let medium = format!("{p}/b/medium");
    let bytes = pattern(300 * 1024 + 7, 1);
    let path = dir.path().join("medium");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(store.put_file(&medium, &path, "image/jpeg").await.unwrap(), bytes.len() as u64);
    assert_eq!(store.size(&medium).await.unwrap(), bytes.len() as u64);
    let (size, range, got) = read_all(store, &medium, None).await;
    assert_eq!((size, range), (bytes.len() as u64, 0..bytes.len() as u64));
    assert!(got == bytes, "medium blob read back differs");
    let (_, _, got) = read_all(store, &medium, Some(1000..200_000)).await;
    assert!(got == bytes[1000..200_000], "medium range differs");

    // An empty file.
    let empty = format!("{p}/b/empty");
    let path = dir.path().join("empty");
    std::fs::write(&path, b"").unwrap();
    assert_eq!(store.put_file(&empty, &path, "application/octet-stream").await.unwrap(), 0);
    assert_eq!(read_all(store, &empty, None).await, (0, 0..0, Vec::new()));

    // Missing keys.
    let missing = format!("{p}/a/missing");
    assert!(matches!(store.get(&missing, None).await, Err(BlobError::NotFound)));
    assert!(matches!(store.get(&missing, Some(0..1)).await, Err(BlobError::NotFound)));
    assert!(matches!(store.size(&missing).await, Err(BlobError::NotFound)));
    store.delete(&missing).await.expect("deleting a missing key is fine");
    let gone = dir.path().join("does-not-exist");
    assert!(store.put_file(&format!("{p}/x"), &gone, "text/plain").await.is_err());

    // Listing by folder.
    let mut all = store.list(&p).await.unwrap();
    all.sort();
    let mut expected =
        vec![(small.clone(), 11), (medium.clone(), bytes.len() as u64), (empty.clone(), 0)];
    expected.sort();
    assert_eq!(all, expected);
    assert_eq!(store.list(&format!("{p}/a")).await.unwrap(), vec![(small.clone(), 11)]);
    assert_eq!(store.list(&format!("{p}/a/")).await.unwrap(), vec![(small.clone(), 11)]);
    assert!(store.list(&format!("{p}/nothing")).await.unwrap().is_empty());
    // A prefix is a folder, not the start of a name.
    assert!(store.list(&format!("{p}/a/sma")).await.unwrap().is_empty());
    assert!(store.list("").await.unwrap().len() >= 3);

    // Delete.
    store.delete(&small).await.unwrap();
    assert!(matches!(store.get(&small, None).await, Err(BlobError::NotFound)));
    assert!(store.list(&format!("{p}/a")).await.unwrap().is_empty());
    store.delete(&small).await.expect("twice is fine");

    // Keys that could escape the store or mean different things per backend are refused.
    for bad in ["", "/abs", "a//b", "../x", "a/./b", "a b", "a#1", "ü"] {
        assert!(
            matches!(
                store.put_bytes(bad, Bytes::new(), "text/plain").await,
                Err(BlobError::Unavailable(_))
            ),
            "{bad:?}"
        );
    }

    // A 20 MiB file: sent in parts, read back whole as a stream and across a part boundary.
    let big = format!("{p}/big");
    let bytes = pattern(20 * MIB + 123, 2);
    let path = dir.path().join("big");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(store.put_file(&big, &path, "video/mp4").await.unwrap(), bytes.len() as u64);
    assert_eq!(store.size(&big).await.unwrap(), bytes.len() as u64);
    let (size, range, got) = read_all(store, &big, None).await;
    assert_eq!((size, range), (bytes.len() as u64, 0..bytes.len() as u64));
    assert!(got == bytes, "big blob read back differs");
    let edge = (8 * MIB) as u64;
    let (size, range, got) = read_all(store, &big, Some(edge - 10..edge + 10)).await;
    assert_eq!((size, range), (bytes.len() as u64, edge - 10..edge + 10));
    assert!(got == bytes[(edge - 10) as usize..(edge + 10) as usize]);
    let tail = bytes.len() as u64 - 5..bytes.len() as u64;
    assert_eq!(read_all(store, &big, Some(tail)).await.2, bytes[bytes.len() - 5..]);
    store.delete(&big).await.unwrap();
    assert!(matches!(store.size(&big).await, Err(BlobError::NotFound)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_backend() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("media");
    let store = BlobStore::fs(&root).unwrap();
    assert!(store.is_local());
    contract(&store).await;

    // Nothing half-written is left under the root (puts are staged and renamed).
    let mut stack = vec![root.clone()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().to_string();
            assert!(!name.contains('#'), "staging file left: {name}");
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }

    // A second store on the same folder sees the same blobs.
    store.put_bytes("shared/one", Bytes::from_static(b"1"), "text/plain").await.unwrap();
    let other = BlobStore::fs(&root).unwrap();
    assert_eq!(other.size("shared/one").await.unwrap(), 1);

    // A root that vanished is reported.
    std::fs::remove_dir_all(&root).unwrap();
    assert!(matches!(store.check().await, Err(BlobError::Unavailable(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_on_garage() {
    let Some(garage) = Garage::start().await else { return };
    let store = BlobStore::s3(&garage.s3_settings()).unwrap();
    assert!(!store.is_local());
    contract(&store).await;

    // Another instance with the same settings reads what this one wrote.
    store.put_bytes("shared/one", Bytes::from_static(b"1"), "text/plain").await.unwrap();
    let other = BlobStore::s3(&garage.s3_settings()).unwrap();
    assert_eq!(read_all(&other, "shared/one", None).await.2, b"1");

    // The type is stored with the object, in one request and in parts alike (some S3
    // servers return no Content-Type at all when none was given).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parts");
    std::fs::write(&path, pattern(9 * MIB, 4)).unwrap();
    store.put_file("shared/parts", &path, "video/mp4").await.unwrap();
    let s = garage.s3_settings();
    let raw = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&s.endpoint)
        .with_allow_http(true)
        .with_region(&s.region)
        .with_bucket_name(&s.bucket)
        .with_access_key_id(&s.access_key_id)
        .with_secret_access_key(&s.secret_access_key)
        .build()
        .unwrap();
    for (key, mime) in [("shared/one", "text/plain"), ("shared/parts", "video/mp4")] {
        let got = raw.get(&key.into()).await.unwrap();
        let stored = got.attributes.get(&object_store::Attribute::ContentType);
        assert_eq!(stored.map(|v| v.as_ref()), Some(mime), "{key}");
    }

    // Wrong credentials or bucket: the store answers, but refuses; that is not "not found".
    let mut wrong = garage.s3_settings();
    wrong.secret_access_key = "0".repeat(64);
    let refused = BlobStore::s3(&wrong).unwrap();
    assert!(matches!(refused.check().await, Err(BlobError::Unavailable(_))));
    assert!(matches!(refused.get("shared/one", None).await, Err(BlobError::Unavailable(_))));
    let mut wrong = garage.s3_settings();
    wrong.bucket = "no-such-bucket".into();
    assert!(matches!(BlobStore::s3(&wrong).unwrap().check().await, Err(BlobError::Unavailable(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_s3_is_unavailable_quickly() {
    // A port nobody listens on.
    let settings = S3Settings {
        endpoint: format!("http://127.0.0.1:{}", free_port()),
        bucket: "jim-media".into(),
        region: "garage".into(),
        access_key_id: "GKtest0000".into(),
        secret_access_key: "secret-secret-secret".into(),
        path_style: true,
    };
    let store = BlobStore::s3(&settings).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, pattern(1000, 3)).unwrap();
    let started = Instant::now();
    assert!(matches!(store.check().await, Err(BlobError::Unavailable(_))));
    assert!(matches!(store.get("a/b", None).await, Err(BlobError::Unavailable(_))));
    assert!(matches!(store.size("a/b").await, Err(BlobError::Unavailable(_))));
    assert!(matches!(store.delete("a/b").await, Err(BlobError::Unavailable(_))));
    assert!(matches!(store.list("a").await, Err(BlobError::Unavailable(_))));
    assert!(matches!(
        store.put_bytes("a/b", Bytes::from_static(b"x"), "text/plain").await,
        Err(BlobError::Unavailable(_))
    ));
    assert!(matches!(
        store.put_file("a/c", &path, "text/plain").await,
        Err(BlobError::Unavailable(_))
    ));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "seven calls took {took:?}");
}
