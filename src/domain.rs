//! Domain types: the ids of users and groups, and the enums behind the small integers the
//! database stores and the wire carries (roles, join policies, statuses, session and message
//! types), each named once here.
//!
//! [`UserId`] and [`GroupId`] wrap the stored `i64` so that a function taking both cannot be
//! handed them swapped; they serialize as the bare number and are the same column, so no JSON
//! value and no row changes. The enums leave rows and wire structs their `i16`; rule code
//! converts at the edge with `from_i16` (unknown values give `None`) and writes back with
//! `as_i16`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares an id newtype over the stored `i64`: ordered, hashable, printed and parsed as the
/// bare number, serialized transparently, and documented in OpenAPI as `integer/int64` (a wire
/// field spells that `#[schema(value_type = i64)]`, so no schema of its own is listed).
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The stored and wire value.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        /// Parses the bare number, as the command line and URL paths spell it.
        impl FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <i64 as utoipa::PartialSchema>::schema()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type! {
    /// A user's id (`users.id`).
    UserId
}

id_type! {
    /// A group's id (`groups.id`).
    GroupId
}

/// Declares a `#[repr(i16)]` enum with `as_i16`, `from_i16` and the `i16` conversions. With a
/// name after each value (`Open = 1 => "open",`) it also gets `name` and `from_name`.
macro_rules! small_int_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal,)+
        }
    ) => {
        small_int_enum! {
            $(#[$meta])*
            pub enum $name {
                $($(#[$vmeta])* $variant = $value,)+
            }
        }

        impl $name {
            /// The name people and the API use for it (wire value, CLI and operator output).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The value a name names, `None` for a name no variant carries.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i16)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored and wire value.
            pub const fn as_i16(self) -> i16 {
                self as i16
            }

            /// The value named by `raw`, `None` for a number no variant carries.
            pub const fn from_i16(raw: i16) -> Option<Self> {
                match raw {
                    $($value => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl From<$name> for i16 {
            fn from(value: $name) -> i16 {
                value.as_i16()
            }
        }

        /// Lets rule code compare a stored `i16` with a variant directly.
        impl PartialEq<$name> for i16 {
            fn eq(&self, other: &$name) -> bool {
                *self == other.as_i16()
            }
        }

        impl PartialEq<i16> for $name {
            fn eq(&self, other: &i16) -> bool {
                self.as_i16() == *other
            }
        }

        impl TryFrom<i16> for $name {
            type Error = i16;

            fn try_from(raw: i16) -> Result<Self, i16> {
                Self::from_i16(raw).ok_or(raw)
            }
        }
    };
}

small_int_enum! {
    /// The presence a user chooses (`users.online_status`). Friends see it only while the
    /// user is connected, and never [`OnlineStatus::Invisible`]: both show as
    /// [`OnlineStatus::SHOWN_OFFLINE`].
    pub enum OnlineStatus {
        Online = 1,
        Away = 2,
        Busy = 3,
        Invisible = 4,
    }
}

impl OnlineStatus {
    /// What friends see for a user who is not connected or is invisible (never stored).
    pub const SHOWN_OFFLINE: i16 = 0;
}

small_int_enum! {
    /// A member's role in a group (`group_member.role`).
    pub enum GroupRole {
        Member = 0 => "member",
        Owner = 1 => "owner",
        Admin = 2 => "admin",
    }
}

small_int_enum! {
    /// How people come into a group (`groups.join_policy`); the API names it with
    /// [`JoinPolicy::name`].
    pub enum JoinPolicy {
        InviteOnly = 0 => "invite_only",
        Open = 1 => "open",
        Approval = 2 => "approval",
    }
}

small_int_enum! {
    /// Whether a group still lives (`groups.status`).
    pub enum GroupStatus {
        Dissolved = 0,
        Active = 1,
    }
}

small_int_enum! {
    /// Where a request that awaits an answer stands: friend invitations, group join requests
    /// and group invitations (their `status` columns).
    pub enum RequestStatus {
        Pending = 0,
        Accepted = 1,
        Rejected = 2,
    }
}

small_int_enum! {
    /// Whether an account may be used (`users.status`).
    pub enum UserStatus {
        Disabled = 0 => "disabled",
        Active = 1 => "active",
        Deleted = 2 => "deleted",
    }
}

small_int_enum! {
    /// The kind of a conversation (`session_type` of messages and rooms, and on the wire).
    pub enum SessionType {
        Private = 1,
        Group = 2,
        World = 99,
    }
}

small_int_enum! {
    /// The kind of a message's body (`message_type`).
    pub enum MessageType {
        Text = 1,
        Image = 2,
        Voice = 3,
        Video = 4,
        Location = 5,
        File = 6,
        Sticker = 7,
        /// A call's record, written by the server when the call ends (never sent by clients).
        Call = 8,
    }
}

small_int_enum! {
    /// Where a stored message stands (`messages.status`).
    pub enum MessageStatus {
        Normal = 1,
        Deleted = 2,
        Recalled = 3,
    }
}

small_int_enum! {
    /// What an upload is for (`media.kind`): it sets the size limit, the types the bytes may
    /// be, and what the server does with them (thumbnails for images, a square for avatars).
    pub enum MediaKind {
        Image = 1 => "image",
        Voice = 2 => "voice",
        Video = 3 => "video",
        File = 4 => "file",
        Avatar = 5 => "avatar",
    }
}

small_int_enum! {
    /// Where an upload stands (`media.state`).
    pub enum MediaState {
        /// Its bytes are being received (their size is reserved against the quota).
        Uploading = 0,
        /// Stored and servable.
        Stored = 1,
        /// Chosen for deletion: its blobs are being removed, downloads answer 404.
        Deleting = 2,
    }
}

small_int_enum! {
    /// What keeps an upload alive and grants its download (`media_refs.ref_kind`).
    pub enum MediaRefKind {
        /// A message in a conversation.
        Message = 1,
        /// A user's avatar (`party_a` the user).
        UserAvatar = 2,
        /// A group's avatar (`party_a` the group).
        GroupAvatar = 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_unknown_numbers_are_none() {
        for &s in OnlineStatus::ALL {
            assert_eq!(OnlineStatus::from_i16(s.as_i16()), Some(s));
            assert_eq!(OnlineStatus::try_from(i16::from(s)), Ok(s));
        }
        assert_eq!(OnlineStatus::from_i16(OnlineStatus::SHOWN_OFFLINE), None);
        assert_eq!(OnlineStatus::try_from(5), Err(5));
        for &r in GroupRole::ALL {
            assert_eq!(GroupRole::from_i16(r.as_i16()), Some(r));
        }
        for &p in JoinPolicy::ALL {
            assert_eq!(JoinPolicy::from_i16(p.as_i16()), Some(p));
        }
    }

    #[test]
    fn stored_values_are_the_ones_the_database_already_holds() {
        assert_eq!(
            [GroupRole::Member, GroupRole::Owner, GroupRole::Admin].map(i16::from),
            [0, 1, 2]
        );
        assert_eq!(
            [JoinPolicy::InviteOnly, JoinPolicy::Open, JoinPolicy::Approval].map(i16::from),
            [0, 1, 2]
        );
        assert_eq!([GroupStatus::Dissolved, GroupStatus::Active].map(i16::from), [0, 1]);
        assert_eq!(
            [RequestStatus::Pending, RequestStatus::Accepted, RequestStatus::Rejected]
                .map(i16::from),
            [0, 1, 2]
        );
        assert_eq!(
            [UserStatus::Disabled, UserStatus::Active, UserStatus::Deleted].map(i16::from),
            [0, 1, 2]
        );
        assert_eq!(
            [SessionType::Private, SessionType::Group, SessionType::World].map(i16::from),
            [1, 2, 99]
        );
        assert_eq!(
            MessageType::ALL.iter().map(|t| t.as_i16()).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
        assert_eq!(
            [MessageStatus::Normal, MessageStatus::Deleted, MessageStatus::Recalled].map(i16::from),
            [1, 2, 3]
        );
        assert_eq!(MediaState::ALL.iter().map(|k| k.as_i16()).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(MediaRefKind::ALL.iter().map(|k| k.as_i16()).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(MediaKind::ALL.iter().map(|k| k.as_i16()).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(OnlineStatus::Online.as_i16(), 1);
        assert_eq!(OnlineStatus::Invisible.as_i16(), 4);
    }

    #[test]
    fn ids_are_the_bare_number_on_the_wire_and_in_text() {
        assert_eq!(serde_json::to_string(&UserId(42)).unwrap(), "42");
        assert_eq!(serde_json::from_str::<GroupId>("7").unwrap(), GroupId(7));
        assert!(serde_json::from_str::<GroupId>("\"7\"").is_err());
        assert_eq!(UserId(42).to_string(), "42");
        assert_eq!("9".parse::<GroupId>(), Ok(GroupId(9)));
        assert!("x".parse::<UserId>().is_err());
        assert_eq!(i64::from(UserId(3)), 3);
    }

    #[test]
    fn id_schemas_are_the_int64_of_the_number() {
        use utoipa::PartialSchema;
        let json = |s| serde_json::to_value(s).unwrap();
        assert_eq!(json(UserId::schema()), json(i64::schema()));
        assert_eq!(json(GroupId::schema()), json(i64::schema()));
    }

    #[test]
    fn join_policy_names_round_trip() {
        for &p in JoinPolicy::ALL {
            assert_eq!(JoinPolicy::from_name(p.name()), Some(p));
        }
        assert_eq!(JoinPolicy::from_name("public"), None);
    }
}
