// What the client knows, and the rules that keep it right: me, friends, invitations, and
// every conversation with the last message id it holds (`have`). Messages of a conversation
// are taken strictly in order: one already held is only refreshed, one past a gap waits
// until the gap is fetched over HTTP. Views subscribe with on(event, fn):
//   'auth' (signed in or out), 'rooms' (the conversation list), 'room' (key: one
//   conversation's messages), 'friends', 'invites', 'users' (names learnt), 'connection',
//   'typing' (key), 'groups', 'members' (group id), 'group_event' (the pushed event),
//   'reads' (key: how far a group's members have read), 'world' (the world channel's switch
//   or what the server says of it).

import * as api from './api.js';
import * as socket from './socket.js';
import { t } from './i18n.js';
import { uploadFile, uploadPhoto, uploadVideo, uploadVoice } from './media.js';
import { preview } from './format.js';
import * as notify from './notify.js';

export const SESSION = { PRIVATE: 1, GROUP: 2, WORLD: 99 };

const WORLD_KEY = 'jim.world'; // my world channel switch, in this browser

export const S = {
  me: null,
  friends: new Map(), // user id -> FriendView
  users: new Map(), // user id -> {id, nickname}
  groups: new Map(), // group id -> {name}
  members: new Map(), // group id -> [MemberView], for groups whose panel or chat is open
  rooms: new Map(), // "session_type:target_id" -> room
  invites: { received: [], sent: [] },
  groupInvites: [], // pending invitations to groups (InviteView)
  connection: 'offline',
  openKey: null,
  typing: new Map(), // room key -> until (ms)
  notice: '', // why the person was signed out, shown on the sign-in page
  // The world channel: what the server says of it (null until asked), and my switch.
  world: { info: null, on: worldSwitch() },
};

const listeners = new Map();

export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event).add(fn);
  return () => listeners.get(event).delete(fn);
}

export function emit(event, detail) {
  for (const fn of listeners.get(event) || []) {
    try {
      fn(detail);
    } catch (e) {
      console.error(e);
    }
  }
}

export function roomKey(st, tid) {
  return `${st}:${tid}`;
}

function newRoom(st, tid) {
  return {
    key: roomKey(st, tid),
    session_type: st,
    target_id: tid,
    room_id: '',
    have: 0, // the last message id held, all before it taken in order
    known: false, // `have` came from the server's conversation list or history
    last_message: null,
    last_active_at: 0,
    unread: 0,
    read_message_id: 0,
    peer_read_message_id: null,
    readers: null, // groups, while open: member id -> how far they have read
    pinned: false,
    muted: false,
    loaded: false, // history window below is filled (the chat was opened)
    messages: new Map(), // message id -> message, contiguous from `oldest` to `have`
    oldest: 0,
    hasMoreBefore: false,
    pending: [], // sends not confirmed yet: {action_id, text, status, error, created_at}
    queue: Promise.resolve(),
  };
}

export function ensureRoom(st, tid, roomId) {
  const key = roomKey(st, tid);
  let r = S.rooms.get(key);
  if (!r) {
    r = newRoom(st, tid);
    S.rooms.set(key, r);
  }
  if (roomId) r.room_id = roomId;
  return r;
}

function targetOf(m) {
  if (m.session_type === SESSION.PRIVATE) {
    return m.sender_id === S.me.id ? m.receiver_id : m.sender_id;
  }
  return m.receiver_id;
}

/** Conversations, pinned first, then the most recent (my groups even before their first message). */
export function sortedRooms() {
  return [...S.rooms.values()]
    .filter((r) => r.session_type !== SESSION.WORLD || S.world.on)
    .filter((r) => r.last_message || r.pending.length || r.have > 0
      || (r.session_type === SESSION.GROUP && S.groups.has(r.target_id) && !S.groups.get(r.target_id).left))
    .sort((a, b) => (b.pinned - a.pinned) || (b.last_active_at - a.last_active_at));
}

// ---- names -------------------------------------------------------------------------------

export function userName(id) {
  if (S.me && id === S.me.id) return S.me.nickname;
  const f = S.friends.get(id);
  if (f) return f.remark || f.nickname;
  const u = S.users.get(id);
  return u ? u.nickname : t('chat.user', { id });
}

export function roomName(r) {
  if (r.session_type === SESSION.PRIVATE) return userName(r.target_id);
  if (r.session_type === SESSION.GROUP) {
    const g = S.groups.get(r.target_id);
    return g && g.name ? g.name : t('chat.group', { id: r.target_id });
  }
  return t('chat.world');
}

/** The avatar (as stored by the server) of a conversation's friend, user or group. */
export function roomAvatar(r) {
  if (r.session_type === SESSION.PRIVATE) {
    const f = S.friends.get(r.target_id) || S.users.get(r.target_id);
    return f ? f.avatar : '';
  }
  if (r.session_type === SESSION.GROUP) {
    const g = S.groups.get(r.target_id);
    return g ? g.avatar : '';
  }
  return '';
}

/** Learn the names of users we do not know yet (search cards; one request each). */
export async function lookupUsers(ids) {
  const missing = [...new Set(ids)].filter((id) => id && !S.users.has(id) && !S.friends.has(id));
  if (!missing.length) return;
  await Promise.all(missing.map(async (id) => {
    try {
      const cards = await api.friends.card(id);
      const card = cards.find((c) => c.id === id);
      if (card) S.users.set(id, card);
    } catch { /* shown by id */ }
  }));
  emit('users');
}

async function lookupGroups(ids) {
  const missing = [...new Set(ids)].filter((id) => !S.groups.has(id));
  await Promise.all(missing.map(async (id) => {
    try {
      S.groups.set(id, await api.groups.info(id));
    } catch { /* shown by id */ }
  }));
  if (missing.length) emit('users');
}

// ---- the world channel -------------------------------------------------------------------

function worldSwitch() {
  try {
    return localStorage.getItem(WORLD_KEY) !== 'off';
  } catch {
    return true;
  }
}

/** What the server says of the world channel (exists, ids, muted, slow mode). */
export async function loadWorld() {
  try {
    S.world.info = await api.chat.worldInfo();
  } catch { /* asked again on the next connection */ }
  emit('world');
  emit('rooms');
  return S.world.info;
}

/** The world channel a person opens (the server's first). */
export function worldId() {
  const info = S.world.info;
  return info && info.enabled && info.world_ids.length ? info.world_ids[0] : null;
}

/**
 * Switch the world channel on or off for me (kept in this browser): off, this tab's socket
 * stops receiving it and it leaves the conversation list; on, what was missed is fetched.
 */
export function setWorld(enabled) {
  S.world.on = enabled;
  try {
    localStorage.setItem(WORLD_KEY, enabled ? 'on' : 'off');
  } catch { /* private mode: the switch lasts for this page */ }
  socket.send('world', { enabled });
  if (enabled) {
    const items = [...S.rooms.values()].filter((r) => r.session_type === SESSION.WORLD && r.known).map(catchUpItem);
    if (items.length) socket.catchUp(items);
    loadConversations().catch(() => {});
  }
  emit('world');
  emit('rooms');
}

// ---- session -----------------------------------------------------------------------------

let started = false;

/** Load what the signed-in person sees, then open the socket. */
export async function start() {
  S.me = await api.profile.info();
  started = true;
  await Promise.all([loadConversations(), loadFriends(), loadInvites(), loadGroups(), loadGroupInvites(),
    loadWorld()]);
  socket.start();
}

/** Change my nickname or status; the page shows the answer. */
export async function updateProfile(fields) {
  S.me = await api.profile.update(fields);
  emit('me');
}

/** My profile as a route answered it (e.g. after binding an email address). */
export function updateMe(profile) {
  S.me = profile;
  emit('me');
}

export function isSignedIn() {
  return !!api.getToken();
}

export async function signIn(token) {
  api.setToken(token);
  S.notice = '';
  await start();
  emit('auth');
}

/** Sign out: `reason` ('revoked', 'expired') when the server ended the session. */
export async function signOut(reason) {
  const wasStarted = started;
  started = false;
  socket.stop();
  if (!reason && api.getToken()) {
    try {
      await api.auth.logout();
    } catch { /* the token is dropped anyway */ }
  }
  api.setToken('');
  S.me = null;
  S.friends.clear();
  S.users.clear();
  S.groups.clear();
  S.rooms.clear();
  S.invites = { received: [], sent: [] };
  S.groupInvites = [];
  S.world.info = null;
  S.openKey = null;
  S.notice = reason ? t(reason === 'expired' ? 'session.expired' : 'session.revoked') : '';
  if (wasStarted || reason) emit('auth');
}

api.setUnauthorizedHandler(() => {
  if (api.getToken()) signOut('revoked');
});

// ---- loading -----------------------------------------------------------------------------

export async function loadConversations() {
  const list = await api.chat.conversations();
  for (const c of list) {
    const r = ensureRoom(c.session_type, c.target_id, c.room_id);
    if (!r.known || c.last_message_id >= r.have) {
      // The list is the truth for a conversation we did not follow, or follow no further.
      if (c.last_message_id > r.have) {
        r.have = c.last_message_id;
        r.last_message = c.last_message;
        r.last_active_at = c.last_active_at;
      }
      r.unread = S.openKey === r.key && visible() ? 0 : c.unread;
      r.read_message_id = Math.max(r.read_message_id, c.read_message_id);
    }
    r.known = true;
    r.pinned = c.pinned;
    r.muted = c.muted;
    if (c.peer_read_message_id != null) r.peer_read_message_id = c.peer_read_message_id;
  }
  const rooms = [...S.rooms.values()];
  lookupUsers(rooms.filter((r) => r.session_type === SESSION.PRIVATE).map((r) => r.target_id));
  lookupGroups(rooms.filter((r) => r.session_type === SESSION.GROUP).map((r) => r.target_id));
  emit('rooms');
}

export async function loadFriends() {
  const list = await api.friends.list();
  S.friends = new Map(list.map((f) => [f.user_id, f]));
  emit('friends');
  emit('rooms');
}

export async function loadInvites() {
  const [received, sent] = await Promise.all([api.friends.received(), api.friends.sent()]);
  S.invites = { received, sent };
  emit('invites');
  await lookupUsers([...received.map((i) => i.user_id), ...sent.map((i) => i.target_id)]);
  emit('invites');
}

/** Invitations to groups waiting for my answer. */
export async function loadGroupInvites() {
  S.groupInvites = await api.groups.invites();
  emit('invites');
}

/** Accept (join the group) or decline an invitation to group `groupId`. */
export async function answerGroupInvite(groupId, accept) {
  try {
    await api.groups.answerInvite(groupId, accept);
  } finally {
    await Promise.all([loadGroupInvites(), accept ? loadGroups() : null]);
  }
}

/** My groups: each has a conversation, listed even before its first message. */
export async function loadGroups() {
  const list = await api.groups.mine();
  const mine = new Set(list.map((g) => g.group_id));
  for (const [id, g] of S.groups) if (!mine.has(id)) g.left = true;
  for (const g of list) {
    S.groups.set(g.group_id, g);
    ensureRoom(SESSION.GROUP, g.group_id);
  }
  emit('groups');
  emit('users');
  emit('rooms');
}

/** Set or clear my remark for a friend (shown before their nickname everywhere). */
export async function setRemark(userId, remark) {
  await api.friends.remark(userId, remark);
  await loadFriends();
}

/** Block or unblock a friend. */
export async function setBlocked(userId, blocked) {
  await api.friends.block(userId, blocked);
  await loadFriends();
}

/** Delete a friend; with `clearHistory` our conversation also leaves my history. */
export async function deleteFriend(userId, clearHistory) {
  await api.friends.remove(userId, clearHistory);
  if (clearHistory) {
    // What I held of it is gone: the list and history are fetched again (as tombstones).
    const key = roomKey(SESSION.PRIVATE, userId);
    S.rooms.delete(key);
    if (S.openKey === key) {
      S.openKey = null;
      location.hash = '#/chats';
    }
    await loadConversations();
  }
  await loadFriends();
}

/** Pin or unpin a conversation (pinned ones are listed first). */
export async function setPinned(r, pinned) {
  await api.chat.pin(r.session_type, r.target_id, pinned);
  r.pinned = pinned;
  emit('rooms');
}

/** Mute or unmute a conversation (no notifications, a grey dot instead of a count). */
export async function setMuted(r, muted) {
  await api.chat.mute(r.session_type, r.target_id, muted);
  r.muted = muted;
  emit('rooms');
}

/** A group's members (roles, mutes); kept fresh by group events while asked for. */
export async function loadMembers(groupId) {
  const list = await api.groups.members(groupId);
  S.members.set(groupId, list);
  emit('members', groupId);
  return list;
}

/**
 * A group action (owner/admin, or leaving); a refusal is thrown. Afterwards the group and
 * its members are fetched again (quietly: after leaving, the members are no longer mine).
 */
export async function groupAction(groupId, fn) {
  await fn(api.groups);
  const g = S.groups.get(groupId);
  await loadGroups().catch(() => {});
  if (g && g.left) S.members.delete(groupId);
  else if (S.members.has(groupId)) await loadMembers(groupId).catch(() => {});
}

/**
 * Join a group through an invite link (`token`) or by its id (open groups at once, approval
 * groups by a request with `message`); resolves to the server's {group_id, status}.
 */
export async function joinGroup({ token, groupId, message }) {
  const out = token ? await api.groups.joinByLink(token) : await api.groups.join(groupId, message);
  if (out.status === 'joined') await loadGroups();
  return out;
}

/** Create a group with some friends; resolves to its id. */
export async function createGroup(name, memberIds) {
  const out = await api.groups.create(name, memberIds);
  await loadGroups();
  return out.group_id;
}

let reloadTimer = 0;
function reloadFriendsSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => {
    loadFriends().catch(() => {});
    loadInvites().catch(() => {});
    loadConversations().catch(() => {});
  }, 150);
}

// ---- messages ----------------------------------------------------------------------------

function visible() {
  return document.visibilityState === 'visible';
}

function viewing(r) {
  return S.openKey === r.key && visible();
}

/** A message from the server (push, catch-up, our own send's answer), taken in order. */
export function receive(m) {
  if (!S.me) return;
  const r = ensureRoom(m.session_type, targetOf(m), m.room_id);
  r.queue = r.queue.then(() => deliver(r, m)).catch((e) => console.warn('deliver', e));
}

async function deliver(r, m) {
  if (m.message_id > r.have + 1) await fillGap(r, m.message_id - 1);
  accept(r, [m]);
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/** Fetch what lies between what we hold and `upto` (inclusive). */
async function fillGap(r, upto) {
  for (let tries = 0; r.have < upto && tries < 6; ) {
    try {
      if (!r.known) {
        // A conversation new to us: its newest page is enough for the list and the chat.
        const page = await api.chat.latest(r.session_type, r.target_id, 50);
        r.known = true;
        const first = page.messages[0];
        if (first && first.message_id > r.have + 1 && r.loaded) resetWindow(r, first.message_id, page.has_more);
        accept(r, page.messages);
        if (r.have < upto) r.have = upto; // nothing newer stored: take what comes next
        return;
      }
      const page = await api.chat.after(r.session_type, r.target_id, r.have, 200);
      if (!page.messages.length) {
        r.have = Math.max(r.have, upto);
        return;
      }
      accept(r, page.messages);
    } catch (e) {
      tries += 1;
      await sleep(1000 * tries);
    }
  }
  r.have = Math.max(r.have, upto);
}

function resetWindow(r, oldest, hasMoreBefore) {
  r.messages.clear();
  r.oldest = oldest;
  r.hasMoreBefore = hasMoreBefore;
}

/** Take messages (ascending ids, contiguous with `have` when newer than it). */
function accept(r, msgs) {
  let newest = false;
  for (const m of [...msgs].sort((a, b) => a.message_id - b.message_id)) {
    if (m.room_id) r.room_id = m.room_id;
    if (m.message_id > r.have) {
      r.have = m.message_id;
      r.last_message = m;
      r.last_active_at = m.created_at;
      if (m.sender_id !== S.me.id && !viewing(r)) r.unread += 1;
      // The world channel is everyone's: it never raises notifications.
      if (m.sender_id !== S.me.id && !visible() && !r.muted && r.known && r.session_type !== SESSION.WORLD) {
        notify.show(roomName(r), preview(m), r.key, () => {
          location.hash = `#/chat/${r.session_type}/${r.target_id}`;
        });
      }
      newest = true;
    } else if (r.last_message && r.last_message.message_id === m.message_id) {
      r.last_message = m;
    }
    if (r.loaded && m.message_id >= r.oldest) r.messages.set(m.message_id, m);
    r.pending = r.pending.filter((p) => p.action_id !== m.action_id && p.message_id !== m.message_id);
  }
  if (newest && viewing(r)) markRead(r);
  emit('room', r.key);
  emit('rooms');
}

/** Open a conversation: its newest page of history, read up to its end. */
export async function openRoom(st, tid) {
  const r = ensureRoom(st, tid);
  S.openKey = r.key;
  r.unread = 0;
  emit('rooms');
  if (!r.loaded) {
    r.queue = r.queue.then(async () => {
      const page = await api.chat.latest(st, tid, 40);
      r.loaded = true;
      r.known = true;
      const first = page.messages[0];
      resetWindow(r, first ? first.message_id : r.have + 1, page.has_more);
      // What we held before the page's start is below the window; newer than `have` is new.
      for (const m of page.messages) if (m.message_id <= r.have) r.messages.set(m.message_id, m);
      accept(r, page.messages);
    }).catch((e) => {
      console.warn('history', e);
      emit('room', r.key);
    });
    await r.queue;
  }
  markRead(r);
  if (st === SESSION.GROUP) loadReaders(r);
  return r;
}

/** How far the other members of an open group have read ("read by N" under my messages). */
export async function loadReaders(r) {
  try {
    const list = await api.chat.readPositions(r.target_id);
    const readers = new Map(list.map((x) => [x.user_id, x.read_message_id]));
    // Frames that came while asking are not lost: a position never moves back.
    for (const [u, at] of r.readers || []) if (at > (readers.get(u) || 0)) readers.set(u, at);
    r.readers = readers;
    emit('reads', r.key);
  } catch { /* shown without; asked again when the chat opens */ }
}

export function closeRoom() {
  S.openKey = null;
}

/** Older messages of an open conversation; false when there are none. */
export async function loadOlder(r) {
  if (!r.loaded || !r.hasMoreBefore) return false;
  const page = await api.chat.before(r.session_type, r.target_id, r.oldest, 40);
  for (const m of page.messages) r.messages.set(m.message_id, m);
  if (page.messages.length) r.oldest = page.messages[0].message_id;
  r.hasMoreBefore = page.has_more && page.messages.length > 0;
  emit('room', r.key);
  return true;
}

let readTimer = 0;
/** Mark the open conversation read, while the person can see it (never from a hidden tab). */
export function markRead(r) {
  if (!r || !viewing(r)) return;
  if (r.have <= r.read_message_id) {
    if (r && r.unread) {
      r.unread = 0;
      emit('rooms');
    }
    return;
  }
  r.unread = 0;
  emit('rooms');
  // What the person saw now: a message arriving while the tab is hidden stays unread.
  const id = r.have;
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    if (id <= r.read_message_id) return;
    r.read_message_id = id;
    const data = { session_type: r.session_type, target_id: r.target_id, message_id: id };
    if (!socket.send('read', data)) api.chat.read(r.session_type, r.target_id, id).catch(() => {});
  }, 200);
}

document.addEventListener('visibilitychange', () => {
  if (visible() && S.openKey) markRead(S.rooms.get(S.openKey));
});

/** Send a text: shown at once as pending, confirmed by the server's answer. */
export function sendText(r, text) {
  const p = { action_id: api.newActionId(), text, status: 'sending', error: null, created_at: Date.now() };
  r.pending.push(p);
  emit('room', r.key);
  emit('rooms');
  submit(r, p);
}

/** Send a photo: previewed at once from the file, uploaded, then sent by reference. */
export function sendPhoto(r, file) {
  const p = {
    action_id: api.newActionId(), kind: 'image', text: '', file, previewUrl: URL.createObjectURL(file),
    status: 'sending', error: null, created_at: Date.now(),
  };
  r.pending.push(p);
  emit('room', r.key);
  emit('rooms');
  submit(r, p);
}

/** Send a recorded voice note of `duration` seconds: pending at once, like a photo. */
export function sendVoice(r, blob, duration) {
  const p = {
    action_id: api.newActionId(), kind: 'voice', text: '', file: blob, duration,
    status: 'sending', error: null, created_at: Date.now(),
  };
  r.pending.push(p);
  emit('room', r.key);
  emit('rooms');
  submit(r, p);
}

/** Send a video (its length as the browser read it, when it could): pending at once. */
export function sendVideo(r, file, duration) {
  queueSend(r, { kind: 'video', file, duration, previewUrl: URL.createObjectURL(file) });
}

/** Send any file: pending at once with its name and size, downloaded under its name. */
export function sendFile(r, file) {
  queueSend(r, { kind: 'file', file });
}

/** Share a position the person chose to send (see the composer). */
export function sendLocation(r, latitude, longitude) {
  queueSend(r, { kind: 'location', latitude, longitude });
}

function queueSend(r, fields) {
  const p = { action_id: api.newActionId(), text: '', status: 'sending', error: null, created_at: Date.now(), ...fields };
  r.pending.push(p);
  emit('room', r.key);
  emit('rooms');
  submit(r, p);
}

/** Send a failed message again, under the same action id (never stored twice). */
export function retry(r, actionId) {
  const p = r.pending.find((x) => x.action_id === actionId);
  if (p && p.status === 'failed') submit(r, p);
}

async function submit(r, p) {
  p.status = 'sending';
  p.error = null;
  emit('room', r.key);
  try {
    let type = 1;
    let body = { text: p.text };
    if (p.kind === 'image') {
      // An upload that worked is not repeated by a retry.
      if (!p.media_id) p.media_id = (await uploadPhoto(p.file)).id;
      type = 2;
      body = { media_id: p.media_id };
    } else if (p.kind === 'voice') {
      if (!p.media_id) p.media_id = (await uploadVoice(p.file)).id;
      type = 3;
      body = { media_id: p.media_id, duration: p.duration };
    } else if (p.kind === 'video') {
      if (!p.media_id) p.media_id = (await uploadVideo(p.file)).id;
      type = 4;
      body = p.duration ? { media_id: p.media_id, duration: p.duration } : { media_id: p.media_id };
    } else if (p.kind === 'file') {
      if (!p.media_id) p.media_id = (await uploadFile(p.file)).id;
      type = 6;
      body = { media_id: p.media_id };
    } else if (p.kind === 'location') {
      type = 5;
      body = { latitude: p.latitude, longitude: p.longitude };
    }
    const m = await api.chat.send({
      action_id: p.action_id,
      session_type: r.session_type,
      type,
      target_id: r.target_id,
      body,
    });
    p.status = 'sent';
    p.message_id = m.message_id;
    if (p.previewUrl && p.kind === 'video') URL.revokeObjectURL(p.previewUrl);
    receive(m);
  } catch (e) {
    p.status = 'failed';
    p.error = e;
    emit('room', r.key);
  }
}

/** A message became a tombstone (3 recalled, 2 deleted for me): it keeps its place. */
function setStatus(r, messageId, status) {
  const m = r.messages.get(messageId);
  if (m) r.messages.set(messageId, { ...m, status });
  if (r.last_message && r.last_message.message_id === messageId) {
    r.last_message = { ...r.last_message, status };
  }
  emit('room', r.key);
  emit('rooms');
}

/** Recall a message (mine within the server's window; group admins: members' too). */
export async function recall(r, messageId) {
  await api.chat.recall(r.session_type, r.target_id, messageId);
  setStatus(r, messageId, 3);
}

/** Delete a message from my own history only. */
export async function deleteForMe(r, messageId) {
  await api.chat.remove(r.session_type, r.target_id, messageId);
  setStatus(r, messageId, 2);
}

let lastTypingSent = 0;
export function typing(r) {
  const now = Date.now();
  if (now - lastTypingSent < 3000) return;
  lastTypingSent = now;
  socket.send('typing', { session_type: r.session_type, target_id: r.target_id });
}

// ---- the socket --------------------------------------------------------------------------

function roomById(roomId) {
  for (const r of S.rooms.values()) if (r.room_id === roomId) return r;
  return null;
}

function catchUpItem(r) {
  return { session_type: r.session_type, target_id: r.target_id, last_message_id: r.have };
}

function catchUpLater(r) {
  setTimeout(() => socket.catchUp([catchUpItem(r)]), 2000);
}

function handleFrame({ type, data }) {
  if (!data) data = {};
  switch (type) {
    case 'chat_message':
      receive(data);
      break;
    case 'catch_up': {
      const r = S.rooms.get(roomKey(data.session_type, data.target_id));
      if (!r) break;
      if (data.code) catchUpLater(r);
      else if (data.truncated) {
        r.queue = r.queue.then(() => fillGap(r, data.last_message_id)).then(() => emit('room', r.key));
      }
      break;
    }
    case 'error':
      if (data.room_id) {
        const r = roomById(data.room_id);
        if (r) catchUpLater(r);
      }
      break;
    case 'resync':
      loadConversations().catch(() => {});
      break;
    case 'message_recalled':
    case 'message_deleted': {
      const r = roomById(data.room_id);
      if (r) setStatus(r, data.message_id, type === 'message_recalled' ? 3 : 2);
      break;
    }
    case 'read_position': {
      const r = S.rooms.get(roomKey(data.session_type, data.target_id)) || roomById(data.room_id);
      if (!r) break;
      if (data.user_id === S.me.id) {
        r.read_message_id = Math.max(r.read_message_id, data.read_message_id);
        if (r.read_message_id >= r.have) r.unread = 0;
        emit('rooms');
      } else if (r.session_type === SESSION.PRIVATE) {
        r.peer_read_message_id = Math.max(r.peer_read_message_id || 0, data.read_message_id);
        emit('room', r.key);
      } else if (r.session_type === SESSION.GROUP && r.readers) {
        // A member read messages of mine: my "read by N" counts up.
        r.readers.set(data.user_id, Math.max(r.readers.get(data.user_id) || 0, data.read_message_id));
        emit('reads', r.key);
      }
      break;
    }
    case 'conversation_flagged': {
      // Pinned or muted on another of my devices.
      const r = S.rooms.get(roomKey(data.session_type, data.target_id)) || roomById(data.room_id);
      if (!r) break;
      if (typeof data.pinned === 'boolean') r.pinned = data.pinned;
      if (typeof data.muted === 'boolean') r.muted = data.muted;
      emit('rooms');
      break;
    }
    case 'typing': {
      const st = data.session_type;
      const key = roomKey(st, st === SESSION.PRIVATE ? data.user_id : data.target_id);
      S.typing.set(key, { until: Date.now() + 4000, user_id: data.user_id });
      emit('typing', key);
      setTimeout(() => emit('typing', key), 4100);
      break;
    }
    case 'presence': {
      const f = S.friends.get(data.user_id);
      if (f) {
        f.online_status = data.online_status;
        emit('friends');
      }
      break;
    }
    case 'friend_invite':
    case 'friend_event':
      reloadFriendsSoon();
      break;
    case 'group_event':
      // The open panel also refreshes what the event touches (join requests, links, bans).
      emit('group_event', data);
      if (data.kind === 'invited' || data.kind === 'member_joined') loadGroupInvites().catch(() => {});
      if (S.members.has(data.group_id)) loadMembers(data.group_id).catch(() => {});
      loadGroups().catch(() => {});
      loadConversations().catch(() => {});
      break;
    case 'kicked':
      signOut('revoked');
      break;
    default:
      break;
  }
}

socket.configure({
  catchUpItems: () => [...S.rooms.values()]
    .filter((r) => r.known && (r.session_type !== SESSION.WORLD || S.world.on)).map(catchUpItem),
  frame: handleFrame,
  status: (s) => {
    S.connection = s;
    emit('connection', s);
  },
  opened: () => {
    // Each connection receives the world channel unless told otherwise.
    if (!S.world.on) socket.send('world', { enabled: false });
    // Conversations that began while we were away are not in our catch-up: list them.
    loadConversations().catch(() => {});
    const open = S.openKey && S.rooms.get(S.openKey);
    if (open && open.session_type === SESSION.GROUP && open.readers) loadReaders(open);
    if (S.me) loadWorld();
    if (S.me) {
      loadFriends().catch(() => {});
      loadInvites().catch(() => {});
      loadGroups().catch(() => {});
      loadGroupInvites().catch(() => {});
    }
  },
  kicked: () => signOut('revoked'),
  refused: () => {
    // A refused upgrade looks like a network failure; ask over HTTP whether the token holds
    // (a 401 signs out through the API's handler).
    api.profile.info().catch(() => {});
  },
});
