//! Outbound mail: the SMTP transport `[mail]` describes (lettre over rustls), and the sender
//! task every instance runs, which claims due mail from the durable outbox, sends it, and
//! records the outcome with retries and backoff.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use slog::{Logger, info, warn};
use tokio::sync::Notify;

use crate::config::MailConfig;
use crate::db::Db;
use crate::db::mail::MailRow;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (`smtps://`, usually port 465).
    ImplicitTls,
    /// STARTTLS, required (`smtp://`, usually port 587).
    StartTls,
    /// No TLS (`smtp://…?tls=none`): a relay on the same machine or network only.
    Plain,
}

/// One mail ready to go.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The Message-ID, `<…>` included; `None` lets lettre make one.
    pub message_id: Option<String>,
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// The server refused it for good (a 5xx answer): retrying cannot help.
    pub permanent: bool,
    pub message: String,
}

/// An SMTP client for `[mail]`: a new connection per mail (mail is rare; no pooled
/// connection can go stale during an outage).
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port (security)`, for messages.
    pub describe: String,
}

impl Mailer {
    /// The mailer `[mail]` describes; `Ok(None)` when `smtp_url` is empty (mail is off).
    pub fn from_config(config: &MailConfig) -> anyhow::Result<Option<Mailer>> {
        let raw = config.smtp_url.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let url = url::Url::parse(raw).map_err(|e| anyhow::anyhow!("mail.smtp_url: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("mail.smtp_url has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.to_string());
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtps", _) => Security::ImplicitTls,
            ("smtp", Some("none")) => Security::Plain,
            ("smtp", None | Some("required")) => Security::StartTls,
            _ => anyhow::bail!("mail.smtp_url must be smtps://… or smtp://…[?tls=none]"),
        };
        let port = url.port().unwrap_or(match security {
            Security::ImplicitTls => 465,
            Security::StartTls => 587,
            Security::Plain => 25,
        });
        let mut tls_params = TlsParameters::builder(host.clone());
        let ca_file = config.smtp_ca_file.trim();
        if !ca_file.is_empty() {
            let pem = std::fs::read(ca_file)
                .map_err(|e| anyhow::anyhow!("mail.smtp_ca_file {ca_file}: {e}"))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("mail.smtp_ca_file {ca_file}: {e}"))?;
            tls_params = tls_params.add_root_certificate(cert);
        }
        let tls_params =
            tls_params.build_rustls().map_err(|e| anyhow::anyhow!("mail TLS settings: {e}"))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .timeout(Some(Duration::from_secs(config.smtp_timeout_secs)))
            .tls(match security {
                Security::ImplicitTls => Tls::Wrapper(tls_params),
                Security::StartTls => Tls::Required(tls_params),
                Security::Plain => Tls::None,
            });
        if !url.username().is_empty() {
            let decode = |s: &str| {
                percent_encoding_decode(s)
                    .ok_or_else(|| anyhow::anyhow!("mail.smtp_url: user or password not UTF-8"))
            };
            builder = builder.credentials(Credentials::new(
                decode(url.username())?,
                decode(url.password().unwrap_or_default())?,
            ));
        }
        let from: Mailbox = config
            .from
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("mail.from {:?}: {e}", config.from))?;
        let describe = format!(
            "{host}:{port} ({})",
            match security {
                Security::ImplicitTls => "implicit TLS",
                Security::StartTls => "STARTTLS",
                Security::Plain => "no TLS",
            }
        );
        Ok(Some(Mailer { transport: builder.build(), from, describe }))
    }

    /// The sender address.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Send one mail (text and HTML alternatives); the server's answer on success.
    pub async fn send(&self, mail: &Outgoing) -> Result<String, SendError> {
        let to: Mailbox = mail.to.parse().map_err(|e| SendError {
            permanent: true,
            message: format!("invalid recipient: {e}"),
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(mail.message_id.clone())
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|e| SendError { permanent: true, message: format!("cannot build: {e}") })?;
        match self.transport.send(message).await {
            Ok(response) => Ok(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) => Err(SendError { permanent: e.is_permanent(), message: e.to_string() }),
        }
    }
}

/// Percent-decoding of a URL's user or password (`%40` for `@` in a password).
fn percent_encoding_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Mails claimed per look at the outbox.
const BATCH: i64 = 20;

/// The background sender: wakes when this instance queues mail (`wake`) or every
/// `mail.poll_interval_ms`, claims due mail under a lease longer than an SMTP conversation
/// may take (so no other instance takes it while it is being sent), sends it, and records
/// the outcome: sent (bodies cleared), retried after a doubling delay, or given up.
///
/// A mail is sent once: a claim is one conditional update, and a row is released only by its
/// holder. Only an instance that dies between the server's "250" and the database write can
/// leave a mail to be sent again once its lease runs out.
pub async fn run_sender(
    db: Db,
    mailer: Arc<Mailer>,
    config: MailConfig,
    instance: String,
    wake: Arc<Notify>,
    log: Logger,
) {
    let poll = Duration::from_millis(config.poll_interval_ms);
    let lease_ms = (config.smtp_timeout_secs as i64).saturating_mul(3000).max(60_000);
    loop {
        loop {
            let now = crate::db::now_ms();
            let batch = match db.mail_claim_due(instance.clone(), now, now + lease_ms, BATCH).await
            {
                Ok(batch) => batch,
                Err(e) => {
                    warn!(log, "cannot read the mail outbox"; "error" => e.to_string());
                    break;
                }
            };
            if batch.is_empty() {
                break;
            }
            for mail in batch {
                deliver(&db, &mailer, &config, &instance, mail, &log).await;
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// Send one claimed mail and record what happened.
async fn deliver(
    db: &Db,
    mailer: &Mailer,
    config: &MailConfig,
    instance: &str,
    mail: MailRow,
    log: &Logger,
) {
    let outgoing = Outgoing {
        to: mail.recipient.clone(),
        subject: mail.subject.clone(),
        text: mail.body_text.clone(),
        html: mail.body_html.clone(),
        message_id: Some(message_id(mail.id, mailer.from())),
    };
    let attempt = mail.attempts + 1;
    let recorded = match mailer.send(&outgoing).await {
        Ok(_) => {
            info!(log, "mail sent"; "mail_id" => mail.id, "kind" => &mail.kind, "attempt" => attempt);
            db.mail_mark_sent(mail.id, instance.to_string(), crate::db::now_ms()).await
        }
        Err(e) => {
            let give_up = e.permanent || attempt >= config.max_attempts as i32;
            let delay = backoff(config, mail.attempts);
            if give_up {
                warn!(log, "mail given up"; "mail_id" => mail.id, "kind" => &mail.kind,
                    "attempt" => attempt, "permanent" => e.permanent, "error" => &e.message);
            } else {
                warn!(log, "mail not sent, will retry"; "mail_id" => mail.id,
                    "kind" => &mail.kind, "attempt" => attempt, "retry_in_ms" => delay,
                    "error" => &e.message);
            }
            db.mail_mark_failed(
                mail.id,
                instance.to_string(),
                crate::db::now_ms() + delay,
                give_up,
                e.message,
            )
            .await
        }
    };
    if let Err(e) = recorded {
        warn!(log, "cannot record a mail's outcome"; "mail_id" => mail.id, "error" => e.to_string());
    }
}

/// The wait before the next attempt after `failures` failed ones: the initial delay doubled
/// per failure, capped.
pub fn backoff(config: &MailConfig, failures: i32) -> i64 {
    let factor = 1u64 << failures.clamp(0, 30);
    config.retry_initial_ms.saturating_mul(factor).min(config.retry_max_ms) as i64
}

/// A Message-ID naming the outbox row: a mail sent again (see [`run_sender`]) carries the
/// same id, so receivers and tests can tell.
pub fn message_id(mail_id: i64, from: &Mailbox) -> String {
    format!("<jim-mail-{mail_id}@{}>", from.email.domain())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = MailConfig { retry_initial_ms: 100, retry_max_ms: 1000, ..Default::default() };
        assert_eq!(
            (0..6).map(|n| backoff(&config, n)).collect::<Vec<_>>(),
            [100, 200, 400, 800, 1000, 1000]
        );
        assert_eq!(backoff(&config, 1000), 1000);
    }

    #[test]
    fn passwords_in_the_url_are_percent_decoded() {
        assert_eq!(percent_encoding_decode("p%40ss%3Aword").as_deref(), Some("p@ss:word"));
        assert_eq!(percent_encoding_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_encoding_decode("bad%zz"), None);
    }
}
