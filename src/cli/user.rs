//! `jim user …`: list, show, create, disable, enable, delete, reset-password, export, purge —
//! through the same services as the API. Passwords are read from stdin or prompted, never from
//! argv.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::ListPage;
use crate::config::LoadedConfig;
use crate::db::user::UserRow;
use crate::domain::UserStatus;
use crate::service::user::{self, Actor};
use crate::service::user_data;
use crate::state::Core;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users in id order.
    List(ListPage),
    /// Show one user by id or username.
    Show {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Create a user. The password is read from stdin (one line) or prompted on a terminal.
    Create {
        username: String,
        #[arg(long)]
        nickname: Option<String>,
    },
    /// Disable a user: they cannot log in, their sessions end and open sockets close.
    Disable(Target),
    /// Enable a disabled user.
    Enable(Target),
    /// Delete a user (soft delete: the account is kept as deleted so history stays
    /// consistent); their sessions end and open sockets close.
    Delete(Target),
    /// Set a new password (from stdin or prompted); every session of the user ends.
    ResetPassword(Target),
    /// Bind an email address to a user as verified (no code is mailed); "" removes it.
    SetEmail {
        /// User id or username.
        user: String,
        address: String,
    },
    /// Write a person's data to a new or empty directory: profile, friends, groups,
    /// invitations and the messages they sent as JSON, and the files they uploaded.
    Export {
        /// User id or username.
        user: String,
        /// Directory to write into (created; must be empty if it exists).
        dest: std::path::PathBuf,
    },
    /// Remove a person's personal data for good: profile, sessions (sockets close), avatar,
    /// remarks and notes, and the uploads nobody else refers to. Their messages become
    /// tombstones; conversation numbering is untouched. Cannot be undone.
    Purge(Target),
}

#[derive(Debug, Args)]
pub struct Target {
    /// User id or username.
    pub user: String,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

fn describe(u: &UserRow) -> serde_json::Value {
    json!({
        "id": u.id, "username": u.username, "nickname": u.nickname, "avatar": u.avatar,
        "birth_date": u.birth_date, "online_status": u.online_status,
        "status": user::status_name(u.status), "created_at": u.created_at,
        "email": u.email, "email_verified": u.email_verified,
    })
}

fn read_password(confirm: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = rpassword::prompt_password("password: ")?;
        if confirm {
            let second = rpassword::prompt_password("again: ")?;
            anyhow::ensure!(first == second, "the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

pub async fn run(cmd: UserCommand, loaded: LoadedConfig) -> anyhow::Result<ExitCode> {
    let state = crate::app::cli_state(loaded.config).await?;
    match cmd {
        UserCommand::List(ListPage { json, after, limit }) => {
            let users = user::list(&state, after, limit).await?;
            if json {
                for u in &users {
                    println!("{}", describe(u));
                }
            } else {
                println!("{:>8}  {:<32}  {:<24}  STATUS", "ID", "USERNAME", "NICKNAME");
                for u in &users {
                    println!(
                        "{:>8}  {:<32}  {:<24}  {}",
                        u.id,
                        u.username,
                        u.nickname,
                        user::status_name(u.status)
                    );
                }
            }
        }
        UserCommand::Show { user: who, json } => {
            let u = user::find(&state, &who).await?;
            if json {
                println!("{}", describe(&u));
            } else {
                for (k, v) in describe(&u).as_object().into_iter().flatten() {
                    println!(
                        "{k:>14}: {}",
                        v.as_str().map(str::to_string).unwrap_or(v.to_string())
                    );
                }
            }
        }
        UserCommand::Create { username, nickname } => {
            let password = read_password(true)?;
            let created = user::create(&state, &username, &password, nickname.as_deref()).await?;
            println!("created user {} ({})", created.id, created.username);
        }
        UserCommand::Disable(t) => {
            change_status(&state, &t, UserStatus::Disabled, "disable").await?
        }
        UserCommand::Enable(t) => change_status(&state, &t, UserStatus::Active, "enable").await?,
        UserCommand::Delete(t) => change_status(&state, &t, UserStatus::Deleted, "delete").await?,
        UserCommand::ResetPassword(t) => {
            let u = user::find(&state, &t.user).await?;
            if !super::confirmed(
                t.yes,
                &format!("reset the password of user {} ({})", u.id, u.username),
            )? {
                println!("cancelled");
                return Ok(ExitCode::from(1));
            }
            let password = read_password(true)?;
            user::reset_password(&state, u.id, &password, Actor::Cli).await?;
            println!("password of user {} ({}) reset; their sessions ended", u.id, u.username);
        }
        UserCommand::SetEmail { user: who, address } => {
            let u = user::find(&state, &who).await?;
            match crate::service::email::admin_set(&state, u.id, &address).await? {
                Some(email) => {
                    println!("user {} ({}) now has the verified address {email}", u.id, u.username)
                }
                None => println!("user {} ({}) has no email address now", u.id, u.username),
            }
        }
        UserCommand::Export { user: who, dest } => {
            let r = user_data::export(&state, &who, &dest).await?;
            println!(
                "exported to {}: {} friend(s), {} group(s), {} message(s), {} file(s) ({} bytes)",
                r.dir.display(),
                r.friends,
                r.groups,
                r.messages,
                r.media_files,
                r.media_bytes
            );
        }
        UserCommand::Purge(t) => {
            let u = user::find(&state, &t.user).await?;
            if !super::confirmed(
                t.yes,
                &format!("purge user {} ({}) for good (cannot be undone)", u.id, u.username),
            )? {
                println!("cancelled");
                return Ok(ExitCode::from(1));
            }
            let r = user_data::purge(&state, &u.id.to_string(), Actor::Cli).await?;
            println!(
                "user {} purged: {} message(s) erased to tombstones, {} upload(s) deleted, {} \
                 kept (others refer to them), {} left for the clean-up",
                r.user_id, r.messages_erased, r.media_deleted, r.media_kept, r.media_failed
            );
            if r.media_failed > 0 {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn change_status(
    state: &Core,
    t: &Target,
    status: UserStatus,
    verb: &str,
) -> anyhow::Result<()> {
    let u = user::find(state, &t.user).await?;
    if status != UserStatus::Active
        && !super::confirmed(t.yes, &format!("{verb} user {} ({})", u.id, u.username))?
    {
        anyhow::bail!("cancelled");
    }
    user::set_status(state, u.id, status, Actor::Cli).await?;
    println!("user {} ({}) is now {}", u.id, u.username, status.name());
    Ok(())
}
