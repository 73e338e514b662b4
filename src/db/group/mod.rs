//! Repository for groups: `groups`, `group_member`, `group_ban`, `group_join_request`,
//! `group_invite`, `group_invite_link`, one file per concern. Whether two users are friends
//! is the friends feature's question (`db/friend.rs`, `service/friend.rs`).
//!
//! Seats are counted in `groups.member_count`, changed in the same transaction as the member
//! rows. Every membership change first "touches" the group row (`SET updated_at =
//! updated_at`): on MySQL that takes the row lock, on SQLite the write lock, so the reads that
//! follow cannot be overtaken by a concurrent change (and SQLite never has to upgrade a read
//! lock, which would fail with SQLITE_BUSY instead of waiting). The seat itself is taken with a
//! conditional `UPDATE … SET member_count = member_count + n WHERE member_count + n <=
//! max_member`, whose affected-row count decides: never read-then-insert.

/// The rows of one user (`$user_id`), or of several (`any $user_ids`), in a per-group table:
/// `$table` with its user column `$user` (`group_member`/`user_id`, `group_ban`/`user_id`,
/// `group_join_request`/`user_id`, `group_invite`/`invitee_id`). Every change to a member,
/// a ban or an admission starts from this filter.
macro_rules! group_rows {
    ($table:ident, $user:ident, $group_id:expr, any $user_ids:expr) => {
        $table::table.filter($table::group_id.eq($group_id)).filter($table::$user.eq_any($user_ids))
    };
    ($table:ident, $user:ident, $group_id:expr, $user_id:expr) => {
        $table::table.filter($table::group_id.eq($group_id)).filter($table::$user.eq($user_id))
    };
}

/// The pending rows of `$user_ids` in the group's join requests (`$table` =
/// `group_join_request`, `$user` = `user_id`) or invitations (`group_invite`, `invitee_id`):
/// the one filter every question about a waiting admission starts from.
macro_rules! pending_in {
    ($table:ident, $user:ident, $group_id:expr, $user_ids:expr) => {
        group_rows!($table, $user, $group_id, any $user_ids)
            .filter($table::status.eq($crate::domain::RequestStatus::Pending.as_i16()))
    };
}

/// Set the status of the pending join requests of `$user_ids` (recording `$by` as the one who
/// handled them), inside the caller's connection `$c`; evaluates to the rows changed.
macro_rules! resolve_requests {
    ($c:expr, $group_id:expr, $user_ids:expr, $status:expr, $by:expr, $now:expr) => {
        diesel::update(pending_in!(group_join_request, user_id, $group_id, $user_ids))
            .set((
                group_join_request::status.eq($status),
                group_join_request::handled_by.eq($by),
                group_join_request::updated_at.eq($now),
            ))
            .execute($c)
            .await
    };
}

/// Set the status of the pending invitations of `$user_ids`, as `resolve_requests!`.
macro_rules! resolve_invitations {
    ($c:expr, $group_id:expr, $user_ids:expr, $status:expr, $now:expr) => {
        diesel::update(pending_in!(group_invite, invitee_id, $group_id, $user_ids))
            .set((group_invite::status.eq($status), group_invite::updated_at.eq($now)))
            .execute($c)
            .await
    };
}

mod admission;
mod ban;
mod lifecycle;
mod link;
mod member;

pub use admission::{Admission, InviteRow, JoinRequestRow};
pub use ban::BanRow;
pub use lifecycle::{GroupChanges, GroupRow};
pub use link::LinkRow;
pub use member::{AddOutcome, MemberChanges, MemberRow, RemoveOutcome};

fn is_duplicate(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
