//! What jim mails and in which words: codes, notices and the admin's test mail, in plain text
//! and HTML, in English or Simplified Chinese after the request's `Accept-Language`; queued in
//! the outbox for the sender (see [`crate::mail`]).

use crate::db::mail::{MAIL_PENDING, NewMail};
use crate::db::now_ms;
use crate::error::{AppError, ErrorCode, Result};
use crate::mail::{Mailer, Outgoing};
use crate::state::Core;

/// The language of a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    /// The language an `Accept-Language` header prefers among English and Chinese (the
    /// first with the highest weight); English when it names neither.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
            let weight = pieces
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse().ok()))
                .unwrap_or(1.0f32);
            let lang = if tag == "zh" || tag.starts_with("zh-") {
                Lang::Zh
            } else if tag == "en" || tag.starts_with("en-") || tag == "*" {
                Lang::En
            } else {
                continue;
            };
            if weight > 0.0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }
}

/// What a mail is about.
#[derive(Debug, Clone)]
pub enum Content<'a> {
    /// The code that binds `email` to the account.
    BindCode { code: &'a str },
    /// The code that verifies the address a new account registered with.
    RegisterCode { code: &'a str },
    /// The code that resets a forgotten password.
    ResetCode { code: &'a str },
    /// To the old address: the account's address is now another one.
    AddressChanged { new_address: &'a str },
    /// To the removed address: the account has no address any more.
    AddressRemoved,
    /// The password was reset with a mailed code.
    PasswordReset,
    /// `jim mail test`.
    Test,
}

impl Content<'_> {
    /// The outbox's `kind` (logged; never the content).
    fn kind(&self) -> &'static str {
        match self {
            Content::BindCode { .. } => "bind_code",
            Content::RegisterCode { .. } => "register_code",
            Content::ResetCode { .. } => "reset_code",
            Content::AddressChanged { .. } => "address_changed",
            Content::AddressRemoved => "address_removed",
            Content::PasswordReset => "password_reset",
            Content::Test => "test",
        }
    }
}

/// Subject, plain text and HTML of a mail to `username`.
pub fn render(
    content: &Content<'_>,
    lang: Lang,
    username: &str,
    server: &str,
    ttl_minutes: u64,
) -> (String, String, String) {
    let (subject, lines): (String, Vec<String>) = match (lang, content) {
        (Lang::En, Content::BindCode { code }) => (
            format!("{code} is your {server} verification code"),
            vec![
                format!("Hello {username},"),
                format!("Enter this code to add this address to your {server} account:"),
                format!("CODE:{code}"),
                format!("It works once, for {ttl_minutes} minutes."),
                "If you did not ask for it, ignore this mail: nothing changes.".into(),
            ],
        ),
        (Lang::Zh, Content::BindCode { code }) => (
            format!("{server} 验证码：{code}"),
            vec![
                format!("{username}，您好："),
                format!("请输入以下验证码，将此邮箱绑定到您的 {server} 账号："),
                format!("CODE:{code}"),
                format!("验证码仅可使用一次，{ttl_minutes} 分钟内有效。"),
                "如果这不是您本人的操作，请忽略本邮件，您的账号不会有任何变化。".into(),
            ],
        ),
        (Lang::En, Content::RegisterCode { code }) => (
            format!("{code} is your {server} verification code"),
            vec![
                format!("Welcome, {username}!"),
                format!("Enter this code to verify your address and start using {server}:"),
                format!("CODE:{code}"),
                format!("It works once, for {ttl_minutes} minutes."),
                "If you did not sign up, ignore this mail.".into(),
            ],
        ),
        (Lang::Zh, Content::RegisterCode { code }) => (
            format!("{server} 验证码：{code}"),
            vec![
                format!("{username}，欢迎！"),
                format!("请输入以下验证码以验证您的邮箱并开始使用 {server}："),
                format!("CODE:{code}"),
                format!("验证码仅可使用一次，{ttl_minutes} 分钟内有效。"),
                "如果您没有注册，请忽略本邮件。".into(),
            ],
        ),
        (Lang::En, Content::ResetCode { code }) => (
            format!("{code} is your {server} password reset code"),
            vec![
                format!("Hello {username},"),
                format!("Someone asked to reset the password of your {server} account. The code:"),
                format!("CODE:{code}"),
                format!("It works once, for {ttl_minutes} minutes."),
                "If it was not you, ignore this mail: your password stays as it is.".into(),
            ],
        ),
        (Lang::Zh, Content::ResetCode { code }) => (
            format!("{server} 重置密码验证码：{code}"),
            vec![
                format!("{username}，您好："),
                format!("有人申请重置您的 {server} 账号密码。验证码："),
                format!("CODE:{code}"),
                format!("验证码仅可使用一次，{ttl_minutes} 分钟内有效。"),
                "如果这不是您本人的操作，请忽略本邮件，您的密码不会改变。".into(),
            ],
        ),
        (Lang::En, Content::AddressChanged { new_address }) => (
            format!("Your {server} email address was changed"),
            vec![
                format!("Hello {username},"),
                format!(
                    "The email address of your {server} account is now {new_address}; this \
                     address no longer receives its mail."
                ),
                "If you did not do this, change your password and contact the administrator."
                    .into(),
            ],
        ),
        (Lang::Zh, Content::AddressChanged { new_address }) => (
            format!("您的 {server} 邮箱已更改"),
            vec![
                format!("{username}，您好："),
                format!(
                    "您的 {server} 账号邮箱已改为 {new_address}，此邮箱将不再收到该账号的邮件。"
                ),
                "如果这不是您本人的操作，请修改密码并联系管理员。".into(),
            ],
        ),
        (Lang::En, Content::AddressRemoved) => (
            format!("Your {server} email address was removed"),
            vec![
                format!("Hello {username},"),
                format!("This address was removed from your {server} account."),
                "If you did not do this, change your password and contact the administrator."
                    .into(),
            ],
        ),
        (Lang::Zh, Content::AddressRemoved) => (
            format!("您的 {server} 邮箱已解绑"),
            vec![
                format!("{username}，您好："),
                format!("此邮箱已从您的 {server} 账号解绑。"),
                "如果这不是您本人的操作，请修改密码并联系管理员。".into(),
            ],
        ),
        (Lang::En, Content::PasswordReset) => (
            format!("Your {server} password was reset"),
            vec![
                format!("Hello {username},"),
                format!(
                    "The password of your {server} account was just reset with a code mailed \
                     here, and every session was signed out."
                ),
                "If you did not do this, reset it again at once and contact the administrator."
                    .into(),
            ],
        ),
        (Lang::Zh, Content::PasswordReset) => (
            format!("您的 {server} 密码已重置"),
            vec![
                format!("{username}，您好："),
                format!(
                    "您的 {server} 账号密码刚刚通过发送到此邮箱的验证码完成重置，所有登录设备均已退出。"
                ),
                "如果这不是您本人的操作，请立即再次重置密码并联系管理员。".into(),
            ],
        ),
        (Lang::En, Content::Test) => (
            format!("{server} test mail"),
            vec![format!("This test mail from {server} arrived: mail works.")],
        ),
        (Lang::Zh, Content::Test) => (
            format!("{server} 测试邮件"),
            vec![format!("这封来自 {server} 的测试邮件已送达：邮件发送正常。")],
        ),
    };
    // A line "CODE:123456" is the code, set apart in both forms.
    let text = lines
        .iter()
        .map(|l| match l.strip_prefix("CODE:") {
            Some(code) => format!("\n    {code}\n"),
            None => l.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let body = lines
        .iter()
        .map(|l| match l.strip_prefix("CODE:") {
            Some(code) => format!(
                "<p style=\"font-size:28px;letter-spacing:6px;font-weight:bold;\
                 font-family:monospace\">{}</p>",
                escape_html(code)
            ),
            None => format!("<p>{}</p>", escape_html(l)),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif;line-height:1.5\">\n{body}\n</body></html>\n",
        if lang == Lang::Zh { "zh-CN" } else { "en" },
        escape_html(&subject)
    );
    (subject, format!("{text}\n"), html)
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Refuse with 503 `MAIL_NOT_CONFIGURED` when `[mail] smtp_url` is empty.
pub fn require_mail(state: &Core) -> Result<()> {
    if state.config.mail.enabled() {
        Ok(())
    } else {
        Err(AppError::code(ErrorCode::MailNotConfigured))
    }
}

/// Queue a mail to `to` (an address already validated) and wake the sender. The API
/// answers at once; the sender delivers it, with retries.
pub async fn enqueue(
    state: &Core,
    to: &str,
    username: &str,
    lang: Lang,
    content: Content<'_>,
) -> Result<()> {
    let ttl_minutes = state.config.mail.code_ttl_secs.div_ceil(60);
    let (subject, text, html) =
        render(&content, lang, username, &state.config.server_name, ttl_minutes);
    let now = now_ms();
    state
        .db
        .mail_enqueue(NewMail {
            kind: content.kind().into(),
            recipient: to.to_string(),
            subject,
            body_text: text,
            body_html: html,
            state: MAIL_PENDING,
            attempts: 0,
            next_attempt_at: now,
            last_error: String::new(),
            created_at: now,
        })
        .await?;
    state.mail_wake.notify_one();
    Ok(())
}

/// `jim mail test ADDRESS`: send a test mail now, without the outbox. Returns where it went
/// and the server's answer; an error says what the SMTP conversation ended with.
pub async fn send_test(state: &Core, to: &str) -> anyhow::Result<(String, String)> {
    let to = crate::service::email::address(to).map_err(|e| anyhow::anyhow!("{e}"))?.0;
    let mailer = Mailer::from_config(&state.config.mail)?
        .ok_or_else(|| anyhow::anyhow!("mail is off: set mail.smtp_url and mail.from"))?;
    let (subject, text, html) = render(&Content::Test, Lang::En, "", &state.config.server_name, 0);
    let answer = mailer
        .send(&Outgoing { to, subject, text, html, message_id: None })
        .await
        .map_err(|e| anyhow::anyhow!("{} refused or failed: {e}", mailer.describe))?;
    Ok((mailer.describe.clone(), answer))
}

/// What the outbox holds, by state.
pub async fn outbox_tally(state: &Core) -> Result<crate::db::mail::OutboxTally> {
    Ok(state.db.mail_tally().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_english_or_chinese() {
        for (header, want) in [
            ("", Lang::En),
            ("zh-CN,zh;q=0.9,en;q=0.8", Lang::Zh),
            ("en-US,en;q=0.9,zh-CN;q=0.8", Lang::En),
            ("fr-FR, zh;q=0.5", Lang::Zh),
            ("de", Lang::En),
            ("en;q=0.2, zh-Hans;q=0.7", Lang::Zh),
            ("zh;q=0", Lang::En),
        ] {
            assert_eq!(Lang::from_accept_language(header), want, "{header:?}");
        }
    }

    #[test]
    fn codes_stand_out_and_html_is_escaped() {
        let (subject, text, html) =
            render(&Content::BindCode { code: "123456" }, Lang::En, "a<b", "jim", 15);
        assert!(subject.contains("123456"));
        assert!(text.contains("\n    123456\n"), "{text}");
        assert!(html.contains("a&lt;b") && !html.contains("a<b"), "{html}");
        let (subject, text, _) =
            render(&Content::ResetCode { code: "654321" }, Lang::Zh, "ann", "jim", 15);
        assert!(subject.contains("重置密码") && text.contains("15 分钟"), "{subject} {text}");
    }
}
