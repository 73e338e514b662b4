//! Photos, thumbnails and avatars: dimensions checked from the header before any pixel is
//! decoded, thumbnails and square avatars re-encoded without metadata, and location data
//! removed from stored photos without re-encoding them. Blocking code: run it off the async
//! workers (`spawn_blocking`).

use std::fs::File;
use std::io::{BufReader, Cursor};
use std::path::Path;

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use img_parts::jpeg::{Jpeg, markers};
use img_parts::png::Png;
use img_parts::riff::{RiffChunk, RiffContent};
use img_parts::webp::WebP;
use img_parts::{Bytes as PartBytes, ImageEXIF};

/// How big an image may be, checked against its header before decoding.
#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    /// Most pixels (width × height) an image may have.
    pub max_pixels: u64,
    /// Longest width or height.
    pub max_edge: u32,
}

/// Why an image could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The header claims more pixels than allowed (a decompression bomb, or just too big).
    #[error("image too large: {width}x{height}")]
    TooLarge { width: u32, height: u32 },
    /// Not an image we decode, or damaged.
    #[error("not a valid image: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A small preview, re-encoded (JPEG, or PNG when it has transparency): no metadata.
#[derive(Clone, Debug)]
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

/// What `process_photo` found and did.
#[derive(Clone, Debug)]
pub struct Photo {
    /// Size as displayed (EXIF orientation applied).
    pub width: u32,
    pub height: u32,
    pub mime: &'static str,
    pub thumbnail: Thumbnail,
    /// Whether `dst` was written (a copy without location data); when false, store `src`.
    pub rewritten: bool,
}

/// A square avatar, re-encoded without metadata.
#[derive(Clone, Debug)]
pub struct Avatar {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    /// Width and height (the same).
    pub edge: u32,
}

/// JPEG quality for thumbnails and avatars: small files, no visible blocks at these sizes.
const JPEG_QUALITY: u8 = 85;
/// Working memory a decoder may use beyond the decoded pixels themselves.
const DECODER_SLACK_BYTES: u64 = 64 << 20;
/// Bytes per pixel of the widest decoded layout (16-bit RGBA).
const MAX_BYTES_PER_PIXEL: u64 = 8;

/// What the header says, read without decoding pixels.
struct Header {
    format: ImageFormat,
    width: u32,
    height: u32,
    orientation: Orientation,
}

fn open_reader(src: &Path) -> Result<ImageReader<BufReader<File>>, ImageError> {
    // The format comes from the bytes only, never from the file's name.
    let reader = ImageReader::new(BufReader::new(File::open(src)?)).with_guessed_format()?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP) => {
            Ok(reader)
        }
        _ => Err(ImageError::Corrupt("not a JPEG, PNG, GIF or WebP image".into())),
    }
}

fn read_header(src: &Path) -> Result<Header, ImageError> {
    let mut reader = open_reader(src)?;
    let format = reader.format().ok_or_else(|| ImageError::Corrupt("unknown format".into()))?;
    // Building a decoder reads the header only; no buffer is sized from it yet, so a header
    // claiming huge dimensions costs nothing here.
    reader.no_limits();
    let mut decoder = reader.into_decoder().map_err(|e| decode_error(e, (0, 0)))?;
    let (width, height) = decoder.dimensions();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Ok(Header { format, width, height, orientation })
}

fn check_limits(header: &Header, limits: &ImageLimits) -> Result<(), ImageError> {
    let (width, height) = (header.width, header.height);
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt("zero width or height".into()));
    }
    if width > limits.max_edge
        || height > limits.max_edge
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(ImageError::TooLarge { width, height });
    }
    Ok(())
}

fn decode_error(e: image::ImageError, (width, height): (u32, u32)) -> ImageError {
    match e {
        image::ImageError::Limits(_) => ImageError::TooLarge { width, height },
        // A file that ends early is a damaged image, not a failing disk.
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Corrupt(io.to_string())
        }
        image::ImageError::IoError(io) => ImageError::Io(io),
        other => ImageError::Corrupt(other.to_string()),
    }
}

/// Decode after checking the header against `limits`; the pixels come back as displayed
/// (EXIF orientation applied).
fn decode(src: &Path, limits: &ImageLimits) -> Result<(Header, DynamicImage), ImageError> {
    let header = read_header(src)?;
    check_limits(&header, limits)?;
    let dims = (header.width, header.height);
    let mut reader = open_reader(src)?;
    let mut decoder_limits = Limits::default();
    decoder_limits.max_image_width = Some(limits.max_edge);
    decoder_limits.max_image_height = Some(limits.max_edge);
    decoder_limits.max_alloc = Some(
        limits.max_pixels.saturating_mul(MAX_BYTES_PER_PIXEL).saturating_add(DECODER_SLACK_BYTES),
    );
    reader.limits(decoder_limits);
    let decoder = reader.into_decoder().map_err(|e| decode_error(e, dims))?;
    // The file could have changed between the two reads: the limits above still hold.
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(e, dims))?;
    img.apply_orientation(header.orientation);
    Ok((header, img))
}

fn mime_of(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "image/png",
        ImageFormat::Gif => "image/gif",
        ImageFormat::WebP => "image/webp",
        _ => "image/jpeg",
    }
}

/// Width and height as displayed (EXIF orientation applied), from the header only.
pub fn dimensions(path: &Path) -> Result<(u32, u32), ImageError> {
    let header = read_header(path)?;
    Ok(displayed(header.width, header.height, header.orientation))
}

fn displayed(width: u32, height: u32, orientation: Orientation) -> (u32, u32) {
    match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (height, width),
        _ => (width, height),
    }
}

/// Whether any pixel is not fully opaque (a decoded GIF is RGBA even when it is opaque).
fn has_transparency(img: &DynamicImage) -> bool {
    img.color().has_alpha() && img.to_rgba8().pixels().any(|p| p.0[3] < u8::MAX)
}

/// Encode as PNG when transparent, JPEG otherwise; neither writes any metadata.
fn encode(img: &DynamicImage) -> Result<(Vec<u8>, &'static str), ImageError> {
    let mut out = Vec::new();
    if has_transparency(img) {
        DynamicImage::ImageRgba8(img.to_rgba8())
            .write_to(Cursor::new(&mut out), ImageFormat::Png)
            .map_err(|e| ImageError::Corrupt(e.to_string()))?;
        Ok((out, "image/png"))
    } else {
        DynamicImage::ImageRgb8(img.to_rgb8())
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
            .map_err(|e| ImageError::Corrupt(e.to_string()))?;
        Ok((out, "image/jpeg"))
    }
}

fn thumbnail(img: &DynamicImage, edge: u32) -> Result<Thumbnail, ImageError> {
    let edge = edge.max(1);
    // Never enlarged: a small image is its own preview.
    let small = if img.width() <= edge && img.height() <= edge {
        img.clone()
    } else {
        img.thumbnail(edge, edge)
    };
    let (bytes, mime) = encode(&small)?;
    Ok(Thumbnail { bytes, mime, width: small.width(), height: small.height() })
}

/// Check, decode and preview a photo; when `strip_location` is set and the file carries
/// metadata, write to `dst` a copy without it (see `strip_metadata`).
pub fn process_photo(
    src: &Path,
    dst: &Path,
    strip_location: bool,
    thumb_edge: u32,
    limits: &ImageLimits,
) -> Result<Photo, ImageError> {
    let (header, img) = decode(src, limits)?;
    let thumbnail = thumbnail(&img, thumb_edge)?;
    let mut rewritten = false;
    if strip_location {
        let original = Bytes::from(std::fs::read(src)?);
        if let Some(clean) = strip_metadata(&original, header.format, header.orientation)? {
            std::fs::write(dst, &clean)?;
            rewritten = true;
        }
    }
    Ok(Photo {
        width: img.width(),
        height: img.height(),
        mime: mime_of(header.format),
        thumbnail,
        rewritten,
    })
}

/// Centre-crop to a square, shrink to at most `edge` × `edge` (never enlarged), re-encode
/// without metadata.
pub fn make_avatar(src: &Path, edge: u32, limits: &ImageLimits) -> Result<Avatar, ImageError> {
    let (_, img) = decode(src, limits)?;
    let side = img.width().min(img.height());
    let square = img.crop_imm((img.width() - side) / 2, (img.height() - side) / 2, side, side);
    let target = side.min(edge.max(1));
    let resized = if target == side {
        square
    } else {
        square.resize_exact(target, target, FilterType::CatmullRom)
    };
    let (bytes, mime) = encode(&resized)?;
    Ok(Avatar { bytes, mime, edge: target })
}

/// A big-endian TIFF block holding one IFD with one entry: the orientation.
fn orientation_only_exif(orientation: Orientation) -> PartBytes {
    let value = orientation.to_exif();
    let mut exif = Vec::with_capacity(26);
    exif.extend_from_slice(b"MM\0\x2A\0\0\0\x08"); // byte order, magic, IFD0 at offset 8
    exif.extend_from_slice(&[0, 1]); // one entry
    exif.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, value, 0, 0]); // Orientation, SHORT
    exif.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    PartBytes::from(exif)
}

/// The EXIF to keep: nothing, or the orientation alone so the photo still shows upright.
fn kept_exif(orientation: Orientation) -> Option<PartBytes> {
    (orientation != Orientation::NoTransforms).then(|| orientation_only_exif(orientation))
}

/// Where the primary JPEG image ends (just after its EOI marker). Anything after it (the
/// extra images of a multi-picture file, a phone's embedded video) carries its own metadata.
fn jpeg_primary_end(data: &[u8]) -> Option<usize> {
    let mut i = 2; // after SOI
    while i + 1 < data.len() {
        if data[i] != 0xFF {
            i += 1; // entropy-coded data
            continue;
        }
        match data[i + 1] {
            0xFF => i += 1,                      // fill byte
            0x00 | 0x01 | 0xD0..=0xD8 => i += 2, // stuffed byte, TEM, RSTn, SOI
            0xD9 => return Some(i + 2),          // EOI
            _ => {
                let len = usize::from(u16::from_be_bytes([*data.get(i + 2)?, *data.get(i + 3)?]));
                if len < 2 {
                    return None;
                }
                i += 2 + len;
            }
        }
    }
    None
}

/// Segments kept in a JPEG: everything but metadata, plus the colour profile (ICC), the
/// JFIF header and Adobe's colour-transform flag, which change how it looks. Dropped: EXIF
/// and XMP (GPS), IPTC (place names), maker and multi-picture segments, comments.
fn keep_jpeg_segment(marker: u8, contents: &[u8]) -> bool {
    match marker {
        markers::APP0 => true,
        markers::APP2 => contents.starts_with(b"ICC_PROFILE\0"),
        markers::APP14 => contents.starts_with(b"Adobe"),
        markers::APP1..=markers::APP15 | markers::COM => false,
        _ => true,
    }
}

/// PNG chunks that hold metadata: EXIF, and text chunks (XMP lives in `iTXt`, and tools
/// store raw EXIF in `zTXt`).
const PNG_METADATA_CHUNKS: [[u8; 4]; 4] = [*b"eXIf", *b"tEXt", *b"zTXt", *b"iTXt"];

/// The XMP bit of a WebP's extended header. img-parts updates the ICC and EXIF bits when
/// chunks change, not this one; left set without its chunk, decoders refuse the file.
const WEBP_XMP_FLAG: u8 = 0b0000_0100;

fn clear_webp_xmp_flag(webp: &mut WebP) {
    for chunk in webp.chunks_mut() {
        if chunk.id() != *b"VP8X" {
            continue;
        }
        if let Some(data) = chunk.content().data()
            && data.first().is_some_and(|flags| flags & WEBP_XMP_FLAG != 0)
        {
            let mut data = data.to_vec();
            data[0] &= !WEBP_XMP_FLAG;
            *chunk = RiffChunk::new(*b"VP8X", RiffContent::Data(data.into()));
        }
    }
}

/// A copy of `original` without EXIF/XMP/IPTC and other metadata (so without GPS), keeping
/// only the orientation; the image data is copied byte for byte, not re-encoded. `None` when
/// there is nothing to remove (or the format carries none we handle: GIF).
fn strip_metadata(
    original: &Bytes,
    format: ImageFormat,
    orientation: Orientation,
) -> Result<Option<Bytes>, ImageError> {
    let corrupt = |e: img_parts::Error| ImageError::Corrupt(e.to_string());
    let clean = match format {
        ImageFormat::Jpeg => {
            let end = jpeg_primary_end(original).unwrap_or(original.len());
            let mut jpeg = Jpeg::from_bytes(original.slice(..end)).map_err(corrupt)?;
            jpeg.segments_mut().retain(|s| keep_jpeg_segment(s.marker(), s.contents()));
            jpeg.set_exif(kept_exif(orientation));
            jpeg.encoder().bytes()
        }
        ImageFormat::Png => {
            let mut png = Png::from_bytes(original.clone()).map_err(corrupt)?;
            png.chunks_mut().retain(|c| !PNG_METADATA_CHUNKS.contains(&c.kind()));
            png.set_exif(kept_exif(orientation));
            png.encoder().bytes()
        }
        ImageFormat::WebP => {
            let mut webp = WebP::from_bytes(original.clone()).map_err(corrupt)?;
            webp.remove_chunks_by_id(*b"XMP ");
            // Also rewrites the header's EXIF flag (but not its XMP flag: see below).
            webp.set_exif(kept_exif(orientation));
            clear_webp_xmp_flag(&mut webp);
            webp.encoder().bytes()
        }
        _ => return Ok(None),
    };
    Ok((clean != *original).then_some(clean))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};
    use std::time::{Duration, Instant};

    const LIMITS: ImageLimits = ImageLimits { max_pixels: 50_000_000, max_edge: 20_000 };

    /// A TIFF block: IFD0 with Orientation and a GPS IFD pointer; the GPS IFD with a
    /// latitude reference and latitude.
    fn exif_with_gps(orientation: u8) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend_from_slice(b"MM\0\x2A\0\0\0\x08");
        // IFD0 at 8: 2 entries (2 + 24 bytes) + next IFD (4) = ends at 38.
        e.extend_from_slice(&[0, 2]);
        e.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]);
        e.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]); // GPSInfo -> 38
        e.extend_from_slice(&[0, 0, 0, 0]);
        // GPS IFD at 38: 2 entries (2 + 24) + next (4) = ends at 68; rationals at 68.
        e.extend_from_slice(&[0, 2]);
        e.extend_from_slice(&[0x00, 0x01, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]); // GPSLatitudeRef
        e.extend_from_slice(&[0x00, 0x02, 0, 5, 0, 0, 0, 3, 0, 0, 0, 68]); // GPSLatitude
        e.extend_from_slice(&[0, 0, 0, 0]);
        for (num, den) in [(48u32, 1u32), (51, 1), (2400, 100)] {
            e.extend_from_slice(&num.to_be_bytes());
            e.extend_from_slice(&den.to_be_bytes());
        }
        e
    }

    fn jpeg_bytes(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
            .unwrap();
        out
    }

    fn png_bytes(img: DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// A JPEG photo 40 wide, 20 high as stored, orientation 6 (shown rotated: 20 × 40), with
    /// GPS in EXIF, a location in XMP, a comment, and a trailing second image after EOI.
    fn gps_photo() -> Vec<u8> {
        let mut jpeg = Jpeg::from_bytes(jpeg_bytes(40, 20).into()).unwrap();
        jpeg.set_exif(Some(exif_with_gps(6).into()));
        let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta exif:GPSLatitude=\"48,51.4N\"/>";
        let pos = jpeg.segments().iter().position(|s| s.marker() == markers::DQT).unwrap();
        jpeg.segments_mut().insert(
            pos,
            img_parts::jpeg::JpegSegment::new_with_contents(
                markers::APP1,
                PartBytes::from_static(xmp),
            ),
        );
        jpeg.segments_mut().insert(
            pos,
            img_parts::jpeg::JpegSegment::new_with_contents(
                markers::COM,
                PartBytes::from_static(b"shot at 12 Home Street"),
            ),
        );
        let mut bytes = jpeg.encoder().bytes().to_vec();
        bytes.extend_from_slice(b"\xFF\xD8\xFF\xE1TRAILING-GPS-IMAGE\xFF\xD9");
        bytes
    }

    #[test]
    fn jpeg_location_is_removed_and_orientation_kept() {
        let dir = tempfile::tempdir().unwrap();
        let src = write(&dir, "in", &gps_photo());
        let dst = dir.path().join("out");
        let photo = process_photo(&src, &dst, true, 10, &LIMITS).unwrap();
        assert!(photo.rewritten);
        assert_eq!((photo.width, photo.height), (20, 40), "as displayed");
        assert_eq!(photo.mime, "image/jpeg");
        assert_eq!(dimensions(&src).unwrap(), (20, 40));

        let out = std::fs::read(&dst).unwrap();
        for secret in [&b"GPSLatitude"[..], b"Home Street", b"TRAILING-GPS"] {
            assert!(!contains(&out, secret), "{:?} left", String::from_utf8_lossy(secret));
        }
        let parsed = Jpeg::from_bytes(out.clone().into()).unwrap();
        // One metadata segment is left: an EXIF block with the orientation alone (no GPS IFD).
        let app: Vec<u8> = parsed
            .segments()
            .iter()
            .map(|s| s.marker())
            .filter(|m| (markers::APP1..=markers::APP15).contains(m) || *m == markers::COM)
            .collect();
        assert_eq!(app, [markers::APP1]);
        let exif = parsed.exif().expect("orientation kept");
        assert_eq!(exif, orientation_only_exif(Orientation::Rotate90));
        assert_eq!(Orientation::from_exif_chunk(&exif), Some(Orientation::Rotate90));
        // Still a valid image, shown the same way.
        let again = process_photo(&dst, &dir.path().join("again"), true, 10, &LIMITS).unwrap();
        assert!(!again.rewritten, "nothing left to remove");
        assert_eq!((again.width, again.height), (20, 40));

        // The thumbnail fits in 10 × 10, upright.
        assert_eq!((photo.thumbnail.width, photo.thumbnail.height), (5, 10));
        assert_eq!(photo.thumbnail.mime, "image/jpeg");
        let thumb = image::load_from_memory(&photo.thumbnail.bytes).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (5, 10));
        assert!(!contains(&photo.thumbnail.bytes, b"Exif\0\0"));
    }

    #[test]
    fn nothing_is_rewritten_without_metadata_or_when_not_asked() {
        let dir = tempfile::tempdir().unwrap();
        let clean = write(&dir, "clean", &jpeg_bytes(30, 30));
        let dst = dir.path().join("out");
        assert!(!process_photo(&clean, &dst, true, 8, &LIMITS).unwrap().rewritten);
        assert!(!dst.exists());
        let gps = write(&dir, "gps", &gps_photo());
        let photo = process_photo(&gps, &dst, false, 8, &LIMITS).unwrap();
        assert!(!photo.rewritten);
        assert!(!dst.exists());
        assert_eq!((photo.width, photo.height), (20, 40));
    }

    #[test]
    fn png_and_webp_metadata_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(16, 8, Rgb([1, 2, 3])));
        let mut png = Png::from_bytes(png_bytes(img.clone()).into()).unwrap();
        png.set_exif(Some(exif_with_gps(1).into()));
        let text = img_parts::png::PngChunk::new(
            *b"iTXt",
            PartBytes::from_static(b"XML:com.adobe.xmp\0\0\0\0\0GPSLatitude"),
        );
        png.chunks_mut().insert(1, text);
        let src = write(&dir, "png", &png.encoder().bytes());
        let dst = dir.path().join("png.out");
        let photo = process_photo(&src, &dst, true, 64, &LIMITS).unwrap();
        assert!(photo.rewritten);
        assert_eq!(photo.mime, "image/png");
        let out = std::fs::read(&dst).unwrap();
        assert!(!contains(&out, b"GPSLatitude"));
        // Orientation 1 needs no EXIF at all.
        let parsed = Png::from_bytes(out.into()).unwrap();
        assert!(parsed.exif().is_none());
        assert!(parsed.chunks().iter().all(|c| !PNG_METADATA_CHUNKS.contains(&c.kind())));

        let mut webp_bytes = Vec::new();
        img.write_to(Cursor::new(&mut webp_bytes), ImageFormat::WebP).unwrap();
        let mut webp = WebP::from_bytes(webp_bytes.into()).unwrap();
        let xmp = PartBytes::from_static(b"<x:xmpmeta exif:GPSLatitude=\"1\"/>");
        let xmp = RiffChunk::new(*b"XMP ", RiffContent::Data(xmp));
        webp.chunks_mut().push(xmp);
        webp.set_exif(Some(exif_with_gps(3).into()));
        let src = write(&dir, "webp", &webp.encoder().bytes());
        let dst = dir.path().join("webp.out");
        let photo = process_photo(&src, &dst, true, 64, &LIMITS).unwrap();
        assert!(photo.rewritten);
        assert_eq!(photo.mime, "image/webp");
        let out = WebP::from_bytes(std::fs::read(&dst).unwrap().into()).unwrap();
        assert_eq!(out.exif().unwrap(), orientation_only_exif(Orientation::Rotate180));
        assert!(!out.has_chunk(*b"XMP "));
        let decoded = ImageReader::open(&dst).unwrap().with_guessed_format().unwrap().decode();
        assert_eq!(decoded.unwrap().width(), 16);
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = u32::MAX;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        chunk.extend_from_slice(&body);
        chunk.extend_from_slice(&crc32(&body).to_be_bytes());
        chunk
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA: 40 GB decoded
        let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
        bomb.extend(png_chunk(b"IHDR", &ihdr));
        bomb.extend(png_chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
        bomb.extend(png_chunk(b"IEND", &[]));
        let dir = tempfile::tempdir().unwrap();
        let src = write(&dir, "bomb", &bomb);
        assert_eq!(dimensions(&src).unwrap(), (100_000, 100_000));

        let started = Instant::now();
        let err = process_photo(&src, &dir.path().join("out"), true, 64, &LIMITS).unwrap_err();
        assert!(matches!(err, ImageError::TooLarge { width: 100_000, height: 100_000 }), "{err:?}");
        let err = make_avatar(&src, 64, &LIMITS).unwrap_err();
        assert!(matches!(err, ImageError::TooLarge { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));

        // Too many pixels though each edge is allowed.
        let small = ImageLimits { max_pixels: 100, max_edge: 1000 };
        let src = write(&dir, "wide", &jpeg_bytes(20, 20));
        let err = process_photo(&src, &dir.path().join("o"), false, 8, &small).unwrap_err();
        assert!(matches!(err, ImageError::TooLarge { width: 20, height: 20 }), "{err:?}");
    }

    #[test]
    fn thumbnails_fit_and_keep_transparency() {
        let dir = tempfile::tempdir().unwrap();
        let clear = RgbaImage::from_fn(300, 100, |x, _| Rgba([9, 9, 9, (x % 256) as u8]));
        let src = write(&dir, "alpha", &png_bytes(DynamicImage::ImageRgba8(clear)));
        let photo = process_photo(&src, &dir.path().join("o"), true, 64, &LIMITS).unwrap();
        let thumb = &photo.thumbnail;
        assert_eq!(thumb.mime, "image/png");
        assert!(thumb.width <= 64 && thumb.height <= 64);
        assert_eq!(thumb.width, 64);
        let decoded = image::load_from_memory(&thumb.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (thumb.width, thumb.height));

        // An opaque image with an alpha channel still gets a JPEG; a small one is not enlarged.
        let opaque = RgbaImage::from_pixel(20, 10, Rgba([1, 2, 3, 255]));
        let src = write(&dir, "opaque", &png_bytes(DynamicImage::ImageRgba8(opaque)));
        let photo = process_photo(&src, &dir.path().join("o2"), true, 64, &LIMITS).unwrap();
        assert_eq!(photo.thumbnail.mime, "image/jpeg");
        assert_eq!((photo.thumbnail.width, photo.thumbnail.height), (20, 10));
    }

    #[test]
    fn avatars_are_square_and_carry_no_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let src = write(&dir, "gps", &gps_photo());
        let avatar = make_avatar(&src, 16, &LIMITS).unwrap();
        assert_eq!(avatar.edge, 16);
        assert_eq!(avatar.mime, "image/jpeg");
        let decoded = image::load_from_memory(&avatar.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (16, 16));
        let parsed = Jpeg::from_bytes(avatar.bytes.clone().into()).unwrap();
        assert!(parsed.exif().is_none());
        assert!(
            parsed
                .segments()
                .iter()
                .all(|s| !(markers::APP1..=markers::APP15).contains(&s.marker()))
        );

        let wide = write(&dir, "wide", &png_bytes(DynamicImage::ImageRgb8(RgbImage::new(50, 30))));
        let avatar = make_avatar(&wide, 512, &LIMITS).unwrap();
        assert_eq!(avatar.edge, 30, "cropped to the short side, not enlarged");
        let decoded = image::load_from_memory(&avatar.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (30, 30));
    }

    #[test]
    fn garbage_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o");
        for (name, bytes) in [
            ("text", b"just some text, not an image".to_vec()),
            ("empty", Vec::new()),
            ("png-head", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRgarbage-garbage".to_vec()),
            ("jpeg-head", b"\xFF\xD8\xFF\xDB\0\x43garbage".to_vec()),
        ] {
            let src = write(&dir, name, &bytes);
            let err = process_photo(&src, &out, true, 8, &LIMITS).unwrap_err();
            assert!(matches!(err, ImageError::Corrupt(_)), "{name}: {err:?}");
            let err = make_avatar(&src, 8, &LIMITS).unwrap_err();
            assert!(matches!(err, ImageError::Corrupt(_)), "{name}: {err:?}");
        }
        let missing = process_photo(&dir.path().join("nope"), &out, true, 8, &LIMITS);
        assert!(matches!(missing, Err(ImageError::Io(_))));
    }

    #[test]
    fn jpeg_primary_end_skips_segments_and_entropy() {
        let jpeg = jpeg_bytes(8, 8);
        assert_eq!(jpeg_primary_end(&jpeg), Some(jpeg.len()));
        let mut extra = jpeg.clone();
        extra.extend_from_slice(b"\xFF\xD8more\xFF\xD9");
        assert_eq!(jpeg_primary_end(&extra), Some(jpeg.len()));
        assert_eq!(jpeg_primary_end(&jpeg[..jpeg.len() - 2]), None);
    }
}
