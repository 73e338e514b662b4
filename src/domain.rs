//! Domain enums: the small integers the database stores and the wire carries (roles, join
//! policies, statuses, session and message types), each named once here. Rows and wire
//! structs keep their `i16`, so no column and no JSON value changes; rule code converts at the
//! edge with `from_i16` (unknown values give `None`) and writes back with `as_i16`.

/// Declares a `#[repr(i16)]` enum with `as_i16`, `from_i16` and the `i16` conversions.
macro_rules! small_int_enum {
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
    }
}
