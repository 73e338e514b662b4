// The REST client: every call goes to /api/v1/…, carries the token, and unwraps the server's
// envelope {request_id, status: 1|2, error, code, data}. A refusal becomes an ApiError with
// the server's stable `code` (or NETWORK when the server could not be reached).

const TOKEN_KEY = 'jim.token';
let token = readToken();
let onUnauthorized = () => {};

function readToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export class ApiError extends Error {
  constructor(status, code, message, data) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.data = data || {};
  }
}

export function getToken() {
  return token;
}

export function setToken(value) {
  token = value || '';
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch { /* private mode: the session lasts for this page */ }
}

/** Called once when the server says the token is no longer good (revoked, expired). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

const TOKEN_CODES = new Set(['TOKEN_EMPTY', 'TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_REVOKED']);

export async function request(method, path, { query, body, form } = {}) {
  const url = new URL(`/api/v1/${path}`, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  // The language chosen in the page, not only the browser's: mails the server sends follow it.
  const headers = { Accept: 'application/json', 'Accept-Language': document.documentElement.lang || 'en' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (form) {
    payload = form;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body: payload, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'NETWORK', e && e.message);
  }
  let env;
  try {
    env = await res.json();
  } catch {
    throw new ApiError(res.status, res.status >= 500 ? 'UNAVAILABLE' : 'BAD_RESPONSE', res.statusText);
  }
  if (!env || env.status !== 1) {
    const err = new ApiError(res.status, (env && env.code) || 'ERROR', env && env.error, env && env.data);
    if (res.status === 401 && token && TOKEN_CODES.has(err.code)) onUnauthorized(err);
    throw err;
  }
  return env.data;
}

export const get = (path, query) => request('GET', path, { query });
export const post = (path, body) => request('POST', path, { body: body || {} });

/** A fresh id for an action (message send): a retry with the same id is never stored twice. */
export function newActionId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// The routes the client uses, named after what they do.
export const auth = {
  captcha: () => get('auth/captcha', { type: 'digit' }),
  register: (fields) => post('auth/register', fields),
  login: (fields) => post('auth/login', fields),
  logout: () => post('auth/logout'),
  sessions: () => get('auth/sessions'),
  revoke: (sessionId) => post('auth/sessions/revoke', { session_id: sessionId }),
  revokeOthers: () => post('auth/sessions/revoke', { all_others: true }),
};

export const profile = {
  info: () => get('profile/info'),
  update: (fields) => post('profile/update', fields),
  password: (oldPassword, newPassword, confirm) =>
    post('profile/password', { old_password: oldPassword, new_password: newPassword, confirm_password: confirm }),
};

export const friends = {
  find: (q) => get('friend/find', /^\d+$/.test(q) ? { user_id: q } : { nickname: q }),
  card: (id) => get('friend/find', { user_id: id }),
  list: (afterId) => get('friend/list', { after_id: afterId, limit: 1000 }),
  invite: (userId, note) => post('friend/invite/add', { user_id: userId, note }),
  answer: (id, status, reply) => post('friend/invite/update', { id, status, reply: reply || '' }),
  received: () => get('friend/invite/received', { limit: 100 }),
  sent: () => get('friend/invite/sent', { limit: 100 }),
  remark: (userId, remark) => post('friend/update', { user_id: userId, remark }),
  remove: (userId, deleteHistory) => post('friend/update', { user_id: userId, status: 0, delete_history: !!deleteHistory }),
  // block_status keeps the original JIM's meaning: 0 blocks, 1 unblocks.
  block: (userId, blocked) => post('friend/update', { user_id: userId, block_status: blocked ? 0 : 1 }),
};

export const chat = {
  conversations: () => get('chat/conversations'),
  latest: (st, tid, limit) => get('chat/message/list', { session_type: st, target_id: tid, limit }),
  before: (st, tid, id, limit) =>
    get('chat/message/list', { session_type: st, target_id: tid, before_message_id: id, limit }),
  after: (st, tid, id, limit) =>
    get('chat/message/list', { session_type: st, target_id: tid, after_message_id: id, limit }),
  send: (fields) => post('chat/message/send', fields),
  recall: (st, tid, messageId) =>
    post('chat/message/rollback', { session_type: st, target_id: tid, message_id: messageId }),
  remove: (st, tid, messageId) =>
    post('chat/message/delete', { session_type: st, target_id: tid, message_id: messageId }),
  read: (st, tid, messageId) =>
    post('chat/message/read', { session_type: st, target_id: tid, message_id: messageId }),
  pin: (st, tid, pinned) => post('chat/conversation/pin', { session_type: st, target_id: tid, pinned }),
  mute: (st, tid, muted) => post('chat/conversation/mute', { session_type: st, target_id: tid, muted }),
  readPositions: (groupId) => get('chat/read_positions', { session_type: 2, target_id: groupId }),
  worldInfo: () => get('chat/world/info'),
};

export const media = {
  upload: (file, kind) => {
    const form = new FormData();
    form.append('kind', kind); // before the file: the server reads parts in order
    form.append('file', file, file.name || 'upload');
    return request('POST', 'media/upload', { form });
  },
  sign: (ids) => post('media/sign', { ids }),
};

export const groups = {
  info: (id) => get('group/info', { group_id: id }),
  mine: () => get('group/mine'),
  create: (name, memberIds) => post('group/create', { name: name || undefined, member_ids: memberIds }),
  members: (id) => get('group/members', { group_id: id }),
  leave: (id) => post('group/leave', { group_id: id }),
  muteAll: (id, muted) => post('group/update', { group_id: id, speak_status: muted ? 0 : 1 }),
  // mutedUntil: Unix ms, or null for a mute without end; unmute with speak_status 1.
  mute: (id, userId, mutedUntil) => post('group/member/update', mutedUntil
    ? { group_id: id, user_id: userId, speak_status: 0, muted_until: mutedUntil }
    : { group_id: id, user_id: userId, speak_status: 0 }),
  unmute: (id, userId) => post('group/member/update', { group_id: id, user_id: userId, speak_status: 1 }),
  setRole: (id, userId, role) => post('group/member/update', { group_id: id, user_id: userId, role }),
  remove: (id, userId) => post('group/member/remove', { group_id: id, user_ids: [userId] }),
  ban: (id, userId) => post('group/member/remove', { group_id: id, user_ids: [userId], ban: true }),
  bans: (id) => get('group/bans', { group_id: id }),
  unban: (id, userId) => post('group/unban', { group_id: id, user_id: userId }),
  // fields: any of name, avatar (a URL or an avatar upload's id; '' clears), announcement, join_policy.
  update: (id, fields) => post('group/update', { group_id: id, ...fields }),
  transfer: (id, userId) => post('group/transfer', { group_id: id, user_id: userId }),
  dissolve: (id) => post('group/dissolve', { group_id: id }),
  add: (id, userIds) => post('group/member/add', { group_id: id, user_ids: userIds }),
  invite: (id, userIds) => post('group/invite', { group_id: id, user_ids: userIds }),
  join: (id, message) => post('group/join', { group_id: id, message: message || undefined }),
  requests: (id) => get('group/requests', { group_id: id }),
  answerRequest: (id, userId, accept) =>
    post(accept ? 'group/request/accept' : 'group/request/reject', { group_id: id, user_id: userId }),
  links: (id) => get('group/links', { group_id: id }),
  createLink: (id) => post('group/link/create', { group_id: id }),
  revokeLink: (id, token) => post('group/link/revoke', { group_id: id, token }),
  joinByLink: (token) => post('group/link/join', { token }),
  // Invitations to me (sent by members when the group lets them invite); I join by accepting.
  invites: () => get('group/invites'),
  answerInvite: (id, accept) => post(accept ? 'group/invite/accept' : 'group/invite/reject', { group_id: id }),
};
