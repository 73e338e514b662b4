//! What uploaded bytes are (read from their magic numbers, never from the client's name or
//! header), which types may be shown inline, and safe file names.

/// How many leading bytes `sniff` needs to recognise every type it knows.
pub const SNIFF_LEN: usize = 8192;

/// The broad family of a file, as its bytes say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentClass {
    Image,
    Audio,
    Video,
    Other,
}

/// The type read from a file's first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sniffed {
    pub mime: &'static str,
    pub class: ContentClass,
}

/// The type for bytes nobody recognises.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Identify `head` (the file's first `SNIFF_LEN` bytes, or all of it when shorter) by its
/// magic numbers. Unknown bytes are `application/octet-stream`, class `Other`.
pub fn sniff(head: &[u8]) -> Sniffed {
    let Some(kind) = infer::get(head) else {
        return Sniffed { mime: OCTET_STREAM, class: ContentClass::Other };
    };
    let class = match kind.matcher_type() {
        infer::MatcherType::Image => ContentClass::Image,
        infer::MatcherType::Audio => ContentClass::Audio,
        infer::MatcherType::Video => ContentClass::Video,
        _ => ContentClass::Other,
    };
    Sniffed { mime: standard_mime(kind.mime_type()), class }
}

/// The registered name for types the magic-number table spells its own way, so that the
/// `Content-Type` served is one browsers know (`audio/opus` is an Ogg file to them).
fn standard_mime(mime: &'static str) -> &'static str {
    match mime {
        "audio/opus" => "audio/ogg",
        "audio/x-flac" => "audio/flac",
        "audio/x-wav" => "audio/wav",
        "audio/m4a" => "audio/mp4",
        other => other,
    }
}

/// Image types the server decodes (thumbnails, avatars): the only images it shows inline.
pub fn decodable_image(mime: &str) -> bool {
    matches!(mime, "image/jpeg" | "image/png" | "image/gif" | "image/webp")
}

/// Whether a browser may be told to show `mime` inline. Only raster images the server decodes
/// and common audio/video formats: never HTML, SVG, XML, PDF or anything scriptable, which
/// would run with the server's origin.
pub fn inline_safe(mime: &str) -> bool {
    decodable_image(mime)
        || matches!(
            mime,
            "audio/ogg"
                | "audio/opus"
                | "audio/mpeg"
                | "audio/mp4"
                | "audio/m4a"
                | "audio/x-m4a"
                | "audio/aac"
                | "audio/webm"
                | "audio/wav"
                | "audio/x-wav"
                | "audio/flac"
                | "audio/x-flac"
                | "video/mp4"
                | "video/x-m4v"
                | "video/webm"
                | "video/ogg"
        )
}

/// The longest name kept, in bytes (what common file systems allow).
const MAX_NAME_BYTES: usize = 255;
/// An extension longer than this is not treated as one when a long name is cut.
const MAX_EXT_BYTES: usize = 16;

/// Characters that reorder text for display: a name like `photo<U+202E>gpj.exe` would show as
/// `photoexe.jpg`, so they are dropped with the control characters.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A file name safe to store and to offer back in `Content-Disposition`: only the last path
/// component (`/` and `\` both separate), no control or bidi characters, no leading or
/// trailing dots and spaces, at most 255 bytes (cut on a character boundary, keeping the
/// extension when there is a short one), and `file` when nothing is left.
pub fn sanitize_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String =
        last.chars().filter(|c| !c.is_control() && !is_bidi_control(*c)).collect();
    let trimmed = trim_name(&cleaned);
    let name = if trimmed.len() <= MAX_NAME_BYTES {
        trimmed.to_string()
    } else {
        cut_keeping_extension(trimmed)
    };
    if name.is_empty() { "file".to_string() } else { name }
}

fn trim_name(s: &str) -> &str {
    s.trim_matches(|c: char| c == '.' || c.is_whitespace())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn prefix_within(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn cut_keeping_extension(name: &str) -> String {
    if let Some((stem, ext)) = name.rsplit_once('.')
        && !stem.is_empty()
        && !ext.is_empty()
        && ext.len() <= MAX_EXT_BYTES
    {
        let stem = trim_name(prefix_within(stem, MAX_NAME_BYTES - ext.len() - 1));
        if !stem.is_empty() {
            return format!("{stem}.{ext}");
        }
    }
    trim_name(prefix_within(name, MAX_NAME_BYTES)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_magic_numbers() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff(png), Sniffed { mime: "image/png", class: ContentClass::Image });
        let jpeg = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0";
        assert_eq!(sniff(jpeg).mime, "image/jpeg");
        let mut ogg = b"OggS\0\x02".to_vec();
        ogg.resize(28, 0);
        ogg.extend_from_slice(b"OpusHead");
        ogg.resize(64, 0);
        assert_eq!(sniff(&ogg), Sniffed { mime: "audio/ogg", class: ContentClass::Audio });
        let flac = b"fLaC\0\0\0\x22";
        assert_eq!(sniff(flac), Sniffed { mime: "audio/flac", class: ContentClass::Audio });
        let mp4 = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom";
        assert_eq!(sniff(mp4), Sniffed { mime: "video/mp4", class: ContentClass::Video });
        let pdf = b"%PDF-1.7\n";
        assert_eq!(sniff(pdf).class, ContentClass::Other);
        assert!(!inline_safe(sniff(pdf).mime));
        // A name or a text that says "image" does not make bytes an image.
        let fake = b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>";
        assert_ne!(sniff(fake).class, ContentClass::Image);
        assert_eq!(sniff(b"hello").mime, OCTET_STREAM);
        assert_eq!(sniff(b"").class, ContentClass::Other);
    }

    #[test]
    fn only_safe_types_are_inline() {
        for safe in ["image/jpeg", "image/png", "image/gif", "image/webp", "audio/ogg", "video/mp4"]
        {
            assert!(inline_safe(safe), "{safe}");
        }
        for unsafe_type in [
            "text/html",
            "image/svg+xml",
            "text/xml",
            "application/xml",
            "application/pdf",
            "application/javascript",
            "text/javascript",
            "image/tiff",
            OCTET_STREAM,
            "",
        ] {
            assert!(!inline_safe(unsafe_type), "{unsafe_type}");
        }
    }

    #[test]
    fn names_keep_only_the_last_path_component() {
        assert_eq!(sanitize_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_name("C:\\Users\\me\\photo.jpg"), "photo.jpg");
        assert_eq!(sanitize_name("a/b\\c/d.txt"), "d.txt");
        assert_eq!(sanitize_name("dir/"), "file");
        assert_eq!(sanitize_name(".."), "file");
        assert_eq!(sanitize_name("..."), "file");
        assert_eq!(sanitize_name(""), "file");
        assert_eq!(sanitize_name("  .hidden . "), "hidden");
    }

    #[test]
    fn names_lose_control_and_bidi_characters() {
        assert_eq!(sanitize_name("a\0b\r\nc\t.txt"), "abc.txt");
        assert_eq!(sanitize_name("evil\u{202E}gpj.exe"), "evilgpj.exe");
        assert_eq!(sanitize_name("\u{2066}x\u{2069}\u{7F}\u{85}.png"), "x.png");
        assert_eq!(sanitize_name("\u{1}\u{2}"), "file");
    }

    #[test]
    fn long_names_are_cut_to_255_bytes_keeping_the_extension() {
        let name = format!("{}.jpeg", "a".repeat(1000));
        let cut = sanitize_name(&name);
        assert_eq!(cut.len(), 255);
        assert!(cut.ends_with(".jpeg"));

        let no_ext = "b".repeat(1000);
        assert_eq!(sanitize_name(&no_ext).len(), 255);

        // A long "extension" is not kept whole.
        let long_ext = format!("x.{}", "c".repeat(1000));
        assert_eq!(sanitize_name(&long_ext).len(), 255);
    }

    #[test]
    fn unicode_names_are_kept_and_cut_on_character_boundaries() {
        assert_eq!(sanitize_name("фото 2024 🙂.jpg"), "фото 2024 🙂.jpg");
        assert_eq!(sanitize_name("照片/猫.png"), "猫.png");
        // 3-byte characters: 1,000 bytes' worth cannot be cut at byte 250 exactly.
        let name = format!("{}.png", "猫".repeat(334));
        let cut = sanitize_name(&name);
        assert!(cut.len() <= 255, "{}", cut.len());
        assert!(cut.ends_with("猫.png"));
        let emoji = "🙂".repeat(100);
        let cut = sanitize_name(&emoji);
        assert!(cut.len() <= 255 && cut.len() > 250);
        assert!(cut.chars().all(|c| c == '🙂'));
    }
}
