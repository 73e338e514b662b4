//! `jim group …`: list, show, mute, unmute, dissolve — through the same services as the API.
//! Changes are recorded in the database (which every server reads on each check) and as
//! control events, so running servers act on them at once.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::ListPage;
use crate::config::LoadedConfig;
use crate::domain::GroupId;
use crate::service::group::{self, GroupInfo, MemberView};
use crate::service::user;

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List groups in id order (dissolved ones included).
    List(ListPage),
    /// Show one group and its members.
    Show {
        id: GroupId,
        #[arg(long)]
        json: bool,
    },
    /// Mute the whole group (owner and admins still speak), or one member.
    Mute {
        id: GroupId,
        /// Mute only this member (user id or username).
        #[arg(long)]
        member: Option<String>,
        /// End of a member's mute: RFC 3339 (2027-01-31T12:00:00Z), Unix ms, or a duration
        /// from now (90s, 30m, 12h, 7d). Default: until unmuted.
        #[arg(long)]
        until: Option<String>,
    },
    /// Lift the group-wide mute, or one member's mute.
    Unmute {
        id: GroupId,
        /// Unmute only this member (user id or username).
        #[arg(long)]
        member: Option<String>,
    },
    /// Dissolve a group: members are told, nobody can join or write to it any more; its
    /// history stays readable to former members.
    Dissolve {
        id: GroupId,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// Parse `--until`: RFC 3339, Unix milliseconds, or a duration from now (`90s`, `30m`,
/// `12h`, `7d`). Returns Unix ms.
pub fn parse_until(raw: &str, now_ms: i64) -> anyhow::Result<i64> {
    let raw = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(ms);
    }
    let split = raw.char_indices().last().map_or(0, |(i, _)| i);
    let (digits, unit) = raw.split_at(split);
    let n: i64 = digits.parse().map_err(|_| anyhow::anyhow!("cannot read --until {raw:?}"))?;
    let unit_secs: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("cannot read --until {raw:?}: use RFC 3339, Unix ms or 90s/30m/12h/7d"),
    };
    n.checked_mul(unit_secs * 1000)
        .and_then(|ms| now_ms.checked_add(ms))
        .filter(|_| n > 0)
        .ok_or_else(|| anyhow::anyhow!("--until {raw:?} is out of range"))
}

fn describe(g: &GroupInfo) -> serde_json::Value {
    let mut v = serde_json::to_value(g).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("my_role");
        o.remove("my_nickname");
    }
    v
}

pub async fn run(cmd: GroupCommand, loaded: LoadedConfig) -> anyhow::Result<ExitCode> {
    let state = crate::app::cli_state(loaded.config).await?;
    match cmd {
        GroupCommand::List(ListPage { json, after, limit }) => {
            let groups = group::admin_list(&state, after, limit).await?;
            if json {
                for g in &groups {
                    println!("{}", describe(g));
                }
            } else {
                println!(
                    "{:>8}  {:<32}  {:>8}  {:>8}  {:<11}  STATUS",
                    "ID", "NAME", "OWNER", "MEMBERS", "POLICY"
                );
                for g in &groups {
                    println!(
                        "{:>8}  {:<32}  {:>8}  {:>8}  {:<11}  {}",
                        g.group_id, g.name, g.owner_id, g.member_count, g.join_policy, g.status
                    );
                }
            }
        }
        GroupCommand::Show { id, json } => {
            let (g, members) = group::admin_show(&state, id).await?;
            if json {
                let mut v = describe(&g);
                v["members"] = serde_json::to_value(&members)?;
                println!("{v}");
            } else {
                for (k, v) in describe(&g).as_object().into_iter().flatten() {
                    println!(
                        "{k:>14}: {}",
                        v.as_str().map(str::to_string).unwrap_or(v.to_string())
                    );
                }
                println!();
                println!("{:>8}  {:<32}  {:<6}  MUTED", "USER", "USERNAME", "ROLE");
                for m in &members {
                    println!(
                        "{:>8}  {:<32}  {:<6}  {}",
                        m.user_id,
                        m.username,
                        group::role_name(m.role),
                        muted_text(m)
                    );
                }
            }
        }
        GroupCommand::Mute { id, member, until } => {
            let member_id = match &member {
                Some(who) => Some(user::find(&state, who).await?.id),
                None => None,
            };
            let until =
                until.as_deref().map(|u| parse_until(u, crate::db::now_ms())).transpose()?;
            group::admin_mute(&state, id, member_id, until).await?;
            match member_id {
                Some(uid) => println!(
                    "member {uid} of group {id} muted{}",
                    until.map(|u| format!(" until {}", json!(u))).unwrap_or_default()
                ),
                None => println!("group {id} muted (owner and admins can still speak)"),
            }
        }
        GroupCommand::Unmute { id, member } => {
            let member_id = match &member {
                Some(who) => Some(user::find(&state, who).await?.id),
                None => None,
            };
            group::admin_unmute(&state, id, member_id).await?;
            match member_id {
                Some(uid) => println!("member {uid} of group {id} unmuted"),
                None => println!("group {id} unmuted"),
            }
        }
        GroupCommand::Dissolve { id, yes } => {
            let (g, _) = group::admin_show(&state, id).await?;
            if !super::confirmed(yes, &format!("dissolve group {} ({})", g.group_id, g.name))? {
                anyhow::bail!("cancelled");
            }
            group::admin_dissolve(&state, id).await?;
            println!("group {id} dissolved");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn muted_text(m: &MemberView) -> String {
    match (m.muted, m.muted_until) {
        (false, _) => "no".into(),
        (true, None) => "yes".into(),
        (true, Some(until)) => format!("until {until}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_forms() {
        let now = 1_000_000;
        assert_eq!(parse_until("30m", now).unwrap(), now + 1_800_000);
        assert_eq!(parse_until("2d", now).unwrap(), now + 172_800_000);
        assert_eq!(parse_until("1800000000000", now).unwrap(), 1_800_000_000_000);
        assert_eq!(parse_until("2027-01-01T00:00:00Z", now).unwrap(), 1_798_761_600_000);
        assert!(parse_until("soon", now).is_err());
        assert!(parse_until("", now).is_err());
        assert!(parse_until("99999999999999999d", now).is_err(), "overflow is an error");
        assert!(parse_until("0m", now).is_err());
        assert!(parse_until("5日", now).is_err(), "no panic on a multi-byte unit");
    }
}
