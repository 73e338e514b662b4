//! `jim world mute|unmute|status`: the admin switch of the world channel, honoured by every
//! running server on its next world send (it is read from the database each time).

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::LoadedConfig;
use crate::service::chat;

#[derive(Debug, Subcommand)]
pub enum WorldCommand {
    /// Make the world channel read-only for everyone.
    Mute,
    /// Let users write to the world channel again.
    Unmute,
    /// Show whether the world channel is enabled and muted.
    Status,
}

pub async fn run(cmd: WorldCommand, loaded: LoadedConfig) -> anyhow::Result<ExitCode> {
    let state = crate::app::cli_state(loaded.config).await?;
    match cmd {
        WorldCommand::Mute => {
            chat::set_world_muted(&state, true).await?;
            println!("world channel muted");
        }
        WorldCommand::Unmute => {
            chat::set_world_muted(&state, false).await?;
            if state.config.chat.world_muted {
                println!(
                    "admin mute lifted, but chat.world_muted = true in the config keeps it muted"
                );
            } else {
                println!("world channel unmuted");
            }
        }
        WorldCommand::Status => {
            let chat_config = &state.config.chat;
            println!("enabled: {}", chat_config.world_enabled);
            println!("world ids: {:?}", chat_config.world_ids);
            println!("muted: {}", chat::world_muted(&state).await?);
            println!("slow mode: {} s", chat_config.world_slow_mode_secs);
        }
    }
    Ok(ExitCode::SUCCESS)
}
