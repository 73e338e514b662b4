//! The one diesel schema, valid for both SQLite and MySQL (portable column types only).

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        username_norm -> Text,
        password_hash -> Text,
        nickname -> Text,
        avatar -> Text,
        birth_date -> Nullable<Text>,
        online_status -> SmallInt,
        status -> SmallInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        email -> Nullable<Text>,
        email_norm -> Nullable<Text>,
        email_verified -> Bool,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        user_agent -> Text,
        ip -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    user_relation (id) {
        id -> BigInt,
        user_a_id -> BigInt,
        user_b_id -> BigInt,
        status -> SmallInt,
        block_status -> SmallInt,
        remark_on_a -> Text,
        remark_on_b -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    user_relation_invite (id) {
        id -> BigInt,
        user_id -> BigInt,
        target_id -> BigInt,
        note -> Text,
        reply -> Text,
        status -> SmallInt,
        pending_pair -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    groups (id) {
        id -> BigInt,
        name -> Text,
        avatar -> Text,
        announcement -> Text,
        join_policy -> SmallInt,
        max_member -> Integer,
        member_count -> Integer,
        owner_id -> BigInt,
        speak_status -> SmallInt,
        status -> SmallInt,
        creator_id -> BigInt,
        updater_id -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        member_invite -> SmallInt,
    }
}

diesel::table! {
    group_member (id) {
        id -> BigInt,
        group_id -> BigInt,
        user_id -> BigInt,
        role -> SmallInt,
        nickname -> Text,
        speak_status -> SmallInt,
        muted_until -> Nullable<BigInt>,
        creator_id -> BigInt,
        updater_id -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    rooms (room_id) {
        room_id -> Text,
        session_type -> SmallInt,
        last_message_id -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    messages (id) {
        id -> BigInt,
        room_id -> Text,
        message_id -> BigInt,
        session_type -> SmallInt,
        #[sql_name = "type"]
        message_type -> SmallInt,
        sender_id -> BigInt,
        receiver_id -> BigInt,
        action_id -> Text,
        body -> Text,
        status -> SmallInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    server_meta (meta_key) {
        meta_key -> Text,
        meta_value -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    control_events (id) {
        id -> BigInt,
        kind -> Text,
        user_id -> BigInt,
        payload -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    conversation_clears (user_id, room_id) {
        user_id -> BigInt,
        room_id -> Text,
        cleared_to_message_id -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    group_ban (id) {
        id -> BigInt,
        group_id -> BigInt,
        user_id -> BigInt,
        banned_by -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    group_join_request (id) {
        id -> BigInt,
        group_id -> BigInt,
        user_id -> BigInt,
        message -> Text,
        status -> SmallInt,
        handled_by -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    group_invite (id) {
        id -> BigInt,
        group_id -> BigInt,
        inviter_id -> BigInt,
        invitee_id -> BigInt,
        status -> SmallInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    group_invite_link (id) {
        id -> BigInt,
        group_id -> BigInt,
        token -> Text,
        creator_id -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        created_at -> BigInt,
        uses -> Integer,
    }
}

diesel::table! {
    conversation_state (user_id, room_id) {
        user_id -> BigInt,
        room_id -> Text,
        session_type -> SmallInt,
        target_id -> BigInt,
        read_message_id -> BigInt,
        pinned -> Bool,
        muted -> Bool,
        updated_at -> BigInt,
    }
}

diesel::table! {
    message_hides (user_id, room_id, message_id) {
        user_id -> BigInt,
        room_id -> Text,
        message_id -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    media (id) {
        id -> Text,
        owner_id -> BigInt,
        kind -> SmallInt,
        state -> SmallInt,
        mime -> Text,
        size -> BigInt,
        sha256 -> Text,
        name -> Text,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
        thumb_mime -> Nullable<Text>,
        thumb_size -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    media_refs (id) {
        id -> BigInt,
        media_id -> Text,
        ref_kind -> SmallInt,
        room_id -> Text,
        session_type -> SmallInt,
        party_a -> BigInt,
        party_b -> BigInt,
        ref_key -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    media_usage (user_id) {
        user_id -> BigInt,
        bytes -> BigInt,
    }
}

diesel::table! {
    email_codes (id) {
        id -> BigInt,
        user_id -> BigInt,
        purpose -> SmallInt,
        email -> Text,
        code_hash -> Text,
        tries -> Integer,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> BigInt,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        state -> SmallInt,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        claimed_by -> Nullable<Text>,
        claim_until -> Nullable<BigInt>,
        last_error -> Text,
        created_at -> BigInt,
        sent_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(group_member -> groups (group_id));
diesel::joinable!(group_member -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    user_relation,
    user_relation_invite,
    groups,
    group_member,
    rooms,
    messages,
    server_meta,
    control_events,
    group_ban,
    group_join_request,
    group_invite,
    group_invite_link,
    conversation_clears,
    conversation_state,
    message_hides,
    media,
    media_refs,
    media_usage,
    email_codes,
    mail_outbox,
);
