//! `jim mail test ADDRESS`: send a test mail through `[mail]` now and print how the SMTP
//! conversation ended; `jim mail status`: what the outbox holds.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::LoadedConfig;
use crate::service::mail;

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send a test mail to ADDRESS at once (not through the outbox) and print the SMTP
    /// server's answer, or why it failed.
    Test { address: String },
    /// Count the outbox's mails: waiting (or retrying), sent, given up.
    Status,
}

pub async fn run(cmd: MailCommand, loaded: LoadedConfig) -> anyhow::Result<ExitCode> {
    let state = crate::app::cli_state(loaded.config).await?;
    match cmd {
        MailCommand::Test { address } => match mail::send_test(&state, &address).await {
            Ok((server, answer)) => {
                println!(
                    "sent to {} through {server}: the server answered {answer}",
                    address.trim()
                );
            }
            Err(e) => {
                eprintln!("error: test mail not sent: {e:#}");
                return Ok(ExitCode::from(1));
            }
        },
        MailCommand::Status => {
            let tally = mail::outbox_tally(&state).await?;
            println!(
                "waiting: {}\nsent: {}\ngiven up: {}",
                tally.pending, tally.sent, tally.given_up
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
