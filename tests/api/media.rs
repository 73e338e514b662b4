//! Uploads end to end: upload, download (ranges, validators, dispositions, signed URLs), who
//! may download, media messages by reference, avatars, limits and bad input, the clean-up.
//! Embedded runs store on local files; scale-out runs store in a real Garage (S3).

use std::io::Cursor;
use std::time::Duration;

use jim::Config;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::garage::Garage;
use crate::helpers::*;

/// An app in `profile` whose media live on local files (embedded) or in a fresh Garage
/// bucket (scale-out), after `tweak`. The Garage is returned to keep it running.
async fn media_env(
    profile: Profile,
    tweak: impl FnOnce(&mut Config),
) -> Option<(Env, Option<Garage>)> {
    let garage = match profile {
        Profile::Embedded => None,
        Profile::ScaleOut => Some(Garage::start().await?),
    };
    let settings = garage.as_ref().map(Garage::s3_settings);
    let env = start(profile, |c| {
        if let Some(s) = settings {
            use_s3(c, &s);
        }
        tweak(c);
    })
    .await?;
    Some((env, garage))
}

fn use_s3(config: &mut Config, s: &jim::media::blob::S3Settings) {
    config.media.backend = jim::config::MediaBackend::S3;
    config.media.s3_endpoint = s.endpoint.clone();
    config.media.s3_bucket = s.bucket.clone();
    config.media.s3_region = s.region.clone();
    config.media.s3_access_key_id = s.access_key_id.clone();
    config.media.s3_secret_access_key = s.secret_access_key.clone();
}

/// A JPEG of `w` x `h` pixels (a gradient, so it is not trivially small).
fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img =
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, _| image::Rgba([(x % 256) as u8, 10, 200, 255]));
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(img).write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A JPEG carrying EXIF with a GPS block (latitude "N" 51°) and orientation 6 (shown rotated
/// a quarter turn clockwise), as phones write them.
fn jpeg_with_gps(w: u32, h: u32) -> Vec<u8> {
    let plain = jpeg(w, h);
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes()); // IFD0 right after the header
    let entry = |tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        let mut e = tag.to_le_bytes().to_vec();
        e.extend(kind.to_le_bytes());
        e.extend(count.to_le_bytes());
        e.extend(value);
        e
    };
    // IFD0: orientation, GPS pointer (GPS IFD at 8 + 2 + 2*12 + 4 = 38).
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x0112, 3, 1, [6, 0, 0, 0]));
    tiff.extend(entry(0x8825, 4, 1, 38u32.to_le_bytes()));
    tiff.extend(0u32.to_le_bytes());
    // GPS IFD: latitude ref "N", latitude 51/1 0/1 0/1 (rationals at 38 + 2 + 2*12 + 4 = 68).
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x0001, 2, 2, [b'N', 0, 0, 0]));
    tiff.extend(entry(0x0002, 5, 3, 68u32.to_le_bytes()));
    tiff.extend(0u32.to_le_bytes());
    for (num, den) in [(51u32, 1u32), (0, 1), (0, 1)] {
        tiff.extend(num.to_le_bytes());
        tiff.extend(den.to_le_bytes());
    }
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(&tiff);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(&app1);
    out.extend(&plain[2..]);
    out
}

/// Whether a JPEG still carries a GPS block in its EXIF (the GPS pointer tag, 0x8825).
fn has_gps(jpeg: &[u8]) -> bool {
    let parsed = img_parts::jpeg::Jpeg::from_bytes(jpeg.to_vec().into()).unwrap();
    parsed.segments().iter().any(|s| {
        let data = s.contents();
        data.starts_with(b"Exif\0\0") && data.windows(4).any(|w| w == [0x25, 0x88, 4, 0])
    })
}

/// Upload `bytes` as `name` (with `kind` when given); the status and JSON answer.
async fn upload(
    app: &TestApp,
    token: &str,
    kind: Option<&str>,
    name: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    if let Some(kind) = kind {
        form = form.text("kind", kind.to_string());
    }
    form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    post_upload(token, app.client.post(format!("{}/api/v1/media/upload", app.url)).multipart(form))
        .await
}

/// Send an upload request built by the caller (any body); the status and JSON answer.
async fn post_upload(token: &str, req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.bearer_auth(token).send().await.expect("upload");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Send a message; the status and JSON answer.
async fn send(app: &TestApp, token: &str, to: (i64, i64), kind: i64, body: Value) -> (u16, Value) {
    let message = json!({"session_type": to.0, "target_id": to.1, "type": kind, "body": body});
    app.post_as(token, "/api/v1/chat/message/send", &message).await
}

async fn upload_ok(
    app: &TestApp,
    token: &str,
    kind: Option<&str>,
    name: &str,
    bytes: Vec<u8>,
) -> Value {
    let r = upload(app, token, kind, name, bytes).await;
    assert_eq!(r.0, 200, "{}", r.1);
    r.1["data"].clone()
}

/// GET `path` (with the token, when given, and extra headers).
async fn fetch(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = app.client.get(format!("{}{path}", app.url));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("download")
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn photo_upload_and_download(profile: Profile) {
    let Some((env, _garage)) = media_env(profile, |_| {}).await else { return };
    let app = &env.app;
    let (_, token) = app.user("mira").await;
    let original = jpeg(640, 480);
    let info =
        upload_ok(app, &token, Some("image"), "../../etc/holiday.jpg", original.clone()).await;
    let id = info["id"].as_str().unwrap();
    assert_eq!(id.len(), 32, "128 random bits, hex: {info}");
    assert_eq!(info["mime"], "image/jpeg");
    assert_eq!(info["kind"], "image");
    assert_eq!(info["name"], "holiday.jpg", "the path is removed: {info}");
    let long = format!("{}.jpg", "n".repeat(1000));
    let named = upload_ok(app, &token, None, &long, original).await;
    let name = named["name"].as_str().unwrap();
    assert!(
        name.len() <= 255 && name.ends_with(".jpg"),
        "cut to 255 bytes, extension kept: {name}"
    );
    assert_eq!((info["width"].as_i64(), info["height"].as_i64()), (Some(640), Some(480)));
    assert_eq!(info["url"], format!("/api/v1/media/{id}"));
    let size = info["size"].as_u64().unwrap();

    let res = fetch(app, Some(&token), &format!("/api/v1/media/{id}"), &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "image/jpeg");
    assert_eq!(header(&res, "content-length"), size.to_string());
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    assert!(header(&res, "content-disposition").starts_with("inline"), "{res:?}");
    let etag = header(&res, "etag");
    let body = res.bytes().await.unwrap();
    assert_eq!(body.len() as u64, size);
    assert_eq!(sha256_hex(&body), info["sha256"].as_str().unwrap(), "sha256 of the stored bytes");
    image::load_from_memory(&body).expect("a decodable JPEG");

    let res =
        fetch(app, Some(&token), &format!("/api/v1/media/{id}"), &[("if-none-match", &etag)]).await;
    assert_eq!(res.status(), 304);

    let res =
        fetch(app, Some(&token), &format!("/api/v1/media/{id}"), &[("range", "bytes=10-109")])
            .await;
    assert_eq!(res.status(), 206);
    assert_eq!(header(&res, "content-range"), format!("bytes 10-109/{size}"));
    assert_eq!(res.bytes().await.unwrap(), body.slice(10..110));
    let res =
        fetch(app, Some(&token), &format!("/api/v1/media/{id}"), &[("range", "bytes=-16")]).await;
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap(), body.slice(body.len() - 16..));
    let res = fetch(
        app,
        Some(&token),
        &format!("/api/v1/media/{id}"),
        &[("range", &format!("bytes={size}-"))],
    )
    .await;
    assert_eq!(res.status(), 416);
    assert_eq!(header(&res, "content-range"), format!("bytes */{size}"));

    let thumb_url = info["thumbnail_url"].as_str().unwrap();
    let res = fetch(app, Some(&token), thumb_url, &[]).await;
    assert_eq!(res.status(), 200);
    let thumb = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert!(thumb.width() <= 320 && thumb.height() <= 320, "{}x{}", thumb.width(), thumb.height());
    assert_eq!(thumb.width(), 320, "the long side fills the box");

    // Nobody else may download it, and they cannot tell it exists.
    let (_, stranger) = app.user("stranger").await;
    let res = fetch(app, Some(&stranger), &format!("/api/v1/media/{id}"), &[]).await;
    assert_eq!(res.status(), 404);
    let res = fetch(app, None, &format!("/api/v1/media/{id}"), &[]).await;
    assert_eq!(res.status(), 401);
    let res = fetch(app, Some(&token), "/api/v1/media/0123456789abcdef0123456789abcdef", &[]).await;
    assert_eq!(res.status(), 404);
}

async fn photos_lose_their_location(profile: Profile) {
    let Some((env, _garage)) = media_env(profile, |_| {}).await else { return };
    let app = &env.app;
    let (_, token) = app.user("walker").await;
    let with_gps = jpeg_with_gps(40, 20);
    assert!(has_gps(&with_gps), "the test photo carries a location");
    let info = upload_ok(app, &token, None, "IMG_0001.JPG", with_gps).await;
    assert_eq!(info["kind"], "image", "the kind follows the bytes: {info}");
    assert_eq!(
        (info["width"].as_i64(), info["height"].as_i64()),
        (Some(20), Some(40)),
        "dimensions as the photo is shown (orientation 6)"
    );
    let res = fetch(app, Some(&token), info["url"].as_str().unwrap(), &[]).await;
    let stored = res.bytes().await.unwrap();
    assert!(!has_gps(&stored), "the stored photo has no GPS block");
    let shown = image::load_from_memory(&stored).unwrap();
    use img_parts::ImageEXIF;
    let upright = if img_parts::jpeg::Jpeg::from_bytes(stored.clone()).unwrap().exif().is_some() {
        (shown.width(), shown.height()) == (40, 20)
    } else {
        (shown.width(), shown.height()) == (20, 40)
    };
    assert!(upright, "still shown the right way up");
    assert_eq!(sha256_hex(&stored), info["sha256"].as_str().unwrap());
}

async fn media_messages_grant_downloads_to_readers(profile: Profile) {
    let Some((env, _garage)) = media_env(profile, |_| {}).await else { return };
    let app = &env.app;
    let ((a, ta), (b, tb)) = friends(app, "ana", "ben").await;
    let (_, tc) = app.user("cat").await;
    let info = upload_ok(app, &ta, Some("image"), "cat.png", png(300, 200)).await;
    let id = info["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/media/{id}");
    assert_eq!(fetch(app, Some(&tb), &path, &[]).await.status(), 404, "not sent yet");

    // Only the uploader may attach it.
    let r = send(app, &tb, (1, a), 2, json!({"media_id": id})).await;
    assert_eq!(code(&r), (403, Some("MEDIA_NOT_YOURS")), "{}", r.1);
    // A photo is not a voice note.
    let r = send(app, &ta, (1, b), 3, json!({"media_id": id})).await;
    assert_eq!(code(&r), (400, Some("MEDIA_KIND_MISMATCH")), "{}", r.1);
    let r =
        send(app, &ta, (1, b), 2, json!({"media_id": "ffffffffffffffffffffffffffffffff"})).await;
    assert_eq!(code(&r), (404, Some("MEDIA_NOT_FOUND")), "{}", r.1);

    let r = app.post_as(&ta, "/api/v1/chat/message/send", &json!({"session_type": 1, "target_id": b, "type": 2, "action_id": "photo-1", "body": {"media_id": id, "src": "https://evil.example/x.png", "width": 1}})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let body = &r.1["data"]["body"];
    assert_eq!(body["src"], path, "the server fills src: {body}");
    assert_eq!(body["media_id"], id);
    assert_eq!((body["width"].as_i64(), body["height"].as_i64()), (Some(300), Some(200)));
    assert_eq!(body["format"], "png");
    assert_eq!(body["size"], info["size"]);
    assert_eq!(body["thumbnail"], format!("{path}/thumbnail"));
    let message_id = r.1["data"]["message_id"].as_i64().unwrap();

    // The reader may download it (and its thumbnail); a stranger may not.
    assert_eq!(fetch(app, Some(&tb), &path, &[]).await.status(), 200);
    assert_eq!(fetch(app, Some(&tb), &format!("{path}/thumbnail"), &[]).await.status(), 200);
    assert_eq!(fetch(app, Some(&tc), &path, &[]).await.status(), 404);

    // A retry answers the same message; a recall takes the reader's right away.
    let again = app.post_as(&ta, "/api/v1/chat/message/send", &json!({"session_type": 1, "target_id": b, "type": 2, "action_id": "photo-1", "body": {"media_id": id}})).await;
    assert_eq!(again.1["data"]["message_id"].as_i64(), Some(message_id), "{}", again.1);
    let r = app
        .post_as(
            &ta,
            "/api/v1/chat/message/rollback",
            &json!({"session_type": 1, "target_id": b, "message_id": message_id}),
        )
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(
        fetch(app, Some(&tb), &path, &[]).await.status(),
        404,
        "recalled: no longer granted"
    );
    assert_eq!(fetch(app, Some(&ta), &path, &[]).await.status(), 200, "the uploader still may");

    // Group: members may download, others not.
    let r =
        app.post_as(&ta, "/api/v1/group/create", &json!({"name": "pics", "member_ids": [b]})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let group_id = r.1["data"]["group_id"].as_i64().unwrap();
    let file = upload_ok(app, &ta, Some("file"), "notes.pdf", b"%PDF-1.4\n% test\n".to_vec()).await;
    assert_eq!(file["mime"], "application/pdf");
    let r = send(app, &ta, (2, group_id), 6, json!({"media_id": file["id"]})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(r.1["data"]["body"]["name"], "notes.pdf");
    let file_path = file["url"].as_str().unwrap();
    let res = fetch(app, Some(&tb), file_path, &[]).await;
    assert_eq!(res.status(), 200);
    assert!(
        header(&res, "content-disposition").starts_with("attachment"),
        "a PDF is never shown inline"
    );
    assert_eq!(fetch(app, Some(&tc), file_path, &[]).await.status(), 404);
}

async fn avatars_are_square_and_replaced(profile: Profile) {
    let Some((env, _garage)) = media_env(profile, |c| c.media.unreferenced_grace_secs = 0).await
    else {
        return;
    };
    let app = &env.app;
    let (_, token) = app.user("ava").await;
    let (_, other) = app.user("otto").await;
    let first = upload_ok(app, &token, Some("avatar"), "me.png", png(300, 120)).await;
    assert_eq!(first["width"], first["height"], "cropped to a square: {first}");
    assert!(first["width"].as_i64().unwrap() <= 512);
    let r = app.post_as(&token, "/api/v1/profile/update", &json!({"avatar": first["id"]})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(r.1["data"]["avatar"], first["url"]);
    // Any signed-in user may see an avatar.
    let res = fetch(app, Some(&other), first["url"].as_str().unwrap(), &[]).await;
    assert_eq!(res.status(), 200);
    let shown = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(shown.width(), shown.height());

    // A photo upload is not an avatar; somebody else's avatar upload is not mine.
    let photo = upload_ok(app, &token, Some("image"), "p.jpg", jpeg(50, 50)).await;
    let r = app.post_as(&token, "/api/v1/profile/update", &json!({"avatar": photo["id"]})).await;
    assert_eq!(code(&r), (400, Some("MEDIA_KIND_MISMATCH")), "{}", r.1);
    let theirs = upload_ok(app, &other, Some("avatar"), "o.png", png(64, 64)).await;
    let r = app.post_as(&token, "/api/v1/profile/update", &json!({"avatar": theirs["id"]})).await;
    assert_eq!(code(&r), (404, Some("MEDIA_NOT_FOUND")), "{}", r.1);

    // Replacing releases the old one: the clean-up removes it, the new one stays.
    let second = upload_ok(app, &token, Some("avatar"), "me2.jpg", jpeg(100, 100)).await;
    let r = app.post_as(&token, "/api/v1/profile/update", &json!({"avatar": second["id"]})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let report = jim::service::media::gc(&app.state, false).await.unwrap();
    assert!(report.deleted >= 1, "{report:?}");
    assert_eq!(fetch(app, Some(&token), first["url"].as_str().unwrap(), &[]).await.status(), 404);
    assert_eq!(fetch(app, Some(&other), second["url"].as_str().unwrap(), &[]).await.status(), 200);
    let r = app.get_as(&token, "/api/v1/profile/info").await;
    assert_eq!(r.1["data"]["avatar"], second["url"]);

    // A group's avatar: set by its owner or admins only, shown in the group's info.
    let ((_, owner), (member_id, member)) = friends(app, "gowner", "gmember").await;
    let r = app
        .post_as(&owner, "/api/v1/group/create", &json!({"name": "g", "member_ids": [member_id]}))
        .await;
    let gid = r.1["data"]["group_id"].as_i64().unwrap();
    let picture = upload_ok(app, &owner, Some("avatar"), "g.png", png(80, 60)).await;
    let theirs = upload_ok(app, &member, Some("avatar"), "m.png", png(80, 60)).await;
    let r = app
        .post_as(&member, "/api/v1/group/update", &json!({"group_id": gid, "avatar": theirs["id"]}))
        .await;
    assert_eq!(code(&r), (403, Some("NOT_ADMIN")), "{}", r.1);
    let r = app
        .post_as(&owner, "/api/v1/group/update", &json!({"group_id": gid, "avatar": picture["id"]}))
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    let (_, info) = app.get_as(&member, &format!("/api/v1/group/info?group_id={gid}")).await;
    assert_eq!(info["data"]["avatar"], picture["url"], "{info}");
    assert_eq!(
        fetch(app, Some(&member), picture["url"].as_str().unwrap(), &[]).await.status(),
        200
    );
}

async fn bad_uploads_are_refused_and_leave_nothing(profile: Profile) {
    let Some((env, _garage)) = media_env(profile, |c| {
        c.media.max_image_bytes = 200_000;
        c.media.max_image_pixels = 4_000_000;
    })
    .await
    else {
        return;
    };
    let app = &env.app;
    let (me, token) = app.user("bad").await;
    // The bytes decide, not the name: a "photo" that is a PDF; a voice note that is a JPEG.
    let r = upload(app, &token, Some("image"), "x.jpg", b"%PDF-1.4\n...".to_vec()).await;
    assert_eq!(code(&r), (415, Some("MEDIA_TYPE_REFUSED")), "{}", r.1);
    let r = upload(app, &token, Some("voice"), "x.ogg", jpeg(10, 10)).await;
    assert_eq!(code(&r), (415, Some("MEDIA_TYPE_REFUSED")), "{}", r.1);
    let r = upload(app, &token, Some("sticker"), "x.png", png(10, 10)).await;
    assert_eq!(code(&r), (400, Some("MEDIA_KIND_INVALID")), "{}", r.1);
    let r = upload(app, &token, None, "empty.txt", Vec::new()).await;
    assert_eq!(code(&r), (400, Some("MEDIA_EMPTY")), "{}", r.1);
    // A truncated JPEG: the header says JPEG, the rest cannot be decoded.
    let mut broken = jpeg(100, 100);
    broken.truncate(40);
    let r = upload(app, &token, Some("image"), "broken.jpg", broken).await;
    assert_eq!(code(&r), (415, Some("MEDIA_IMAGE_CORRUPT")), "{}", r.1);
    // A decompression bomb: a tiny PNG whose header claims 100000 x 100000 pixels.
    let r = upload(app, &token, Some("image"), "bomb.png", png_bomb(100_000, 100_000)).await;
    assert_eq!(code(&r), (400, Some("MEDIA_IMAGE_TOO_LARGE")), "{}", r.1);
    // Over the image limit.
    let r = upload(app, &token, Some("image"), "big.png", vec![0x89; 300_000]).await;
    assert_eq!(code(&r), (413, Some("MEDIA_TOO_LARGE")), "{}", r.1);
    // Not multipart; no file part; a multipart body cut off before its end.
    let r = post_upload(
        &token,
        app.client
            .post(format!("{}/api/v1/media/upload", app.url))
            .header("content-type", "application/octet-stream")
            .body(vec![1u8; 100]),
    )
    .await;
    assert_eq!(r.0, 400, "{}", r.1);
    let form = reqwest::multipart::Form::new().text("kind", "file");
    let r = post_upload(
        &token,
        app.client.post(format!("{}/api/v1/media/upload", app.url)).multipart(form),
    )
    .await;
    assert_eq!(r.0, 400, "{}", r.1);
    assert_eq!(r.1["code"], "MEDIA_MULTIPART_INVALID");
    let truncated = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\nhello world";
    let r = post_upload(
        &token,
        app.client
            .post(format!("{}/api/v1/media/upload", app.url))
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(truncated),
    )
    .await;
    assert_eq!(r.0, 400, "{}", r.1);
    // `kind` after `file` comes too late to apply: refused, and the upload is not kept.
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(png(8, 8)).file_name("late.png"))
        .text("kind", "-58800");
    let r = post_upload(
        &token,
        app.client.post(format!("{}/api/v1/media/upload", app.url)).multipart(form),
    )
    .await;
    assert_eq!(r.0, 400, "{}", r.1);
    // Nothing of any of that was kept: no upload counted, no bytes held.
    let stats = jim::service::media::stats(&app.state).await.unwrap();
    assert!(stats.iter().all(|s| s.count == 0 && s.pending == 0), "{stats:?}");
    assert_eq!(app.state.db.media_usage_of(jim::domain::UserId(me)).await.unwrap(), 0);
}

/// A valid PNG signature and IHDR chunk claiming `w` x `h`, then nothing else.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]);
    let crc = crc32(&ihdr);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(13u32.to_be_bytes());
    out.extend(&ihdr);
    out.extend(crc.to_be_bytes());
    // An IDAT of a few zero bytes: whatever a decoder would inflate would be enormous.
    out.extend(2u32.to_be_bytes());
    let idat = b"IDAT\x78\x9c".to_vec();
    out.extend(&idat);
    out.extend(crc32(&idat).to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

async fn quota_holds_under_concurrent_uploads(profile: Profile) {
    const MIB: usize = 1024 * 1024;
    let Some((env, _garage)) = media_env(profile, |c| {
        c.media.user_quota_bytes = 3 * MIB as u64 + 100_000;
        c.media.uploads_per_minute = 0;
    })
    .await
    else {
        return;
    };
    let app = &env.app;
    let (me, token) = app.user("hoarder").await;
    let attempts = (0..6).map(|i| {
        let mut bytes = vec![0u8; MIB];
        bytes[..4].copy_from_slice(b"%PDF");
        bytes[5] = i as u8;
        upload(app, &token, Some("file"), "f.pdf", bytes)
    });
    let results = futures_util::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    for r in results.iter().filter(|r| r.0 != 200) {
        assert_eq!(code(r), (413, Some("MEDIA_QUOTA_EXCEEDED")), "{}", r.1);
    }
    assert_eq!(ok, 3, "exactly what fits: {results:?}");
    assert_eq!(app.state.db.media_usage_of(jim::domain::UserId(me)).await.unwrap(), 3 * MIB as i64);
}

async fn uploads_are_rate_limited(profile: Profile) {
    let Some((env, _garage)) = media_env(profile, |c| c.media.uploads_per_minute = 2).await else {
        return;
    };
    let app = &env.app;
    let (_, token) = app.user("fast").await;
    for _ in 0..2 {
        upload_ok(app, &token, None, "a.png", png(8, 8)).await;
    }
    let r = upload(app, &token, None, "a.png", png(8, 8)).await;
    assert_eq!(code(&r), (429, Some("RATE_LIMITED")), "{}", r.1);
}

async fn signed_urls_work_without_the_token(profile: Profile) {
    let Some((env, _garage)) = media_env(profile, |_| {}).await else { return };
    let app = &env.app;
    let (_, token) = app.user("browser").await;
    let (_, other) = app.user("nosy").await;
    let info = upload_ok(app, &token, None, "v.png", png(40, 40)).await;
    let id = info["id"].as_str().unwrap();
    let r = app
        .post_as(
            &token,
            "/api/v1/media/sign",
            &json!({"ids": [id, "0123456789abcdef0123456789abcdef"]}),
        )
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    let urls = r.1["data"].as_object().unwrap();
    assert_eq!(urls.len(), 1, "ids the caller may not download are left out: {urls:?}");
    let url = urls[id]["url"].as_str().unwrap();
    assert!(!url.contains(&token), "no token in the URL");
    assert_eq!(fetch(app, None, url, &[]).await.status(), 200);
    assert_eq!(
        fetch(app, None, urls[id]["thumbnail_url"].as_str().unwrap(), &[]).await.status(),
        200
    );
    // Tampered (another user, a later expiry, the thumbnail's signature on the original): 404.
    let tampered = url.replace("&s=", "&s=0");
    assert_eq!(fetch(app, None, &tampered, &[]).await.status(), 404);
    let (_, query) = url.split_once('?').unwrap();
    let later: Vec<String> = query
        .split('&')
        .map(|kv| {
            if let Some(e) = kv.strip_prefix("e=") {
                format!("e={}", e.parse::<i64>().unwrap() + 1000)
            } else {
                kv.to_string()
            }
        })
        .collect();
    assert_eq!(
        fetch(app, None, &format!("/api/v1/media/{id}?{}", later.join("&")), &[]).await.status(),
        404
    );
    // Someone who may not download it gets nothing signed.
    let r = app.post_as(&other, "/api/v1/media/sign", &json!({"ids": [id]})).await;
    assert_eq!(r.1["data"], json!({}));
    // The request log records the path, never the signature.
    assert!(!app.log.text().contains(url.split("&s=").nth(1).unwrap()));
}

both_profiles!(
    photo_upload_and_download,
    photos_lose_their_location,
    media_messages_grant_downloads_to_readers,
    avatars_are_square_and_replaced,
    bad_uploads_are_refused_and_leave_nothing,
    quota_holds_under_concurrent_uploads,
    uploads_are_rate_limited,
    signed_urls_work_without_the_token,
);

/// Over the limit, the answer is 413 at once: the server does not read the rest (the client
/// here sends 1 MiB of a body it announces as 64 MiB, then waits for the answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_upload_is_refused_without_reading_the_rest() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some((env, _garage)) =
        media_env(Profile::Embedded, |c| c.media.max_upload_bytes = 256 * 1024).await
    else {
        return;
    };
    let app = &env.app;
    let (_, token) = app.user("big").await;
    let addr = app.url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/media/upload HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\n\r\n\
         --B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n",
        64 * 1024 * 1024
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&vec![7u8; 1024 * 1024]).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut answer))
        .await
        .expect("answered before the body ended")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("MEDIA_TOO_LARGE"), "{answer}");
    let stats = jim::service::media::stats(&app.state).await.unwrap();
    assert!(stats.iter().all(|s| s.count == 0 && s.pending == 0), "{stats:?}");
}

/// Two instances on one Garage bucket: uploaded through A, downloaded through B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_on_one_instance_downloads_from_another() {
    let Some(garage) = Garage::start().await else { return };
    let Some(scale) = ScaleOut::fresh().await else { return };
    let settings = garage.s3_settings();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config_a = test_config(dir_a.path(), Some(&scale));
    use_s3(&mut config_a, &settings);
    let mut config_b = test_config(dir_b.path(), Some(&scale));
    use_s3(&mut config_b, &settings);
    let a = spawn_app(config_a).await;
    let b = spawn_app(config_b).await;
    let ((_, ta), (idb, tb)) = friends(&a, "left", "right").await;
    let info = upload_ok(&a, &ta, None, "shared.jpg", jpeg(64, 64)).await;
    let r = send(&a, &ta, (1, idb), 2, json!({"media_id": info["id"]})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let res = fetch(&b, Some(&tb), info["url"].as_str().unwrap(), &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(sha256_hex(&res.bytes().await.unwrap()), info["sha256"].as_str().unwrap());
}

/// The store down: the upload answers 503 and leaves no row behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_answers_503_and_keeps_nothing() {
    let Some(garage) = Garage::start().await else { return };
    let mut settings = garage.s3_settings();
    let proxy = TcpProxy::for_url(&settings.endpoint).await;
    settings.endpoint = proxy.url_through(&settings.endpoint).trim_end_matches('/').to_string();
    let Some(env) = start(Profile::Embedded, |c| use_s3(c, &settings)).await else { return };
    let app = &env.app;
    let (_, token) = app.user("offline").await;
    upload_ok(app, &token, None, "before.png", png(8, 8)).await;
    proxy.cut();
    let r = upload(app, &token, None, "during.png", png(8, 8)).await;
    assert_eq!(code(&r), (503, Some("UNAVAILABLE")), "{}", r.1);
    let stats = jim::service::media::stats(&app.state).await.unwrap();
    let images = stats.iter().find(|s| s.kind == "image").unwrap();
    assert_eq!((images.count, images.pending), (1, 0), "only the upload made before: {stats:?}");
}

/// `jim media gc` and `jim media stats`: unreferenced uploads go (dry run first), referenced
/// ones stay, and the blobs leave the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clean_up_deletes_only_what_nothing_refers_to() {
    let Some(env) = start(Profile::Embedded, |c| c.media.unreferenced_grace_secs = 0).await else {
        return;
    };
    let app = &env.app;
    let ((_, ta), (b, _)) = friends(app, "keep", "peer").await;
    let kept = upload_ok(app, &ta, None, "kept.png", png(16, 16)).await;
    let dropped = upload_ok(app, &ta, None, "dropped.png", png(16, 16)).await;
    let r = send(app, &ta, (1, b), 2, json!({"media_id": kept["id"]})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let media_dir = env.dir.path().join("media");
    let files = || walk(&media_dir);
    assert_eq!(files().len(), 4, "two uploads, each with a thumbnail: {:?}", files());

    let out =
        jim_for(&env, &["media", "gc", "--dry-run", "-O", "media.unreferenced_grace_secs=0"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("would delete 1 upload(s)"), "{}", text(&out.stdout));
    assert_eq!(files().len(), 4, "a dry run deletes nothing");
    let out = jim_for(&env, &["media", "gc", "-O", "media.unreferenced_grace_secs=0"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("deleted 1 upload(s)"), "{}", text(&out.stdout));
    assert_eq!(files().len(), 2, "{:?}", files());
    assert_eq!(fetch(app, Some(&ta), dropped["url"].as_str().unwrap(), &[]).await.status(), 404);
    assert_eq!(fetch(app, Some(&ta), kept["url"].as_str().unwrap(), &[]).await.status(), 200);

    let out = jim_for(&env, &["media", "stats"], "");
    let stats = text(&out.stdout);
    let image_line = stats.lines().find(|l| l.starts_with("image")).unwrap();
    assert_eq!(image_line.split_whitespace().nth(1), Some("1"), "{stats}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Several instances with uploads on a local disk: `jim config check` warns.
#[test]
fn config_check_warns_about_local_media_with_redis() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(jim_bin());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("JIM_")) {
        cmd.env_remove(k);
    }
    let out = cmd
        .current_dir(dir.path())
        .args(["config", "check", "-O", "redis.url=redis://127.0.0.1:6379"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(err.contains("warning: media.backend"), "{err}");
    assert!(out.status.success(), "a warning is not an error: {err}");
}
