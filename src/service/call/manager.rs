//! The calls this instance owns, in one task: every command of a call is applied here in
//! arrival order (ringing, answers, who is in, signals, the end), and the frames each change
//! sends go out through the ordered publisher, so they reach devices on any instance in the
//! order they were decided. The same task watches the calls owned elsewhere that devices
//! connected here are in, and the other instances' heartbeats.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{
    BUSY_TTL, CallInfo, ENDED_TTL, EndReason, Ended, RECORD_TTL, busy_key, ended_data, record,
    record_key,
};
use crate::bus::Event;
use crate::bus::call::{CallCommand, CallDevice, CallFrame, CallTarget};
use crate::db::now_ms;
use crate::domain::{SessionType, UserId};
use crate::error::ErrorCode;
use crate::state::Core;

/// How often ring deadlines and silent instances are looked at.
const TICK: Duration = Duration::from_millis(250);
/// How often an instance with calls says it is alive.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// An instance not heard from for this long is gone: its calls end elsewhere, its devices
/// leave the calls owned here.
const SILENT_AFTER: Duration = Duration::from_secs(5);
/// How often the shared record and the participants' busy claims are renewed.
const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// Ended calls remembered here, to answer a late command with how the call ended.
const REMEMBER_ENDED: usize = 4096;

/// What the task is asked to do.
enum Msg {
    Start { call_id: String, info: CallInfo, invitees: Vec<UserId>, device: CallDevice },
    Command { call_id: String, device: CallDevice, command: CallCommand },
    Watch { call_id: String, home: String, device: CallDevice },
    Unwatch { call_id: String, device: CallDevice },
    Heard { instance: String, call_ids: Vec<String> },
}

/// The handle services and the relay use to reach this instance's call task.
pub struct Calls {
    tx: mpsc::UnboundedSender<Msg>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Msg>>>,
}

impl Default for Calls {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx, rx: Mutex::new(Some(rx)) }
    }
}

impl Calls {
    fn send(&self, msg: Msg) {
        // Only a server runs the task; elsewhere (CLI commands) nobody makes calls.
        let _ = self.tx.send(msg);
    }

    pub(super) fn start(
        &self,
        call_id: &str,
        info: CallInfo,
        invitees: Vec<UserId>,
        device: &CallDevice,
    ) {
        self.send(Msg::Start { call_id: call_id.into(), info, invitees, device: device.clone() });
    }

    /// A command for a call owned here (from a device here, or from the bus).
    pub fn command(&self, call_id: &str, device: &CallDevice, command: CallCommand) {
        self.send(Msg::Command { call_id: call_id.into(), device: device.clone(), command });
    }

    pub(super) fn watch(&self, call_id: &str, home: &str, device: &CallDevice) {
        self.send(Msg::Watch {
            call_id: call_id.into(),
            home: home.into(),
            device: device.clone(),
        });
    }

    /// `device` (connected here) is no longer in the call owned elsewhere.
    pub fn unwatch(&self, call_id: &str, device: &CallDevice) {
        self.send(Msg::Unwatch { call_id: call_id.into(), device: device.clone() });
    }

    /// `instance` said it is alive and owns `call_ids`.
    pub fn heard(&self, instance: &str, call_ids: Vec<String>) {
        self.send(Msg::Heard { instance: instance.into(), call_ids });
    }

    /// The receiving end, for [`run`] (once).
    pub fn take_receiver(&self) -> Option<CallsReceiver> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take().map(CallsReceiver)
    }
}

/// What [`run`] reads its work from.
pub struct CallsReceiver(mpsc::UnboundedReceiver<Msg>);

/// A device in a call.
#[derive(Debug, Clone)]
struct Participant {
    id: String,
    device: CallDevice,
    since: Instant,
}

impl Participant {
    fn view(&self) -> Value {
        json!({"participant_id": self.id, "user_id": self.device.user_id})
    }
}

/// A call owned here.
struct Call {
    id: String,
    info: CallInfo,
    /// Who is rung (the callee, or the group's other members when the call started).
    invitees: HashSet<UserId>,
    /// Invitees who said no (group calls).
    declined: HashSet<UserId>,
    participants: Vec<Participant>,
    /// Until when invitees' devices ring; `None` once nobody rings any more.
    ring_until: Option<Instant>,
}

impl Call {
    fn private(&self) -> bool {
        self.info.session_type == SessionType::Private
    }

    fn participant_of(&self, device: &CallDevice) -> Option<&Participant> {
        self.participants.iter().find(|p| p.device == *device)
    }

    fn user_in_call(&self, user: UserId) -> Option<&Participant> {
        self.participants.iter().find(|p| p.device.user_id == user)
    }

    fn views(&self) -> Vec<Value> {
        self.participants.iter().map(Participant::view).collect()
    }

    /// What `call_incoming`, `call_ringing` and `call_accepted` share.
    fn summary(&self, ring_timeout_s: u64) -> Value {
        json!({"call_id": self.id, "session_type": self.info.session_type,
            "target_id": self.info.target_id, "media": self.info.media,
            "caller_id": self.info.caller_id, "started_at": self.info.started_at,
            "answered_at": self.info.answered_at, "ring_timeout_s": ring_timeout_s,
            "participants": self.views()})
    }
}

/// A call owned elsewhere that devices here are in.
struct Watch {
    home: String,
    devices: HashSet<CallDevice>,
    since: Instant,
}

/// Why a participant leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    HungUp,
    /// Its socket closed.
    Disconnected,
    /// Its instance stopped answering.
    InstanceLost,
}

/// What the call task decided, carried out in that order by a task of its own (the call task
/// never waits for Redis): cache writes, then the frames that follow them. A device that hears
/// a call ended finds its claim given up and the call's end in the shared record.
enum Output {
    Set { key: String, value: String, ttl: Duration },
    DelIf { key: String, value: String },
    Frames(Vec<CallFrame>),
}

/// The call task's state.
struct Manager<S> {
    state: Arc<S>,
    calls: HashMap<String, Call>,
    ended: HashMap<String, Ended>,
    ended_order: VecDeque<String>,
    watches: HashMap<String, Watch>,
    heard: HashMap<String, Instant>,
    output: mpsc::UnboundedSender<Output>,
    /// Frames decided by the message being handled, published together when it is done.
    out: Vec<CallFrame>,
}

/// Run this instance's call task until the server stops.
pub async fn run<S>(state: Arc<S>, receiver: CallsReceiver)
where
    S: Deref<Target = Core> + Send + Sync + 'static,
{
    let CallsReceiver(mut rx) = receiver;
    let (output, output_rx) = mpsc::unbounded_channel();
    tokio::spawn(carry_out(state.clone(), output_rx));
    let mut manager = Manager {
        state,
        calls: HashMap::new(),
        ended: HashMap::new(),
        ended_order: VecDeque::new(),
        watches: HashMap::new(),
        heard: HashMap::new(),
        output,
        out: Vec::new(),
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heartbeat = Instant::now();
    let mut last_refresh = Instant::now();
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(msg) => manager.handle(msg),
                None => break,
            },
            _ = tick.tick() => {
                manager.ring_deadlines();
                manager.silent_instances();
                if last_heartbeat.elapsed() >= HEARTBEAT_EVERY {
                    last_heartbeat = Instant::now();
                    manager.heartbeat();
                }
                if last_refresh.elapsed() >= REFRESH_EVERY {
                    last_refresh = Instant::now();
                    manager.refresh();
                }
            }
        }
        manager.flush();
    }
}

async fn carry_out<S>(state: Arc<S>, mut rx: mpsc::UnboundedReceiver<Output>)
where
    S: Deref<Target = Core> + Send + Sync + 'static,
{
    while let Some(output) = rx.recv().await {
        let result = match output {
            Output::Set { key, value, ttl } => state.cache.set(&key, &value, ttl).await,
            Output::DelIf { key, value } => state.cache.del_if(&key, &value).await.map(|_| ()),
            Output::Frames(frames) => {
                state.publisher.publish(Event::CallFrames { frames });
                Ok(())
            }
        };
        if let Err(e) = result {
            slog::warn!(state.log, "call state not written to the cache"; "error" => e.to_string());
        }
    }
}

fn device(device: &CallDevice) -> CallTarget {
    CallTarget::Device { device: device.clone() }
}

fn user(user_id: UserId, except: Option<&CallDevice>) -> CallTarget {
    CallTarget::User { user_id, except: except.cloned() }
}

fn new_participant_id() -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(16);
    id
}

impl<S> Manager<S>
where
    S: Deref<Target = Core> + Send + Sync + 'static,
{
    fn ring_timeout(&self) -> Duration {
        Duration::from_secs(self.state.config.calls.ring_timeout_secs)
    }

    fn send(&mut self, to: CallTarget, kind: &str, data: Value) {
        self.out.push(CallFrame { to, kind: kind.to_string(), data });
    }

    /// Send what the last message decided, as one event (kept in order across instances),
    /// after the cache writes it decided.
    fn flush(&mut self) {
        if !self.out.is_empty() {
            let frames = std::mem::take(&mut self.out);
            let _ = self.output.send(Output::Frames(frames));
        }
    }

    fn write(&self, op: Output) {
        let _ = self.output.send(op);
    }

    fn keep_record(&self, call: &Call, ttl: Duration) {
        if let Ok(value) = serde_json::to_string(&call.info) {
            self.write(Output::Set { key: record_key(&call.id), value, ttl });
        }
    }

    fn release_busy(&self, user_id: UserId, call_id: &str) {
        self.write(Output::DelIf { key: busy_key(user_id), value: call_id.to_string() });
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Start { call_id, info, invitees, device } => {
                self.start(call_id, info, invitees, device)
            }
            Msg::Command { call_id, device, command } => self.command(&call_id, device, command),
            Msg::Watch { call_id, home, device } => {
                let watch = self.watches.entry(call_id).or_insert_with(|| Watch {
                    home,
                    devices: HashSet::new(),
                    since: Instant::now(),
                });
                watch.devices.insert(device);
            }
            Msg::Unwatch { call_id, device } => {
                if let Some(watch) = self.watches.get_mut(&call_id) {
                    watch.devices.remove(&device);
                    if watch.devices.is_empty() {
                        self.watches.remove(&call_id);
                    }
                }
            }
            Msg::Heard { instance, call_ids } => {
                if instance == self.state.instance_id {
                    return;
                }
                self.heard.insert(instance.clone(), Instant::now());
                // A call its home no longer has has ended (and the home said so).
                let owned: HashSet<String> = call_ids.into_iter().collect();
                self.watches.retain(|id, w| w.home != instance || owned.contains(id));
            }
        }
    }

    fn start(&mut self, call_id: String, info: CallInfo, invitees: Vec<UserId>, from: CallDevice) {
        if self.calls.contains_key(&call_id) {
            return self.command(&call_id, from, CallCommand::Invite);
        }
        let caller = Participant { id: new_participant_id(), device: from, since: Instant::now() };
        let call = Call {
            id: call_id.clone(),
            info,
            invitees: invitees.into_iter().collect(),
            declined: HashSet::new(),
            participants: vec![caller.clone()],
            ring_until: Some(Instant::now() + self.ring_timeout()),
        };
        let ring_s = self.state.config.calls.ring_timeout_secs;
        let mut ringing = call.summary(ring_s);
        ringing["participant_id"] = caller.id.clone().into();
        self.send(device(&caller.device), "call_ringing", ringing);
        let incoming = call.summary(ring_s);
        let mut invitees: Vec<UserId> = call.invitees.iter().copied().collect();
        invitees.sort();
        for invitee in invitees {
            self.send(user(invitee, None), "call_incoming", incoming.clone());
        }
        self.calls.insert(call_id, call);
    }

    /// Answer a device about a call that is not (or no longer) here.
    fn gone_call(&mut self, call_id: &str, from: &CallDevice) {
        let ended = self.ended.get(call_id).copied();
        let data = match ended {
            Some(e) => ended_data(call_id, e.reason, e.duration_s),
            None => {
                let mut data = ended_data(call_id, EndReason::NotFound, 0);
                data["code"] = ErrorCode::CallNotFound.as_str().into();
                data["message"] = ErrorCode::CallNotFound.message().into();
                data
            }
        };
        self.send(device(from), "call_ended", data);
    }

    fn command(&mut self, call_id: &str, from: CallDevice, command: CallCommand) {
        let Some(call) = self.calls.get(call_id) else {
            if matches!(command, CallCommand::Accept) {
                // Its claim was taken for this call, which is over.
                self.release_busy(from.user_id, call_id);
            }
            if !matches!(command, CallCommand::Gone) {
                self.gone_call(call_id, &from);
            }
            return;
        };
        let mine = call.participant_of(&from).cloned();
        let elsewhere = call.user_in_call(from.user_id).filter(|p| p.device != from).is_some();
        let ring_s = self.state.config.calls.ring_timeout_secs;
        match command {
            CallCommand::Invite => {
                if let Some(me) = mine {
                    let answered = call.participants.len() > 1;
                    let mut data = call.summary(ring_s);
                    data["participant_id"] = me.id.into();
                    let kind = if answered { "call_accepted" } else { "call_ringing" };
                    self.send(device(&from), kind, data);
                } else if elsewhere {
                    self.send(
                        device(&from),
                        "call_answered_elsewhere",
                        json!({"call_id": call_id}),
                    );
                } else {
                    self.send(device(&from), "error", refusal(call_id, ErrorCode::CallIdInUse));
                }
            }
            CallCommand::Accept => {
                if let Some(me) = mine {
                    let mut data = call.summary(ring_s);
                    data["participant_id"] = me.id.into();
                    self.send(device(&from), "call_accepted", data);
                } else if elsewhere {
                    self.send(
                        device(&from),
                        "call_answered_elsewhere",
                        json!({"call_id": call_id}),
                    );
                } else {
                    self.join(call_id, from);
                }
            }
            CallCommand::Reject | CallCommand::Hangup => {
                if mine.is_some() {
                    self.leave(call_id, &from, Leaving::HungUp);
                } else if elsewhere {
                    self.send(
                        device(&from),
                        "call_answered_elsewhere",
                        json!({"call_id": call_id}),
                    );
                } else if call.invitees.contains(&from.user_id) {
                    // Rung here: saying no (hanging up a call that rings is the same).
                    self.decline(call_id, from.user_id);
                } else {
                    self.send(
                        device(&from),
                        "error",
                        refusal(call_id, ErrorCode::NotCallParticipant),
                    );
                }
            }
            CallCommand::Signal { to, data } => {
                let Some(me) = mine else {
                    return self.send(
                        device(&from),
                        "error",
                        refusal(call_id, ErrorCode::NotCallParticipant),
                    );
                };
                let Some(target) = call.participants.iter().find(|p| p.id == to).cloned() else {
                    let mut error = refusal(call_id, ErrorCode::CallParticipantNotFound);
                    error["to"] = to.into();
                    return self.send(device(&from), "error", error);
                };
                let signal = json!({"call_id": call_id, "from": me.id,
                    "from_user_id": me.device.user_id, "data": data});
                self.send(device(&target.device), "call_signal", signal);
            }
            CallCommand::Gone => {
                if mine.is_some() {
                    self.leave(call_id, &from, Leaving::Disconnected);
                }
            }
        }
    }

    /// `from` answers: it joins the call.
    fn join(&mut self, call_id: &str, from: CallDevice) {
        let max = self.state.config.calls.max_group_participants;
        let ring_s = self.state.config.calls.ring_timeout_secs;
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let cap = if call.private() { 2 } else { max };
        if call.participants.len() >= cap {
            // It stops ringing there; it may still join once a place is free.
            call.declined.insert(from.user_id);
            self.release_busy(from.user_id, call_id);
            let mut data = ended_data(call_id, EndReason::Full, 0);
            data["code"] = ErrorCode::CallFull.as_str().into();
            data["message"] = ErrorCode::CallFull.message().into();
            return self.send(device(&from), "call_ended", data);
        }
        let joining = Participant { id: new_participant_id(), device: from, since: Instant::now() };
        let first_answer = call.info.answered_at.is_none();
        if first_answer {
            call.info.answered_at = Some(now_ms());
        }
        call.declined.remove(&joining.device.user_id);
        let others: Vec<Participant> = call.participants.clone();
        call.participants.push(joining.clone());
        let private = call.private();
        if private {
            // Answered: nobody rings any more.
            call.ring_until = None;
        }
        let summary = call.summary(ring_s);
        let info_changed = first_answer;
        let mut accepted = summary.clone();
        accepted["participant_id"] = joining.id.clone().into();
        self.send(device(&joining.device), "call_accepted", accepted);
        for other in &others {
            if private {
                let mut accepted = summary.clone();
                accepted["participant_id"] = other.id.clone().into();
                self.send(device(&other.device), "call_accepted", accepted);
            } else {
                let joined = json!({"call_id": call_id, "participant": joining.view()});
                self.send(device(&other.device), "call_joined", joined);
            }
        }
        let elsewhere = json!({"call_id": call_id});
        self.send(
            user(joining.device.user_id, Some(&joining.device)),
            "call_answered_elsewhere",
            elsewhere,
        );
        if info_changed && let Some(call) = self.calls.get(call_id) {
            self.keep_record(call, RECORD_TTL);
        }
    }

    /// `user_id`, rung, says no (on any device): their devices stop ringing; a private call
    /// ends, and so does a group call that everyone rung refused before anyone answered.
    fn decline(&mut self, call_id: &str, user_id: UserId) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        if call.private() {
            return self.end(call_id, EndReason::Rejected, None);
        }
        call.declined.insert(user_id);
        let nobody_left = call.info.answered_at.is_none()
            && call.invitees.iter().all(|u| call.declined.contains(u));
        self.send(user(user_id, None), "call_ended", ended_data(call_id, EndReason::Rejected, 0));
        if nobody_left {
            self.end(call_id, EndReason::Rejected, None);
        }
    }

    /// A participant leaves. A private call ends with it; a group call goes on while anyone
    /// is in it.
    fn leave(&mut self, call_id: &str, from: &CallDevice, why: Leaving) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let Some(at) = call.participants.iter().position(|p| p.device == *from) else { return };
        let leaving = call.participants.remove(at);
        let private = call.private();
        let answered = call.info.answered_at.is_some();
        let caller_id = call.info.caller_id;
        let remaining: Vec<CallDevice> =
            call.participants.iter().map(|p| p.device.clone()).collect();
        self.release_busy(leaving.device.user_id, call_id);
        if private {
            let reason = match (answered, why) {
                (true, Leaving::InstanceLost) => EndReason::Failed,
                (true, _) => EndReason::Completed,
                (false, _) => EndReason::Cancelled,
            };
            // The leaving device hears how it ended too (it may have asked), unless it is gone
            // with its instance.
            let also = (why != Leaving::InstanceLost).then_some(&leaving.device);
            return self.end(call_id, reason, also);
        }
        if why != Leaving::InstanceLost {
            let own = if leaving.device.user_id == caller_id && !answered {
                EndReason::Cancelled
            } else {
                EndReason::Completed
            };
            let mine_s = if answered { leaving.since.elapsed().as_secs() as i64 } else { 0 };
            self.send(device(&leaving.device), "call_ended", ended_data(call_id, own, mine_s));
        }
        let left = json!({"call_id": call_id, "participant": leaving.view(),
            "reason": if why == Leaving::HungUp { "hangup" } else { "disconnected" }});
        for other in &remaining {
            self.send(device(other), "call_left", left.clone());
        }
        if remaining.is_empty() {
            let reason = if answered { EndReason::Completed } else { EndReason::Cancelled };
            self.end(call_id, reason, None);
        }
    }

    /// The call is over for everyone: tell every device in it or still ringing, give up the
    /// participants' claims, keep how it ended, and write its record.
    fn end(&mut self, call_id: &str, reason: EndReason, also: Option<&CallDevice>) {
        let Some(mut call) = self.calls.remove(call_id) else { return };
        let duration_s = call.info.duration_s(now_ms());
        let data = ended_data(call_id, reason, duration_s);
        if let Some(d) = also {
            self.send(device(d), "call_ended", data.clone());
        }
        for p in &call.participants {
            self.send(device(&p.device), "call_ended", data.clone());
            self.release_busy(p.device.user_id, call_id);
        }
        if call.ring_until.is_some() {
            let in_call: HashSet<UserId> =
                call.participants.iter().map(|p| p.device.user_id).collect();
            let mut ringing: Vec<UserId> = call
                .invitees
                .iter()
                .filter(|u| !in_call.contains(u) && (call.private() || !call.declined.contains(u)))
                .copied()
                .collect();
            ringing.sort();
            for u in ringing {
                self.send(user(u, None), "call_ended", data.clone());
            }
        }
        let ended = Ended { reason, duration_s };
        super::count_end(reason);
        call.info.ended = Some(ended);
        self.keep_record(&call, ENDED_TTL);
        self.ended.insert(call_id.to_string(), ended);
        self.ended_order.push_back(call_id.to_string());
        while self.ended_order.len() > REMEMBER_ENDED {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended.remove(&old);
            }
        }
        let state = self.state.clone();
        let (id, info) = (call_id.to_string(), call.info);
        tokio::spawn(async move { record(&state, &id, &info, ended).await });
    }

    /// Calls whose ringing is over: a call nobody answered is missed; in a group call that
    /// is going on, the invitees who did not answer stop ringing.
    fn ring_deadlines(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .calls
            .values()
            .filter(|c| c.ring_until.is_some_and(|t| t <= now))
            .map(|c| c.id.clone())
            .collect();
        for call_id in due {
            let Some(call) = self.calls.get_mut(&call_id) else { continue };
            if call.info.answered_at.is_none() {
                self.end(&call_id, EndReason::Missed, None);
                continue;
            }
            call.ring_until = None;
            let in_call: HashSet<UserId> =
                call.participants.iter().map(|p| p.device.user_id).collect();
            let mut unanswered: Vec<UserId> = call
                .invitees
                .iter()
                .filter(|u| !in_call.contains(u) && !call.declined.contains(u))
                .copied()
                .collect();
            unanswered.sort();
            for u in unanswered {
                self.send(user(u, None), "call_ended", ended_data(&call_id, EndReason::Missed, 0));
            }
        }
    }

    /// When an instance is gone: its devices leave the calls owned here, and the calls it
    /// owned end for the devices here.
    fn silent_instances(&mut self) {
        let now = Instant::now();
        let me = self.state.instance_id.clone();
        let silent = |heard: &HashMap<String, Instant>, instance: &str, since: Instant| {
            let last = heard.get(instance).copied().map_or(since, |h| h.max(since));
            now.duration_since(last) > SILENT_AFTER
        };
        let mut lost = Vec::new();
        for call in self.calls.values() {
            for p in &call.participants {
                if p.device.instance != me && silent(&self.heard, &p.device.instance, p.since) {
                    lost.push((call.id.clone(), p.device.clone()));
                }
            }
        }
        for (call_id, device) in lost {
            self.leave(&call_id, &device, Leaving::InstanceLost);
        }
        let orphaned: Vec<String> = self
            .watches
            .iter()
            .filter(|(_, w)| silent(&self.heard, &w.home, w.since))
            .map(|(id, _)| id.clone())
            .collect();
        for call_id in orphaned {
            if let Some(watch) = self.watches.remove(&call_id) {
                let state = self.state.clone();
                tokio::spawn(async move { end_orphan(&state, &call_id, watch).await });
            }
        }
    }

    fn heartbeat(&mut self) {
        if !self.state.bus.forwards() || (self.calls.is_empty() && self.watches.is_empty()) {
            return;
        }
        let call_ids: Vec<String> = self.calls.keys().cloned().collect();
        self.state
            .publisher
            .publish(Event::CallHeartbeat { instance: self.state.instance_id.clone(), call_ids });
    }

    /// Renew the shared record of every call owned here and its participants' claims.
    fn refresh(&mut self) {
        for call in self.calls.values() {
            self.keep_record(call, RECORD_TTL);
            for p in &call.participants {
                let (key, value) = (busy_key(p.device.user_id), call.id.clone());
                self.write(Output::Set { key, value, ttl: BUSY_TTL });
            }
        }
    }
}

/// An `error` frame about a call.
fn refusal(call_id: &str, code: ErrorCode) -> Value {
    super::call_error(call_id, code)
}

/// The home of a call that devices here are in stopped answering: the call ends for them
/// (`failed`), their claims go, and the call is recorded as failed unless its home recorded
/// it first (the record's key is the call: whichever write comes first is the only one).
async fn end_orphan(state: &Core, call_id: &str, watch: Watch) {
    let info = match super::read_info(state, call_id).await {
        Ok(Some(info)) => info,
        _ => return,
    };
    let ended = match info.ended {
        Some(ended) => ended,
        None => Ended { reason: EndReason::Failed, duration_s: info.duration_s(now_ms()) },
    };
    let data = ended_data(call_id, ended.reason, ended.duration_s);
    let frames = watch
        .devices
        .iter()
        .map(|d| CallFrame { to: device(d), kind: "call_ended".into(), data: data.clone() })
        .collect();
    state.publisher.publish(Event::CallFrames { frames });
    // The parties' claims: those of the devices here, and in a private call both people's
    // (the other one's device may have died with the home). Group participants elsewhere
    // see theirs lapse within `BUSY_TTL`.
    let mut users: HashSet<UserId> = watch.devices.iter().map(|d| d.user_id).collect();
    if info.session_type == SessionType::Private {
        users.extend([info.caller_id, UserId(info.target_id)]);
    }
    for user in users {
        let _ = state.cache.del_if(&busy_key(user), call_id).await;
    }
    if info.ended.is_none() {
        super::count_end(ended.reason);
        let mut finished = info.clone();
        finished.ended = Some(ended);
        if let Ok(value) = serde_json::to_string(&finished) {
            let _ = state.cache.set(&record_key(call_id), &value, ENDED_TTL).await;
        }
        record(state, call_id, &info, ended).await;
    }
}
