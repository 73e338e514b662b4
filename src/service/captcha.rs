//! Captcha challenges: PNG images drawn off the async workers, answers kept single-use in the
//! cache (Redis in scale-out) with a TTL, issuing rate-limited per client IP.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use rand::Rng;
use serde::Serialize;

use crate::error::{AppError, ErrorCode, Result};
use crate::state::Core;

/// What `/auth/captcha` returns.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaptchaChallenge {
    /// Pass back as `captcha_id`.
    pub id: String,
    /// The effective type: `digit` or `string`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `data:image/png;base64,…`
    pub data: String,
}

/// Kinds of captcha we can draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptchaKind {
    /// Five digits.
    Digit,
    /// Five letters and digits, compared case-insensitively.
    String,
}

impl CaptchaKind {
    /// Parse the `type` parameter; absent means `digit`, as in the original.
    pub fn parse(kind: Option<&str>) -> Result<Self> {
        match kind.map(str::trim).unwrap_or("") {
            "" | "digit" => Ok(Self::Digit),
            "string" => Ok(Self::String),
            other => Err(AppError::with_message(
                ErrorCode::InvalidCaptchaType,
                format!("captcha type {other:?} is not supported; use digit or string"),
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Digit => "digit",
            Self::String => "string",
        }
    }
}

const ID_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn cache_key(id: &str) -> String {
    format!("captcha:{id}")
}

/// Answers compare case-insensitively and ignore surrounding spaces.
fn normalize(answer: &str) -> String {
    answer.trim().to_lowercase()
}

fn draw(kind: CaptchaKind) -> Option<(String, Vec<u8>)> {
    let mut captcha = captcha::Captcha::new();
    if kind == CaptchaKind::Digit {
        let digits: Vec<char> =
            captcha.supported_chars().into_iter().filter(char::is_ascii_digit).collect();
        captcha.set_chars(&digits);
    } else {
        // Letters that look alike in the font are left out.
        let chars: Vec<char> = captcha
            .supported_chars()
            .into_iter()
            .filter(|c| c.is_ascii_alphanumeric() && !"0OoIl1".contains(*c))
            .collect();
        captcha.set_chars(&chars);
    }
    captcha
        .add_chars(5)
        .apply_filter(captcha::filters::Noise::new(0.2))
        .apply_filter(captcha::filters::Wave::new(2.0, 8.0))
        .view(220, 80)
        .apply_filter(captcha::filters::Dots::new(8));
    captcha.as_tuple()
}

/// Issue a challenge for `kind`; the answer is stored for `auth.captcha_ttl_secs`.
pub async fn issue(
    state: &Core,
    kind: Option<&str>,
    ip: Option<IpAddr>,
) -> Result<CaptchaChallenge> {
    let kind = CaptchaKind::parse(kind)?;
    if let Some(ip) = ip {
        let issued =
            state.cache.incr(&format!("captcha_rate:{ip}"), Duration::from_secs(60)).await?;
        if issued > i64::from(state.config.auth.captcha_per_ip_per_minute) {
            return Err(AppError::with_message(
                ErrorCode::RateLimited,
                "too many captchas requested, wait a minute",
            ));
        }
    }
    let (answer, png) = tokio::task::spawn_blocking(move || draw(kind))
        .await
        .context("captcha task")?
        .context("captcha drawing failed")?;
    let id: String = {
        let mut rng = rand::rng();
        (0..20).map(|_| ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())] as char).collect()
    };
    let ttl = Duration::from_secs(state.config.auth.captcha_ttl_secs);
    state.cache.set(&cache_key(&id), &normalize(&answer), ttl).await?;
    let data =
        format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png));
    Ok(CaptchaChallenge { id, kind: kind.as_str().into(), data })
}

/// Check `answer` for captcha `id`. The stored answer is consumed whatever the outcome.
pub async fn verify(state: &Core, id: Option<&str>, answer: Option<&str>) -> Result<()> {
    let id = id.map(str::trim).filter(|s| !s.is_empty());
    let answer = answer.map(str::trim).filter(|s| !s.is_empty());
    let Some(id) = id else { return Err(AppError::code(ErrorCode::CaptchaIdEmpty)) };
    let stored = state.cache.take(&cache_key(id)).await?;
    let Some(answer) = answer else { return Err(AppError::code(ErrorCode::CaptchaEmpty)) };
    match stored {
        Some(expected) if expected == normalize(answer) => Ok(()),
        _ => Err(AppError::code(ErrorCode::CaptchaInvalid)),
    }
}
