//! Calls, one to one and in small groups: who may call whom, ringing, who is busy, signalling
//! between devices, and the record each call leaves in its conversation. The media flows
//! between browsers (WebRTC); the server only rings, relays and records.
//!
//! Each call is owned by one instance, its *home* (where the invite arrived): the home's
//! [`manager`] holds the call's state and applies every command in arrival order, so no two
//! instances ever disagree about a call. A shared record in the cache (`call:<id>`) says which
//! instance is home, so that a device connected elsewhere sends its commands there over the
//! bus; the home sends frames to devices anywhere the same way. Who is in a call (and so busy)
//! is a claim in the cache (`call_user:<user id>`), taken when a device joins and given up
//! when it leaves. Instances with calls send heartbeats: a call whose home stops answering
//! ends for the devices elsewhere, and a device whose instance stops answering leaves.
//!
//! Rules are checked here, before a command reaches the home: a private call only between
//! people who may message each other, a group call only among members of an active group who
//! may speak. A refused or impossible command is answered at once with `call_ended` and a
//! reason (never with silence).

mod ice;
mod manager;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::bus::Event;
use crate::bus::call::{CallCommand, CallDevice};
use crate::db::now_ms;
use crate::domain::{GroupId, MessageType, SessionType, UserId};
use crate::error::{AppError, ErrorCode};
use crate::service::{chat, friend, group};
use crate::state::Core;

pub use ice::{IceServer, IceServers, ice_servers, turn_credential};
pub use manager::{Calls, run};

/// How long the shared record of a live call lives without being refreshed by its home.
const RECORD_TTL: Duration = Duration::from_secs(3600);
/// How long an ended call's record is kept, so that a retried command gets the same answer.
const ENDED_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a device's "in a call" claim lives without being refreshed by the call's home:
/// a claim whose home died lapses by itself.
const BUSY_TTL: Duration = Duration::from_secs(30);
/// Largest `call_signal` data (an SDP offer with many codecs is a few KiB).
const MAX_SIGNAL_BYTES: usize = 16 * 1024;

/// Why a call ended, for one device or for everyone (`call_ended.reason`). The first six are
/// also the outcomes a call's record can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Answered, then hung up (or a participant's connection closed).
    Completed,
    /// Nobody answered within `calls.ring_timeout_secs`.
    Missed,
    Rejected,
    /// The callee was in another call.
    Busy,
    /// The caller hung up before anyone answered.
    Cancelled,
    /// The instance that held the call (or the other party's) stopped answering.
    Failed,
    /// Not allowed (not friends, blocked, not a member, muted, calls switched off).
    Forbidden,
    /// A malformed or conflicting command.
    Invalid,
    /// No such call (or it ended long ago).
    NotFound,
    /// A group call already has `calls.max_group_participants` devices.
    Full,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Completed => "completed",
            EndReason::Missed => "missed",
            EndReason::Rejected => "rejected",
            EndReason::Busy => "busy",
            EndReason::Cancelled => "cancelled",
            EndReason::Failed => "failed",
            EndReason::Forbidden => "forbidden",
            EndReason::Invalid => "invalid",
            EndReason::NotFound => "not_found",
            EndReason::Full => "full",
        }
    }

    /// Whether a call that ended this way leaves a record in its conversation.
    fn recorded(self) -> bool {
        matches!(
            self,
            EndReason::Completed
                | EndReason::Missed
                | EndReason::Rejected
                | EndReason::Busy
                | EndReason::Cancelled
                | EndReason::Failed
        )
    }
}

/// How a call ended, as its shared record keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    pub reason: EndReason,
    pub duration_s: i64,
}

/// What every instance knows of a call (the cache's `call:<id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    /// The instance that owns the call.
    pub home: String,
    pub caller_id: UserId,
    pub session_type: i16,
    pub target_id: i64,
    /// `audio` or `video`.
    pub media: String,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds of the first answer.
    pub answered_at: Option<i64>,
    pub ended: Option<Ended>,
}

impl CallInfo {
    fn duration_s(&self, now: i64) -> i64 {
        self.answered_at.map_or(0, |a| ((now - a) / 1000).max(0))
    }
}

fn record_key(call_id: &str) -> String {
    format!("call:{call_id}")
}

fn busy_key(user: UserId) -> String {
    format!("call_user:{user}")
}

/// What a call frame gets back at once (on the same socket), and the call the device has
/// joined (invite or accept): when its socket closes, the device leaves that call.
#[derive(Debug, Default)]
pub struct Answer {
    pub replies: Vec<(&'static str, Value)>,
    pub joined: Option<String>,
}

impl Answer {
    fn reply(kind: &'static str, data: Value) -> Self {
        Self { replies: vec![(kind, data)], joined: None }
    }

    fn joined(call_id: &str) -> Self {
        Self { replies: Vec::new(), joined: Some(call_id.to_string()) }
    }
}

/// `call_ended` data.
fn ended_data(call_id: &str, reason: EndReason, duration_s: i64) -> Value {
    json!({"call_id": call_id, "reason": reason.as_str(), "duration_s": duration_s})
}

/// `call_ended` for a command that was refused or failed, with the error's code and message.
fn refused(state: &Core, call_id: &str, e: &AppError) -> Answer {
    let reason = match e {
        AppError::Api { code, .. } => match code {
            ErrorCode::CallNotFound => EndReason::NotFound,
            ErrorCode::CallFull => EndReason::Full,
            ErrorCode::AlreadyInCall | ErrorCode::CalleeBusy => EndReason::Busy,
            ErrorCode::InvalidCallMedia
            | ErrorCode::InvalidSessionType
            | ErrorCode::InvalidTargetId
            | ErrorCode::CallIdInUse
            | ErrorCode::InvalidCallSignal => EndReason::Invalid,
            _ => EndReason::Forbidden,
        },
        _ => {
            if let Some(cause) = e.cause() {
                slog::warn!(state.log, "call command failed"; "call_id" => call_id,
                    "code" => e.error_code().as_str(), "cause" => format!("{cause:#}"));
            }
            EndReason::Failed
        }
    };
    let mut data = ended_data(call_id, reason, 0);
    data["code"] = e.error_code().as_str().into();
    data["message"] = e.client_message().into();
    Answer::reply("call_ended", data)
}

/// An `error` frame about a call (the call itself goes on).
fn call_error(call_id: &str, code: ErrorCode) -> Value {
    json!({"code": code.as_str(), "message": code.message(), "call_id": call_id})
}

/// Whether `id` is a well-formed `call_id`.
fn valid_call_id(id: &str) -> bool {
    (16..=48).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Answer one of the call frames (`call_invite`, `call_accept`, `call_reject`, `call_hangup`,
/// `call_signal`) from `device`.
pub async fn handle_frame(state: &Core, device: &CallDevice, kind: &str, data: &Value) -> Answer {
    let call_id = match data.get("call_id") {
        Some(Value::String(id)) if valid_call_id(id) => id.clone(),
        _ => {
            let e = ErrorCode::InvalidCallId;
            return Answer::reply("error", json!({"code": e.as_str(), "message": e.message()}));
        }
    };
    if !state.config.calls.enabled {
        return refused(state, &call_id, &AppError::code(ErrorCode::CallsDisabled));
    }
    let outcome = match kind {
        "call_invite" => invite(state, device, &call_id, data).await,
        "call_accept" => accept(state, device, &call_id).await,
        "call_reject" => to_home(state, device, &call_id, CallCommand::Reject).await,
        "call_hangup" => to_home(state, device, &call_id, CallCommand::Hangup).await,
        "call_signal" => match signal_command(data) {
            Ok(command) => to_home(state, device, &call_id, command).await,
            Err(e) => Err(e),
        },
        _ => Err(AppError::invalid("not a call frame")),
    };
    outcome.unwrap_or_else(|e| match &e {
        // A bad signal must not end the call it belongs to.
        AppError::Api { code: ErrorCode::InvalidCallSignal, .. } => {
            Answer::reply("error", call_error(&call_id, ErrorCode::InvalidCallSignal))
        }
        _ => refused(state, &call_id, &e),
    })
}

/// The devices' sockets closed: they leave the calls they joined.
pub async fn devices_gone(state: &Core, device: &CallDevice, call_ids: &[String]) {
    for call_id in call_ids {
        state.calls.unwatch(call_id, device);
        if let Ok(Some(info)) = read_info(state, call_id).await
            && info.ended.is_none()
        {
            route(state, &info, call_id, device, CallCommand::Gone);
        }
    }
}

fn signal_command(data: &Value) -> crate::error::Result<CallCommand> {
    let bad = || AppError::code(ErrorCode::InvalidCallSignal);
    let to = match data.get("to") {
        Some(Value::String(to)) if !to.is_empty() && to.len() <= 64 => to.clone(),
        _ => return Err(bad()),
    };
    let payload = match data.get("data") {
        Some(v @ Value::Object(_)) if v.to_string().len() <= MAX_SIGNAL_BYTES => v.clone(),
        _ => return Err(bad()),
    };
    Ok(CallCommand::Signal { to, data: payload })
}

async fn read_info(state: &Core, call_id: &str) -> crate::error::Result<Option<CallInfo>> {
    let raw = state.cache.get(&record_key(call_id)).await?;
    Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
}

/// The live call `call_id`, or the answer to give when there is none.
async fn live_call(state: &Core, call_id: &str) -> Result<CallInfo, Answer> {
    match read_info(state, call_id).await {
        Ok(Some(info)) => match info.ended {
            Some(ended) => Err(Answer::reply(
                "call_ended",
                ended_data(call_id, ended.reason, ended.duration_s),
            )),
            None => Ok(info),
        },
        Ok(None) => Err(refused(state, call_id, &AppError::code(ErrorCode::CallNotFound))),
        Err(e) => Err(refused(state, call_id, &e)),
    }
}

/// Hand `command` to the call's home: this instance's manager, or another's through the bus.
fn route(state: &Core, info: &CallInfo, call_id: &str, device: &CallDevice, command: CallCommand) {
    if info.home == state.instance_id {
        state.calls.command(call_id, device, command);
        return;
    }
    // A device in a call owned elsewhere: if that instance dies, this one ends the call here.
    if matches!(command, CallCommand::Invite | CallCommand::Accept) {
        state.calls.watch(call_id, &info.home, device);
    }
    state.publisher.publish(Event::CallCommand {
        home: info.home.clone(),
        call_id: call_id.to_string(),
        device: device.clone(),
        command,
    });
}

async fn to_home(
    state: &Core,
    device: &CallDevice,
    call_id: &str,
    command: CallCommand,
) -> crate::error::Result<Answer> {
    let info = match live_call(state, call_id).await {
        Ok(info) => info,
        Err(answer) => return Ok(answer),
    };
    route(state, &info, call_id, device, command);
    Ok(Answer::default())
}

/// The people a new call rings, after checking that `caller` may make it.
async fn invitees(
    state: &Core,
    caller: UserId,
    session_type: i16,
    target_id: i64,
) -> crate::error::Result<Vec<UserId>> {
    if target_id <= 0 {
        return Err(AppError::code(ErrorCode::InvalidTargetId));
    }
    match SessionType::from_i16(session_type) {
        Some(SessionType::Private) => {
            let callee = UserId(target_id);
            friend::can_chat(state, caller, callee).await?;
            Ok(vec![callee])
        }
        Some(SessionType::Group) => {
            let group_id = GroupId(target_id);
            group::can_send(state, group_id, caller).await?;
            let members = state.db.group_member_ids(group_id, None).await?;
            Ok(members.into_iter().filter(|m| *m != caller).collect())
        }
        _ => Err(AppError::with_message(
            ErrorCode::InvalidSessionType,
            "session_type must be 1 (private) or 2 (group) for a call",
        )),
    }
}

async fn invite(
    state: &Core,
    device: &CallDevice,
    call_id: &str,
    data: &Value,
) -> crate::error::Result<Answer> {
    let caller = device.user_id;
    let session_type = data.get("session_type").and_then(Value::as_i64).unwrap_or(0);
    let target_id = data.get("target_id").and_then(Value::as_i64).unwrap_or(0);
    let session_type = i16::try_from(session_type).unwrap_or(0);
    let media = match data.get("media").and_then(Value::as_str) {
        Some(m @ ("audio" | "video")) => m.to_string(),
        _ => return Err(AppError::code(ErrorCode::InvalidCallMedia)),
    };
    // A retry of an invite names a call that exists already: it is that call.
    if let Some(info) = read_info(state, call_id).await? {
        return retried(state, device, call_id, &info, session_type, target_id);
    }
    let invitees = invitees(state, caller, session_type, target_id).await?;
    let info = CallInfo {
        home: state.instance_id.clone(),
        caller_id: caller,
        session_type,
        target_id,
        media: media.clone(),
        started_at: now_ms(),
        answered_at: None,
        ended: None,
    };
    let encoded = serde_json::to_string(&info).map_err(anyhow::Error::from)?;
    if !state.cache.set_nx(&record_key(call_id), &encoded, RECORD_TTL).await? {
        // Another instance took this call_id a moment ago (a retry racing the first invite).
        return match read_info(state, call_id).await? {
            Some(info) => retried(state, device, call_id, &info, session_type, target_id),
            None => Err(AppError::code(ErrorCode::CallIdInUse)),
        };
    }
    if !claim_busy(state, caller, call_id).await? {
        finish_early(state, call_id, &info, Ended { reason: EndReason::Busy, duration_s: 0 }).await;
        return Err(AppError::code(ErrorCode::AlreadyInCall));
    }
    if session_type == SessionType::Private {
        let callee = UserId(target_id);
        let held = state.cache.get(&busy_key(callee)).await?;
        let busy = match held {
            Some(other) if other != call_id => in_progress(state, &other).await?,
            _ => false,
        };
        if busy {
            state.cache.del_if(&busy_key(caller), call_id).await?;
            let ended = Ended { reason: EndReason::Busy, duration_s: 0 };
            count_end(ended.reason);
            finish_early(state, call_id, &info, ended).await;
            record(state, call_id, &info, ended).await;
            return Err(AppError::code(ErrorCode::CalleeBusy));
        }
    }
    state.calls.start(call_id, info, invitees, device);
    Ok(Answer::joined(call_id))
}

/// An invite naming a call that exists: the same call when it is the caller's retry.
fn retried(
    state: &Core,
    device: &CallDevice,
    call_id: &str,
    info: &CallInfo,
    session_type: i16,
    target_id: i64,
) -> crate::error::Result<Answer> {
    if info.caller_id != device.user_id
        || info.session_type != session_type
        || info.target_id != target_id
    {
        return Err(AppError::code(ErrorCode::CallIdInUse));
    }
    if let Some(ended) = info.ended {
        return Ok(Answer::reply(
            "call_ended",
            ended_data(call_id, ended.reason, ended.duration_s),
        ));
    }
    route(state, info, call_id, device, CallCommand::Invite);
    Ok(Answer::joined(call_id))
}

async fn accept(state: &Core, device: &CallDevice, call_id: &str) -> crate::error::Result<Answer> {
    let user = device.user_id;
    let info = match live_call(state, call_id).await {
        Ok(info) => info,
        Err(answer) => return Ok(answer),
    };
    match SessionType::from_i16(info.session_type) {
        Some(SessionType::Private) => {
            if user != UserId(info.target_id) {
                return Err(AppError::code(ErrorCode::NotCallInvitee));
            }
            friend::can_chat(state, user, info.caller_id).await?;
        }
        _ => group::can_send(state, GroupId(info.target_id), user).await?,
    }
    if !claim_busy(state, user, call_id).await? {
        return Err(AppError::code(ErrorCode::AlreadyInCall));
    }
    route(state, &info, call_id, device, CallCommand::Accept);
    Ok(Answer::joined(call_id))
}

/// Claim "in a call" for `user` (true also when it is this call's already). A claim left by a
/// call that has ended (or whose record is gone) is stale and taken over.
async fn claim_busy(state: &Core, user: UserId, call_id: &str) -> crate::error::Result<bool> {
    let key = busy_key(user);
    if state.cache.set_nx(&key, call_id, BUSY_TTL).await? {
        return Ok(true);
    }
    let Some(held) = state.cache.get(&key).await? else {
        // Given up in between.
        return Ok(state.cache.set_nx(&key, call_id, BUSY_TTL).await?);
    };
    if held == call_id {
        return Ok(true);
    }
    if in_progress(state, &held).await? {
        return Ok(false);
    }
    state.cache.del_if(&key, &held).await?;
    Ok(state.cache.set_nx(&key, call_id, BUSY_TTL).await?)
}

/// Whether the call `call_id` (a claim's) is still going on.
async fn in_progress(state: &Core, call_id: &str) -> crate::error::Result<bool> {
    Ok(read_info(state, call_id).await?.is_some_and(|info| info.ended.is_none()))
}

/// Mark a call that never rang as ended, so that a retry of its invite gets the same answer.
async fn finish_early(state: &Core, call_id: &str, info: &CallInfo, ended: Ended) {
    let mut info = info.clone();
    info.ended = Some(ended);
    if let Ok(encoded) = serde_json::to_string(&info)
        && let Err(e) = state.cache.set(&record_key(call_id), &encoded, ENDED_TTL).await
    {
        slog::warn!(state.log, "call record not kept"; "call_id" => call_id, "error" => e.to_string());
    }
}

/// Count a call that ended, by outcome (bounded: the end reasons).
fn count_end(reason: EndReason) {
    metrics::counter!("jim_calls_ended_total", "outcome" => reason.as_str()).increment(1);
}

/// Write the call's record (a message of type `call`) in its conversation, once: the key is
/// the call, so another write (a retry, another instance) returns the first.
async fn record(state: &Core, call_id: &str, info: &CallInfo, ended: Ended) {
    if !ended.reason.recorded() {
        return;
    }
    let body = json!({"media": info.media, "outcome": ended.reason.as_str(),
        "duration_s": ended.duration_s, "started_by": info.caller_id});
    let written = chat::append_record(
        state,
        info.caller_id,
        info.session_type,
        info.target_id,
        MessageType::Call,
        body,
        format!("call-{call_id}"),
    )
    .await;
    if let Err(e) = written {
        slog::warn!(state.log, "call record not written"; "call_id" => call_id, "error" => format!("{e:#}"));
    }
}
