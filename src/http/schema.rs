//! OpenAPI schemas of request fields whose rules a type alone does not say: the closed sets
//! of values the services accept (`#[schema(schema_with = …)]`, `#[param(schema_with = …)]`).
//! The sets are the ones the services check; the fuzz run (scripts/fuzz-api.sh) holds the two
//! to the same answer.

use serde_json::Value;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{KnownFormat, SchemaFormat};

fn one_of<T: Into<Value>>(
    kind: Type,
    values: impl IntoIterator<Item = T>,
    nullable: bool,
    description: &str,
) -> Object {
    let integer = matches!(kind, Type::Integer);
    let mut values: Vec<Value> = values.into_iter().map(Into::into).collect();
    let schema_type = if nullable {
        values.push(Value::Null);
        SchemaType::from_iter([kind, Type::Null])
    } else {
        SchemaType::Type(kind)
    };
    let mut builder = ObjectBuilder::new()
        .schema_type(schema_type)
        .enum_values(Some(values))
        .description(Some(description));
    if integer {
        builder = builder.format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)));
    }
    builder.build()
}

const SESSION_TYPE: &str = "1 private, 2 group, 99 world.";

/// `session_type`: 1 private, 2 group, 99 world.
pub fn session_type() -> Object {
    one_of(Type::Integer, [1, 2, 99], false, SESSION_TYPE)
}

/// `type` of a message: 1 text … 7 sticker.
pub fn message_type() -> Object {
    one_of(
        Type::Integer,
        1..=7,
        false,
        "1 text, 2 image, 3 voice, 4 video, 5 location, 6 file, 7 sticker.",
    )
}

/// `online_status`, optional.
pub fn online_status() -> Object {
    one_of(
        Type::Integer,
        1..=4,
        true,
        "1 online, 2 away, 3 busy, 4 invisible (shown to others as offline).",
    )
}

/// Captcha `type`, optional (blank means the default; surrounding spaces are ignored).
pub fn captcha_type() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(r"^\s*(digit|string)?\s*$"))
        .description(Some("`digit` (default) or `string` (letters and digits, case-insensitive)."))
        .build()
}

/// A group's `join_policy`, optional.
pub fn join_policy() -> Object {
    one_of(
        Type::String,
        ["open", "approval", "invite_only"],
        true,
        "`open`, `approval` or `invite_only`.",
    )
}

/// The answer to a friend invitation.
pub fn invite_answer() -> Object {
    one_of(Type::Integer, [1, 2], false, "1 accept, 2 reject.")
}

/// The invitation status filter, optional.
pub fn invite_status_filter() -> Object {
    one_of(Type::Integer, [0, 1, 2], true, "Only this status: 0 pending, 1 accepted, 2 rejected.")
}

/// Friend `status` change, optional: only 0 (delete) exists.
pub fn friend_status() -> Object {
    one_of(Type::Integer, [0], true, "0: delete them from my friends (one-sided).")
}

/// Friend `block_status`, optional.
pub fn block_status() -> Object {
    one_of(Type::Integer, [0, 1], true, "0: block, 1: unblock.")
}

/// A group's or member's `speak_status`, optional.
pub fn speak_status() -> Object {
    one_of(Type::Integer, [0, 1], true, "0 muted, 1 may speak.")
}

/// A member's `role`, optional.
pub fn member_role() -> Object {
    one_of(Type::Integer, [0, 2], true, "0 member, 2 admin (owner only).")
}

/// A list of user ids: at least one, each positive.
pub fn user_ids() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1)),
        )
        .min_items(Some(1))
        .build()
}
