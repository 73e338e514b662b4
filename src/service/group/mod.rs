//! Groups: create, join (by policy, request, invitation or link), leave, info and lists, roles,
//! ownership transfer, moderation (mute, remove, ban), dissolve — and the admin operations
//! behind `jim group …`.
//!
//! Permission matrix (the original's, with its mistakes corrected): only the owner and
//! admins edit group info, mute, add, remove, list bans, list invite links and handle join
//! requests; only the owner appoints admins, transfers ownership and dissolves; admins act on
//! plain members only ([`outranks`], which removal, mutes, role changes and the recall of
//! someone else's message all follow); when the whole group is muted the owner and admins
//! still speak.
//!
//! Invitations and links: whoever may invite ([`may_invite`]) may invite people and create
//! links. A link carries its creator's right, checked when it is used: it works only while
//! its creator is still the member who made it and may still invite. Joining by any path,
//! leaving and removal close the user's pending invitations and join requests, so an old one
//! cannot bring a removed user back.
//!
//! History policy on dissolve: the group and its member rows are kept, marked dissolved.
//! Former members can still read the group's info, member list and message history; nobody
//! can join, be added, change anything or send messages any more.
//!
//! One file per concern: `view` (what clients see), `rules` (the guards every operation starts
//! from), `event` (who is told), `lifecycle` (create, edit, transfer, dissolve), `members`
//! (leave, list, add, remove, roles and mutes), `admission` (join, requests, invitations,
//! bans), `link` (invite links) and `admin` (`jim group …`).

mod admin;
mod admission;
mod event;
mod lifecycle;
mod link;
mod members;
mod rules;
mod view;

pub use admin::{admin_dissolve, admin_list, admin_mute, admin_show, admin_unmute};
pub use admission::{
    answer_invite, bans, handle_request, invite, join, my_invites, requests, unban,
};
pub use lifecycle::{create, dissolve, info, my_groups, transfer, update};
pub use link::{create_link, join_by_link, links, revoke_link};
pub use members::{add_members, leave, members, remove_members, set_nickname, update_member};
pub use rules::{can_send, may_invite, may_recall_for, outranks};
pub use view::{
    BanView, Count, CreateInput, Created, GroupInfo, InviteView, JoinResult, LinkView,
    MemberUpdateInput, MemberView, RequestView, UpdateInput, is_muted, policy_name, role_name,
};

/// Longest group name, in characters (as in the original).
pub const MAX_NAME_CHARS: usize = 50;
/// Longest announcement, in characters.
pub const MAX_ANNOUNCEMENT_CHARS: usize = 1000;
/// Longest in-group nickname, in characters.
pub const MAX_GROUP_NICKNAME_CHARS: usize = 32;
/// Longest join-request message, in characters.
pub const MAX_REQUEST_MESSAGE_CHARS: usize = 200;

#[cfg(test)]
mod tests {
    use super::lifecycle::default_name;
    use super::members::mute_changes;
    use super::view::parse_policy;
    use super::*;
    use crate::db::group::MemberRow;
    use crate::db::user::UserRow;
    use crate::domain::{GroupId, GroupRole, UserId};

    fn user(id: i64, username: &str, nickname: &str) -> UserRow {
        UserRow {
            id: UserId(id),
            username: username.into(),
            username_norm: username.to_lowercase(),
            password_hash: String::new(),
            nickname: nickname.into(),
            avatar: String::new(),
            birth_date: None,
            online_status: crate::domain::OnlineStatus::Online.as_i16(),
            status: crate::domain::UserStatus::Active.as_i16(),
            created_at: 0,
            updated_at: 0,
            email: None,
            email_norm: None,
            email_verified: false,
        }
    }

    #[test]
    fn default_names_are_never_empty() {
        let members = [user(2, "bob", ""), user(3, "carol", "Carol")];
        assert_eq!(default_name(&user(1, "ann", "Ann"), &members), "Ann, bob, Carol");
        let long: Vec<UserRow> = (0..20).map(|i| user(i, "u", &"x".repeat(10))).collect();
        assert_eq!(default_name(&user(99, "ann", "Ann"), &long).chars().count(), MAX_NAME_CHARS);
        assert_eq!(default_name(&user(1, "a", " "), &[]), "a");
    }

    #[test]
    fn mute_requests() {
        let now = 1_000;
        assert_eq!(mute_changes(None, None, now).unwrap(), None);
        assert_eq!(mute_changes(Some(0), None, now).unwrap(), Some((0, None)));
        assert_eq!(mute_changes(None, Some(2_000), now).unwrap(), Some((0, Some(2_000))));
        assert_eq!(mute_changes(Some(1), None, now).unwrap(), Some((1, None)));
        for (speak, until) in [(Some(2), None), (Some(1), Some(2_000)), (None, Some(500))] {
            assert!(mute_changes(speak, until, now).is_err(), "{speak:?} {until:?}");
        }
    }

    #[test]
    fn timed_mutes_expire() {
        let m = MemberRow {
            id: 1,
            group_id: GroupId(1),
            user_id: UserId(1),
            role: GroupRole::Member.as_i16(),
            nickname: String::new(),
            speak_status: 0,
            muted_until: Some(5),
            creator_id: UserId(0),
            updater_id: UserId(0),
            created_at: 0,
            updated_at: 0,
        };
        assert!(is_muted(&m, 4));
        assert!(!is_muted(&m, 5));
        assert!(is_muted(&MemberRow { muted_until: None, ..m.clone() }, i64::MAX));
        assert!(!is_muted(&MemberRow { speak_status: 1, ..m }, 0));
    }

    #[test]
    fn ranks() {
        assert!(
            outranks(GroupRole::Owner.as_i16(), GroupRole::Admin.as_i16())
                && outranks(GroupRole::Owner.as_i16(), GroupRole::Member.as_i16())
        );
        assert!(outranks(GroupRole::Admin.as_i16(), GroupRole::Member.as_i16()));
        for (actor, target) in [
            (GroupRole::Owner.as_i16(), GroupRole::Owner.as_i16()),
            (GroupRole::Admin.as_i16(), GroupRole::Admin.as_i16()),
            (GroupRole::Admin.as_i16(), GroupRole::Owner.as_i16()),
            (GroupRole::Member.as_i16(), GroupRole::Member.as_i16()),
            (GroupRole::Member.as_i16(), GroupRole::Admin.as_i16()),
            (GroupRole::Member.as_i16(), GroupRole::Owner.as_i16()),
        ] {
            assert!(!outranks(actor, target), "{actor} on {target}");
        }
    }

    #[test]
    fn policies_round_trip() {
        for name in ["open", "approval", "invite_only"] {
            assert_eq!(policy_name(parse_policy(name).unwrap()), name);
        }
        assert!(parse_policy("public").is_err());
    }
}
