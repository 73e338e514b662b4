//! `jim config check` and `jim config show`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::{self, ConfigSources};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration; exits 1 and names each bad or unknown key and where its
    /// value came from.
    Check,
    /// Print the effective configuration as TOML (passwords and the secret redacted).
    Show,
}

pub fn run(cmd: ConfigCommand, sources: &ConfigSources) -> anyhow::Result<ExitCode> {
    let loaded = match config::load(sources) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    match cmd {
        ConfigCommand::Check => {
            let issues = loaded.validate();
            for issue in &issues {
                eprintln!("error: {issue}");
            }
            for unknown in &loaded.unknown {
                eprintln!("error: {unknown}");
            }
            for warning in loaded.warnings() {
                eprintln!("warning: {warning}");
            }
            println!("sources: {}", loaded.sources.join(" < "));
            println!("profile: {}", loaded.config.profile_name());
            if issues.is_empty() && loaded.unknown.is_empty() {
                println!("config OK");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("config has {} problem(s)", issues.len() + loaded.unknown.len());
                Ok(ExitCode::from(1))
            }
        }
        ConfigCommand::Show => {
            println!("# sources: {}", loaded.sources.join(" < "));
            print!("{}", config::render_redacted(&loaded.config));
            Ok(ExitCode::SUCCESS)
        }
    }
}
