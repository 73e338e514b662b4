//! The one error type of the crate: a stable machine `code`, the HTTP status it is answered
//! with (as a plain number: the answer itself is built in `http/error.rs`, so that core code
//! does not depend on the web framework), a safe message for the client, and (for internal
//! failures) a cause that is logged and never sent.

use std::borrow::Cow;

use serde_json::Value;

/// The HTTP statuses error codes are answered with, by name.
pub mod status {
    pub const BAD_REQUEST: u16 = 400;
    pub const UNAUTHORIZED: u16 = 401;
    pub const FORBIDDEN: u16 = 403;
    pub const NOT_FOUND: u16 = 404;
    pub const METHOD_NOT_ALLOWED: u16 = 405;
    pub const CONFLICT: u16 = 409;
    pub const PAYLOAD_TOO_LARGE: u16 = 413;
    pub const UNSUPPORTED_MEDIA_TYPE: u16 = 415;
    pub const RANGE_NOT_SATISFIABLE: u16 = 416;
    pub const TOO_MANY_REQUESTS: u16 = 429;
    pub const INTERNAL_SERVER_ERROR: u16 = 500;
    pub const SERVICE_UNAVAILABLE: u16 = 503;
}

macro_rules! error_codes {
    ($($variant:ident => $code:literal, $status:ident, $message:literal;)*) => {
        /// Stable error codes sent in the envelope's `code` field. Never renamed once released.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The wire form, e.g. `INVALID_PARAMS`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => status::$status),* }
            }

            /// The default human-readable message.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message),* }
            }
        }
    };
}

error_codes! {
    InvalidParams => "INVALID_PARAMS", BAD_REQUEST, "invalid parameters";
    PayloadTooLarge => "PAYLOAD_TOO_LARGE", PAYLOAD_TOO_LARGE, "request body too large";
    NotFound => "NOT_FOUND", NOT_FOUND, "not found";
    MethodNotAllowed => "METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED, "method not allowed";
    RateLimited => "RATE_LIMITED", TOO_MANY_REQUESTS, "too many requests, slow down";
    Internal => "INTERNAL", INTERNAL_SERVER_ERROR, "internal server error";
    Unavailable => "UNAVAILABLE", SERVICE_UNAVAILABLE, "service temporarily unavailable";
    Forbidden => "FORBIDDEN", FORBIDDEN, "no permission";
    InvalidUsername => "INVALID_USERNAME", BAD_REQUEST, "username must be 3-32 characters: letters, digits, '_', '.', '-', starting with a letter or digit";
    InvalidPassword => "INVALID_PASSWORD", BAD_REQUEST, "password does not meet the password rules";
    ConfirmPasswordMismatch => "CONFIRM_PASSWORD_MISMATCH", BAD_REQUEST, "password and confirmation differ";
    InvalidNickname => "INVALID_NICKNAME", BAD_REQUEST, "nickname must be 1-32 characters without control characters";
    InvalidTimeFormat => "INVALID_TIME_FORMAT", BAD_REQUEST, "birth_date must be a real date written YYYY-MM-DD";
    InvalidAvatar => "INVALID_AVATAR", BAD_REQUEST, "avatar must be an http(s) URL of at most 512 bytes";
    InvalidOnlineStatus => "INVALID_ONLINE_STATUS", BAD_REQUEST, "online_status must be 1 (online), 2 (away), 3 (busy) or 4 (invisible)";
    InvalidCaptchaType => "INVALID_CAPTCHA_TYPE", BAD_REQUEST, "captcha type must be digit or string";
    CaptchaIdEmpty => "CAPTCHA_ID_EMPTY", BAD_REQUEST, "captcha_id is required";
    CaptchaEmpty => "CAPTCHA_EMPTY", BAD_REQUEST, "captcha is required";
    CaptchaInvalid => "CAPTCHA_INVALID", BAD_REQUEST, "captcha is wrong or expired";
    RegistrationClosed => "REGISTRATION_CLOSED", FORBIDDEN, "registration is closed";
    AccountExists => "ACCOUNT_EXISTS", CONFLICT, "username already taken";
    WrongCredentials => "WRONG_CREDENTIALS", UNAUTHORIZED, "wrong username or password";
    TooManyLoginFailures => "TOO_MANY_LOGIN_FAILURES", TOO_MANY_REQUESTS, "too many failed logins, try again later";
    AccountDisabled => "ACCOUNT_DISABLED", FORBIDDEN, "account disabled";
    AccountDeleted => "ACCOUNT_DELETED", FORBIDDEN, "account deleted";
    WrongPassword => "WRONG_PASSWORD", FORBIDDEN, "the current password is wrong";
    TokenEmpty => "TOKEN_EMPTY", UNAUTHORIZED, "no token: send Authorization: Bearer <token>";
    TokenInvalid => "TOKEN_INVALID", UNAUTHORIZED, "token invalid";
    TokenExpired => "TOKEN_EXPIRED", UNAUTHORIZED, "token expired, log in again";
    TokenRevoked => "TOKEN_REVOKED", UNAUTHORIZED, "session ended, log in again";
    SessionNotFound => "SESSION_NOT_FOUND", NOT_FOUND, "no such session";
    UserNotFound => "USER_NOT_FOUND", NOT_FOUND, "no such user";
    TooManyConnections => "TOO_MANY_CONNECTIONS", TOO_MANY_REQUESTS, "too many open connections for this user";
    InvalidSessionType => "INVALID_SESSION_TYPE", BAD_REQUEST, "session_type must be 1 (private), 2 (group) or 99 (world)";
    InvalidType => "INVALID_TYPE", BAD_REQUEST, "type must be 1 text, 2 image, 3 voice, 4 video, 5 location, 6 file or 7 sticker";
    InvalidTargetId => "INVALID_TARGET_ID", BAD_REQUEST, "target_id must be a positive id";
    ChatWithSelf => "CHAT_WITH_SELF", BAD_REQUEST, "you cannot chat with yourself";
    InvalidBody => "INVALID_BODY", BAD_REQUEST, "message body invalid for its type";
    InvalidActionId => "INVALID_ACTION_ID", BAD_REQUEST, "action_id must be 1-64 printable ASCII characters";
    ActionIdReused => "ACTION_ID_REUSED", CONFLICT, "this action_id was already used for a different message; use a new one";
    WorldDisabled => "WORLD_DISABLED", FORBIDDEN, "the world channel is switched off";
    WorldMuted => "WORLD_MUTED", FORBIDDEN, "the world channel is muted";
    SlowMode => "SLOW_MODE", TOO_MANY_REQUESTS, "slow mode: wait before sending to the world channel again";
    MessageNotFound => "MESSAGE_NOT_FOUND", NOT_FOUND, "no such message";
    RecallFailed => "RECALL_FAILED", FORBIDDEN, "the message cannot be recalled";
    FriendSelf => "FRIEND_SELF", BAD_REQUEST, "that is you";
    TargetNotExists => "TARGET_NOT_EXISTS", NOT_FOUND, "the target user does not exist";
    TargetDisabled => "TARGET_DISABLED", FORBIDDEN, "the target user is disabled";
    TargetDeleted => "TARGET_DELETED", FORBIDDEN, "the target user is deleted";
    AlreadyFriends => "ALREADY_FRIENDS", CONFLICT, "already friends";
    InviteAlreadyPending => "INVITE_ALREADY_PENDING", CONFLICT, "you already invited this user; waiting for an answer";
    BlockedByTarget => "BLOCKED_BY_TARGET", FORBIDDEN, "the other user has blocked you";
    TargetBlocked => "TARGET_BLOCKED", FORBIDDEN, "you have blocked this user; unblock first";
    InvalidNote => "INVALID_NOTE", BAD_REQUEST, "note must be at most 100 characters";
    InviteNotFound => "INVITE_NOT_FOUND", NOT_FOUND, "no such invitation";
    InviteAlreadyHandled => "INVITE_ALREADY_HANDLED", CONFLICT, "the invitation was already answered";
    InviteStatusInvalid => "INVITE_STATUS_INVALID", BAD_REQUEST, "status must be 1 (accept) or 2 (reject)";
    InviteReplyTooLong => "INVITE_REPLY_TOO_LONG", BAD_REQUEST, "reply must be at most 100 characters";
    FindParamsMissing => "FIND_PARAMS_MISSING", BAD_REQUEST, "give user_id or nickname";
    FindNicknameTooShort => "FIND_NICKNAME_TOO_SHORT", BAD_REQUEST, "nickname must be at least 2 characters";
    FriendNoRelation => "FRIEND_NO_RELATION", NOT_FOUND, "you have no relation with this user";
    NotFriends => "NOT_FRIENDS", FORBIDDEN, "you and the target are not friends";
    FriendNothingSet => "FRIEND_NOTHING_SET", BAD_REQUEST, "give status, block_status or remark";
    FriendStatusXorBlock => "FRIEND_STATUS_XOR_BLOCK", BAD_REQUEST, "give status or block_status, not both";
    FriendStatusMustBe0 => "FRIEND_STATUS_MUST_BE_0", BAD_REQUEST, "status must be 0 (delete)";
    FriendBlockMustBe0Or1 => "FRIEND_BLOCK_MUST_BE_0_OR_1", BAD_REQUEST, "block_status must be 0 (block) or 1 (unblock)";
    InvalidRemark => "INVALID_REMARK", BAD_REQUEST, "remark must be at most 30 characters without control characters";
    InvalidGroupId => "INVALID_GROUP_ID", BAD_REQUEST, "group_id must be a positive integer";
    InvalidUserId => "INVALID_USER_ID", BAD_REQUEST, "user_id must be a positive integer";
    GroupNotFound => "GROUP_NOT_FOUND", NOT_FOUND, "no such group";
    GroupDissolved => "GROUP_DISSOLVED", CONFLICT, "the group has been dissolved";
    NotGroupMember => "NOT_GROUP_MEMBER", FORBIDDEN, "you are not a member of this group";
    TargetNotGroupMember => "TARGET_NOT_GROUP_MEMBER", NOT_FOUND, "that user is not a member of this group";
    AlreadyGroupMember => "ALREADY_GROUP_MEMBER", CONFLICT, "already a member of this group";
    GroupFull => "GROUP_FULL", CONFLICT, "the group has reached its member limit";
    GroupMembersEmpty => "GROUP_MEMBERS_EMPTY", BAD_REQUEST, "member_ids must not be empty";
    GroupMemberListEmpty => "GROUP_MEMBER_LIST_EMPTY", BAD_REQUEST, "user_ids must not be empty";
    GroupMemberNotFriend => "GROUP_MEMBER_NOT_FRIEND", FORBIDDEN, "you can only add your friends";
    GroupMemberInactive => "GROUP_MEMBER_INACTIVE", BAD_REQUEST, "that user does not exist or is not active";
    OwnerCannotLeave => "OWNER_CANNOT_LEAVE", CONFLICT, "the owner must transfer ownership or dissolve the group before leaving";
    GroupNothingToUpdate => "GROUP_NOTHING_TO_UPDATE", BAD_REQUEST, "no field to update";
    GroupNameEmpty => "GROUP_NAME_EMPTY", BAD_REQUEST, "group name must not be empty";
    GroupNameTooLong => "GROUP_NAME_TOO_LONG", BAD_REQUEST, "group name longer than 50 characters";
    GroupAnnouncementTooLong => "GROUP_ANNOUNCEMENT_TOO_LONG", BAD_REQUEST, "announcement longer than 1000 characters";
    InvalidGroupNickname => "INVALID_GROUP_NICKNAME", BAD_REQUEST, "in-group nickname must be at most 32 characters without control characters";
    InvalidJoinPolicy => "INVALID_JOIN_POLICY", BAD_REQUEST, "join_policy must be open, approval or invite_only";
    InvalidMaxMember => "INVALID_MAX_MEMBER", BAD_REQUEST, "max_member must be between the current member count and the server's limit";
    GroupSpeakInvalid => "GROUP_SPEAK_INVALID", BAD_REQUEST, "speak_status must be 0 (muted) or 1 (may speak)";
    InvalidMuteUntil => "INVALID_MUTE_UNTIL", BAD_REQUEST, "muted_until must be a future time in Unix milliseconds";
    InvalidRole => "INVALID_ROLE", BAD_REQUEST, "role must be 0 (member) or 2 (admin)";
    CannotEditSelf => "CANNOT_EDIT_SELF", BAD_REQUEST, "you cannot do this to yourself";
    NotAdmin => "NOT_ADMIN", FORBIDDEN, "only the owner or an admin can do this";
    NotOwner => "NOT_OWNER", FORBIDDEN, "only the owner can do this";
    CannotEditPeerAdmin => "CANNOT_EDIT_PEER_ADMIN", FORBIDDEN, "admins cannot act on other admins or the owner";
    AdminCannotBeMuted => "ADMIN_CANNOT_BE_MUTED", FORBIDDEN, "the owner and admins cannot be muted";
    NewOwnerNotMember => "NEW_OWNER_NOT_MEMBER", BAD_REQUEST, "the new owner must be a member of the group";
    GroupBanned => "GROUP_BANNED", FORBIDDEN, "banned from this group";
    GroupBanNotFound => "GROUP_BAN_NOT_FOUND", NOT_FOUND, "that user is not banned from this group";
    GroupInviteOnly => "GROUP_INVITE_ONLY", FORBIDDEN, "this group can only be joined by invitation";
    GroupInviteNotAllowed => "GROUP_INVITE_NOT_ALLOWED", FORBIDDEN, "members of this group may not invite people";
    GroupInviteNotFound => "GROUP_INVITE_NOT_FOUND", NOT_FOUND, "no pending invitation to this group";
    GroupRequestNotFound => "GROUP_REQUEST_NOT_FOUND", NOT_FOUND, "no pending join request from that user";
    GroupLinkInvalid => "GROUP_LINK_INVALID", NOT_FOUND, "invite link unknown, expired or revoked";
    GroupAllMuted => "GROUP_ALL_MUTED", FORBIDDEN, "the whole group is muted";
    MemberMuted => "MEMBER_MUTED", FORBIDDEN, "you have been muted in this group";
    MediaNotFound => "MEDIA_NOT_FOUND", NOT_FOUND, "no such upload";
    MediaTooLarge => "MEDIA_TOO_LARGE", PAYLOAD_TOO_LARGE, "the upload is larger than allowed for its kind";
    MediaQuotaExceeded => "MEDIA_QUOTA_EXCEEDED", PAYLOAD_TOO_LARGE, "your uploads would pass your storage quota; delete some first";
    MediaTypeRefused => "MEDIA_TYPE_REFUSED", UNSUPPORTED_MEDIA_TYPE, "the file's content is not an allowed type for this kind";
    MediaKindInvalid => "MEDIA_KIND_INVALID", BAD_REQUEST, "kind must be image, voice, video, file or avatar";
    MediaEmpty => "MEDIA_EMPTY", BAD_REQUEST, "the file is empty";
    MediaMultipartInvalid => "MEDIA_MULTIPART_INVALID", BAD_REQUEST, "send multipart/form-data with one part named file";
    MediaImageTooLarge => "MEDIA_IMAGE_TOO_LARGE", BAD_REQUEST, "the image's dimensions are larger than allowed";
    MediaImageCorrupt => "MEDIA_IMAGE_CORRUPT", UNSUPPORTED_MEDIA_TYPE, "the image cannot be decoded";
    MediaNotYours => "MEDIA_NOT_YOURS", FORBIDDEN, "only the uploader may attach this upload";
    MediaKindMismatch => "MEDIA_KIND_MISMATCH", BAD_REQUEST, "this upload's kind does not fit here";
    MediaRangeInvalid => "MEDIA_RANGE_INVALID", RANGE_NOT_SATISFIABLE, "the requested range is outside the file";
    MediaSignatureInvalid => "MEDIA_SIGNATURE_INVALID", NOT_FOUND, "no such upload";
    MailNotConfigured => "MAIL_NOT_CONFIGURED", SERVICE_UNAVAILABLE, "this server sends no mail (no mail.smtp_url)";
    InvalidEmail => "INVALID_EMAIL", BAD_REQUEST, "not a valid email address (at most 254 characters, one @, no spaces or control characters)";
    EmailRequired => "EMAIL_REQUIRED", BAD_REQUEST, "registration needs an email address";
    EmailTaken => "EMAIL_TAKEN", CONFLICT, "this address belongs to another account";
    EmailUnchanged => "EMAIL_UNCHANGED", CONFLICT, "this address is already yours";
    EmailNotSet => "EMAIL_NOT_SET", NOT_FOUND, "your account has no email address";
    EmailNotVerified => "EMAIL_NOT_VERIFIED", FORBIDDEN, "verify your email address with the code mailed to it first";
    EmailCodeInvalid => "EMAIL_CODE_INVALID", BAD_REQUEST, "the code is wrong, used, or replaced by a newer one";
    EmailCodeExpired => "EMAIL_CODE_EXPIRED", BAD_REQUEST, "the code has expired: ask for a new one";
    EmailCodeTooManyTries => "EMAIL_CODE_TOO_MANY_TRIES", TOO_MANY_REQUESTS, "too many wrong codes: ask for a new one";
    CallsDisabled => "CALLS_DISABLED", FORBIDDEN, "calls are switched off on this server";
    InvalidCallId => "INVALID_CALL_ID", BAD_REQUEST, "call_id must be 16-48 characters: letters, digits, '-' or '_' (a UUID will do)";
    InvalidCallMedia => "INVALID_CALL_MEDIA", BAD_REQUEST, "media must be audio or video";
    CallIdInUse => "CALL_ID_IN_USE", CONFLICT, "this call_id names another call; choose a new one";
    CallNotFound => "CALL_NOT_FOUND", NOT_FOUND, "no such call, or it has ended";
    NotCallInvitee => "NOT_CALL_INVITEE", FORBIDDEN, "this call is not for you";
    AlreadyInCall => "ALREADY_IN_CALL", CONFLICT, "you are already in a call; hang up first";
    CalleeBusy => "CALLEE_BUSY", CONFLICT, "the person you call is in another call";
    CallFull => "CALL_FULL", CONFLICT, "the call has as many participants as it may have";
    NotCallParticipant => "NOT_CALL_PARTICIPANT", FORBIDDEN, "you are not in this call";
    CallParticipantNotFound => "CALL_PARTICIPANT_NOT_FOUND", NOT_FOUND, "no participant with that participant_id in this call";
    InvalidCallSignal => "INVALID_CALL_SIGNAL", BAD_REQUEST, "call_signal needs call_id, to (a participant_id) and data (an object of at most 16 KiB)";
}

/// The crate-wide error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An expected failure the client can act on.
    #[error("{}: {message}", code.as_str())]
    Api {
        code: ErrorCode,
        message: Cow<'static, str>,
        data: Option<Value>,
        /// Overrides the code's usual HTTP status (e.g. ACCOUNT_DISABLED is 401 on a token).
        status: Option<u16>,
    },
    /// A dependency (database, Redis) is down or timed out: 503, cause logged.
    #[error("unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    /// A bug or unexpected failure: 500, cause logged.
    #[error("internal: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// `Result` with [`AppError`].
pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    /// An API error with the code's default message.
    pub fn code(code: ErrorCode) -> Self {
        Self::Api { code, message: Cow::Borrowed(code.message()), data: None, status: None }
    }

    /// An API error with a specific message.
    pub fn with_message(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Api { code, message: message.into(), data: None, status: None }
    }

    /// Attach a `data` payload (e.g. `fail_times`) to an API error.
    pub fn with_data(self, value: Value) -> Self {
        match self {
            Self::Api { code, message, status, .. } => {
                Self::Api { code, message, data: Some(value), status }
            }
            other => other,
        }
    }

    /// Answer with `status` instead of the code's usual HTTP status.
    pub fn with_status(self, new_status: u16) -> Self {
        match self {
            Self::Api { code, message, data, .. } => {
                Self::Api { code, message, data, status: Some(new_status) }
            }
            other => other,
        }
    }

    /// Shorthand for a 400 `INVALID_PARAMS` with a message.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_message(ErrorCode::InvalidParams, message)
    }

    /// The stable code of this error.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::Api { code, .. } => *code,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// What the client is told: an API error's message, or for a failure of ours only its
    /// code's message (the cause may name hosts, queries or keys: log it, never send it).
    pub fn client_message(&self) -> &str {
        match self {
            Self::Api { message, .. } => message.as_ref(),
            Self::Unavailable(_) | Self::Internal(_) => self.error_code().message(),
        }
    }

    /// The cause to log, for a failure of ours (`None` for an API error).
    pub fn cause(&self) -> Option<&anyhow::Error> {
        match self {
            Self::Api { .. } => None,
            Self::Unavailable(cause) | Self::Internal(cause) => Some(cause),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Api { status: Some(status), .. } => *status,
            _ => self.error_code().status(),
        }
    }

    /// The `data` payload of an API error.
    pub fn data(&self) -> Option<&Value> {
        match self {
            Self::Api { data, .. } => data.as_ref(),
            Self::Unavailable(_) | Self::Internal(_) => None,
        }
    }
}
