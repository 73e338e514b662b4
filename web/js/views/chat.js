// One open conversation: history that grows upwards as the person scrolls, day separators,
// my messages apart from the others', links made clickable (http/https only, as text
// otherwise), a composer whose sends show at once as pending and can be retried.

import { avatar, h, linkify } from '../dom.js';
import { KIND, clock, dayLabel, sameDay } from '../format.js';
import { errorText, t } from '../i18n.js';
import { fit, urlsOf } from '../media.js';
import { groupPanel, muteReason } from './group.js';
import {
  S, SESSION, closeRoom, deleteForMe, loadOlder, lookupUsers, markRead, on, openRoom, recall, retry,
  roomKey, roomName, sendPhoto, sendText, sendVoice, typing, userName, loadMembers,
} from '../state.js';

const PHOTO_EDGE = 240;

/** A picture of a known size; `src` is set when known (a blob: preview or a signed URL). */
function picture(width, height, src) {
  const size = fit(width, height, PHOTO_EDGE);
  const img = h('img', { class: 'photo', alt: t('msg.image'), width: size.width, height: size.height });
  if (src) img.src = src;
  return img;
}

/** The full-size photo over the page; closed by a click, the button or Escape. */
function lightbox(url) {
  const img = h('img', { class: 'lightbox-img', alt: t('msg.image') });
  img.src = url;
  const close = () => {
    box.remove();
    document.removeEventListener('keydown', onKey);
  };
  const onKey = (ev) => { if (ev.key === 'Escape') close(); };
  const box = h('div', { class: 'lightbox', role: 'dialog', 'aria-modal': 'true', onclick: close },
    img, h('button', { type: 'button', class: 'lightbox-close', 'aria-label': t('chat.close') }, '×'));
  document.addEventListener('keydown', onKey);
  document.body.append(box);
}

function photoOf(m) {
  const b = m.body || {};
  const img = picture(b.width, b.height);
  const button = h('button', { type: 'button', class: 'photo-button', 'aria-label': t('chat.openPhoto') }, img);
  if (typeof b.media_id !== 'string') {
    button.disabled = true;
    return button;
  }
  urlsOf(b.media_id).then((urls) => {
    if (!urls) {
      button.replaceChildren(h('em', { class: 'tombstone' }, t('chat.photoUnavailable')));
      return;
    }
    img.src = urls.thumbnail_url || urls.url;
    button.addEventListener('click', () => lightbox(urls.url));
  });
  return button;
}

/** "0:07" for a voice note's seconds. */
function seconds(s) {
  const n = Math.max(0, Math.round(Number(s) || 0));
  return `${Math.floor(n / 60)}:${String(n % 60).padStart(2, '0')}`;
}

/** A voice note: the browser's player on a signed URL, with the length the sender measured. */
function voiceOf(m) {
  const b = m.body || {};
  const audio = h('audio', { class: 'voice-audio', controls: true, preload: 'metadata' });
  const el = h('span', { class: 'voice' }, audio,
    b.duration ? h('span', { class: 'voice-length small' }, seconds(b.duration)) : null);
  if (typeof b.media_id !== 'string') return el;
  urlsOf(b.media_id).then((urls) => {
    if (!urls) el.replaceChildren(h('em', { class: 'tombstone' }, t('chat.voiceUnavailable')));
    else audio.src = urls.url;
  });
  return el;
}

function bodyOf(m) {
  if (m.status === 3) return h('em', { class: 'tombstone' }, t('msg.recalled'));
  if (m.status === 2) return h('em', { class: 'tombstone' }, t('msg.deleted'));
  if (m.type === 1) return linkify(String((m.body && m.body.text) || ''));
  if (m.type === 2) return photoOf(m);
  if (m.type === 3) return voiceOf(m);
  return h('em', null, t(KIND[m.type] || 'msg.unknown'));
}

export function mountChat(root, st, tid) {
  const key = roomKey(st, tid);
  let room = S.rooms.get(key) || null;
  let stickToBottom = true;
  const cache = new Map(); // "id:status" -> element
  const asked = new Set(); // senders whose names were asked for

  const title = h('h2', { class: 'chat-title' });
  const subtitle = h('span', { class: 'chat-sub muted small' });
  const head = h('header', { class: 'chat-head' },
    h('a', { href: '#/chats', class: 'back', 'aria-label': t('chat.back') }, '‹'),
    h('span', { class: 'chat-avatar' }),
    h('div', { class: 'chat-head-text' }, title, subtitle),
    st === SESSION.GROUP ? h('button', { type: 'button', class: 'link group-info-button', id: 'group-info-button',
      'aria-label': t('group.info'), title: t('group.info'), onclick: () => togglePanel() }, t('group.infoShort')) : null);
  const list = h('div', { class: 'messages', id: 'messages', role: 'log', 'aria-live': 'polite' });
  const input = h('textarea', { id: 'composer', rows: 1, placeholder: t('chat.compose'),
    'aria-label': t('chat.compose'), maxlength: 5000 });
  const send = h('button', { type: 'submit', class: 'primary send', id: 'send' }, t('chat.send'));
  const fileInput = h('input', { type: 'file', id: 'photo-input', accept: 'image/*', hidden: true });
  const attach = h('button', { type: 'button', class: 'attach', id: 'attach', 'aria-label': t('chat.attach'),
    title: t('chat.attach'), onclick: () => fileInput.click() }, '+');
  const canRecord = !!(window.MediaRecorder && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  const record = canRecord ? h('button', { type: 'button', class: 'attach record', id: 'record',
    'aria-label': t('chat.record'), title: t('chat.record'), onclick: () => startRecording() }, '🎤') : null;
  const composer = h('form', { class: 'composer' }, attach, fileInput, record, input, send);
  const recorderBar = h('div', { class: 'voice-recorder', id: 'voice-recorder', hidden: true });
  const preview = h('div', { class: 'photo-preview', id: 'photo-preview', hidden: true });
  const locked = h('p', { class: 'composer-locked small', id: 'composer-locked', role: 'status', hidden: true });
  const view = h('section', { class: 'chat', dataset: { key } }, head, list, preview, recorderBar, locked, composer);
  root.replaceChildren(view);

  // In a group: the info panel, and the composer closed (with the reason) while I am muted.
  let panel = null;
  function togglePanel() {
    if (panel) {
      panel.destroy();
      panel.el.remove();
      panel = null;
      return;
    }
    panel = groupPanel(tid, togglePanel);
    view.append(panel.el);
  }
  let lockTimer = 0;
  function renderLock() {
    if (st !== SESSION.GROUP) return;
    const { text, next } = muteReason(tid);
    locked.textContent = text;
    locked.hidden = !text;
    for (const c of [input, send, attach, record]) if (c) c.disabled = !!text;
    if (text) stopRecording(false);
    input.placeholder = text ? t('group.cannotWrite') : t('chat.compose');
    clearTimeout(lockTimer);
    if (next) lockTimer = setTimeout(renderLock, Math.min(next - Date.now() + 500, 2 ** 31 - 1));
  }
  if (st === SESSION.GROUP) loadMembers(tid).catch(() => {});

  function renderHead() {
    const name = room ? roomName(room) : '';
    title.textContent = name;
    head.querySelector('.chat-avatar').replaceChildren(avatar(name, tid));
    const typingInfo = S.typing.get(key);
    if (typingInfo && typingInfo.until > Date.now()) {
      subtitle.textContent = st === SESSION.PRIVATE ? t('chat.typing')
        : `${userName(typingInfo.user_id)} ${t('chat.typing')}`;
      subtitle.classList.add('typing');
      return;
    }
    subtitle.classList.remove('typing');
    const f = st === SESSION.PRIVATE ? S.friends.get(tid) : null;
    const g = st === SESSION.GROUP ? S.groups.get(tid) : null;
    if (f) subtitle.textContent = t(`presence.${f.online_status}`);
    else if (g && g.member_count) subtitle.textContent = t('groups.members', { n: g.member_count });
    else subtitle.textContent = '';
  }

  function messageEl(m) {
    const cacheKey = `${m.message_id}:${m.status}`;
    const hit = cache.get(cacheKey);
    if (hit) return hit;
    const mine = m.sender_id === S.me.id;
    const el = h('div', { class: `msg ${mine ? 'mine' : 'theirs'}`, dataset: { id: String(m.message_id), sender: String(m.sender_id) } },
      !mine && st !== SESSION.PRIVATE ? h('span', { class: 'sender' }, userName(m.sender_id)) : null,
      h('div', { class: `bubble${m.status !== 1 ? ' gone' : ''}${m.type === 2 && m.status === 1 ? ' media' : ''}${m.type === 3 ? ' voice-bubble' : ''}` }, bodyOf(m)),
      h('span', { class: 'meta' }, h('time', null, clock(m.created_at)),
        m.status === 1 ? actionsOf(m, mine) : null));
    cache.set(cacheKey, el);
    return el;
  }

  /** "⋯" on a message: recall (mine) and delete for me; a refusal is said under it. */
  function actionsOf(m, mine) {
    const error = h('span', { class: 'error small', role: 'status' });
    const act = (fn) => async () => {
      try {
        await fn(room, m.message_id);
      } catch (e) {
        error.textContent = errorText(e);
      }
    };
    const menu = h('span', { class: 'msg-actions', hidden: true },
      mine ? h('button', { type: 'button', class: 'link recall', onclick: act(recall) }, t('msg.recall')) : null,
      h('button', { type: 'button', class: 'link delete', onclick: act(deleteForMe) }, t('msg.delete')));
    const more = h('button', { type: 'button', class: 'more', 'aria-label': t('msg.more'), title: t('msg.more'),
      'aria-expanded': 'false', onclick: () => {
        menu.hidden = !menu.hidden;
        more.setAttribute('aria-expanded', String(!menu.hidden));
      } }, '⋯');
    return [more, menu, error];
  }

  function pendingEl(p) {
    const failed = p.status === 'failed';
    return h('div', { class: `msg mine pending${failed ? ' failed' : ''}`, dataset: { actionId: p.action_id } },
      p.kind === 'image'
        ? h('div', { class: 'bubble media' }, picture(p.width, p.height, p.previewUrl))
        : p.kind === 'voice'
          ? h('div', { class: 'bubble voice-bubble' }, `🎤 ${t('msg.voice')} ${seconds(p.duration)}`)
          : h('div', { class: 'bubble' }, linkify(p.text)),
      h('span', { class: 'meta' },
        failed ? h('span', { class: 'error' }, `${t('chat.failed')}: ${errorText(p.error)} `) : t('chat.sending'),
        failed ? h('button', { type: 'button', class: 'link retry', onclick: () => retry(room, p.action_id) },
          t('chat.retry')) : null));
  }

  // The page holds a window of at most WINDOW messages of the conversation, not all that were
  // loaded: scrolling near its top or bottom moves it by STEP (fetching older pages when the
  // window reaches the oldest loaded message), so a conversation of any length keeps the page
  // light. `follow` means the window ends at the newest message and new ones come into view.
  const WINDOW = 150;
  const STEP = 50;
  let follow = true;
  let topId = 0; // the first message in the window while not following
  let moving = false; // a shift is under way

  function sortedIds() {
    return [...room.messages.keys()].sort((a, b) => a - b);
  }

  /** Indexes into `ids` of the window's first and last message. */
  function windowOf(ids) {
    const n = ids.length;
    if (follow || !topId) return { from: Math.max(0, n - WINDOW), to: n - 1 };
    let from = ids.findIndex((id) => id >= topId);
    if (from < 0) from = Math.max(0, n - WINDOW);
    return { from, to: Math.min(n - 1, from + WINDOW - 1) };
  }

  /** The first message the person can see and where it sits, to keep it in place across a render. */
  function anchorOf() {
    const top = list.getBoundingClientRect().top;
    for (const el of list.querySelectorAll('.msg[data-id]')) {
      const r = el.getBoundingClientRect();
      if (r.bottom > top) return { id: el.dataset.id, offset: r.top - top };
    }
    return null;
  }

  function render() {
    renderHead();
    if (!room) return;
    if (stickToBottom) follow = true;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const anchor = follow && (atBottom || stickToBottom) ? null : anchorOf();
    const nodes = [];
    // Before the messages move into the new day groups (out of the list).
    for (const old of list.querySelectorAll('.read-mark')) old.remove();
    const ids = sortedIds();
    const { from, to } = windowOf(ids);
    const shown = ids.slice(from, to + 1);
    if (from === 0 && room.loaded && !room.hasMoreBefore) nodes.push(h('p', { class: 'start muted small' }, t('chat.start')));
    else if (room.loaded) nodes.push(h('p', { class: 'older muted small' }, t('chat.loadingOlder')));
    if (st !== SESSION.PRIVATE) {
      // Names of members who are not friends are asked for once.
      const unknown = shown.map((id) => room.messages.get(id).sender_id)
        .filter((u) => u !== S.me.id && !S.friends.has(u) && !S.users.has(u) && !asked.has(u));
      if (unknown.length) {
        unknown.forEach((u) => asked.add(u));
        lookupUsers(unknown).then(() => {
          for (const [k, el] of cache) if (unknown.includes(Number(el.dataset.sender))) cache.delete(k);
          render();
        });
      }
    }
    // Each day's messages are one group under its separator, which stays in sight at the top
    // while the day's messages scroll under it (and gives way to the next day's).
    let prev = null;
    let group = null;
    const place = (at, el) => {
      if (!group || !prev || !sameDay(prev, at)) {
        group = h('div', { class: 'day-group' },
          h('div', { class: 'day', role: 'separator' }, h('span', null, dayLabel(at))));
        nodes.push(group);
      }
      prev = at;
      group.append(el);
    };
    for (const id of shown) {
      const m = room.messages.get(id);
      place(m.created_at, messageEl(m));
    }
    // Elements of messages out of the window are let go (they are made again when it returns).
    const inWindow = new Set(shown);
    for (const k of cache.keys()) if (!inWindow.has(Number(k.split(':')[0]))) cache.delete(k);
    const atEnd = to === ids.length - 1;
    if (atEnd) {
      for (const p of room.pending) {
        if (p.status === 'sent') continue;
        place(p.created_at, pendingEl(p));
      }
    }
    if (st === SESSION.PRIVATE && room.peer_read_message_id) {
      // "Read" under my last message the other side has read.
      const lastMineRead = shown.filter((id) => id <= room.peer_read_message_id
        && room.messages.get(id).sender_id === S.me.id).pop();
      const el = lastMineRead && cache.get(`${lastMineRead}:${room.messages.get(lastMineRead).status}`);
      if (el) el.querySelector('.meta').append(h('span', { class: 'read-mark' }, ' ✓'));
    }
    list.replaceChildren(...nodes);
    latest.hidden = atEnd;
    const kept = anchor && list.querySelector(`.msg[data-id="${anchor.id}"]`);
    if (kept) {
      list.scrollTop += kept.getBoundingClientRect().top - list.getBoundingClientRect().top - anchor.offset;
    } else if (follow) {
      list.scrollTop = list.scrollHeight;
    }
    stickToBottom = false;
  }

  /** Moves the window `by` messages (negative: older), fetching an older page when needed. */
  async function shift(by) {
    if (!room || moving) return;
    moving = true;
    try {
      let ids = sortedIds();
      let { from, to } = windowOf(ids);
      if (by < 0 && from === 0) {
        if (!room.hasMoreBefore) return;
        const before = room.oldest;
        try {
          await loadOlder(room);
        } catch { return; /* tried again on the next scroll */ }
        if (room.oldest === before) return;
        ids = sortedIds();
        ({ from, to } = windowOf(ids));
      }
      if (by > 0 && to === ids.length - 1) return;
      const next = Math.max(0, Math.min(from + by, ids.length - WINDOW));
      follow = next + WINDOW >= ids.length;
      topId = ids[next];
      render();
    } finally {
      moving = false;
    }
  }
  function onScroll() {
    if (!room) return;
    if (list.scrollTop < 200) shift(-STEP);
    const fromBottom = list.scrollHeight - list.scrollTop - list.clientHeight;
    if (!follow && fromBottom < 200) shift(STEP);
    if (follow && fromBottom < 40) markRead(room);
  }
  list.addEventListener('scroll', onScroll);

  // Back to the newest message from anywhere in the history.
  const latest = h('button', { type: 'button', class: 'to-latest', id: 'to-latest', hidden: true,
    'aria-label': t('chat.toLatest'), title: t('chat.toLatest'), onclick: () => {
      stickToBottom = true;
      render();
    } }, '↓');
  list.after(latest);

  // A chosen photo is shown before it is sent.
  let chosen = null;
  function closePreview() {
    if (chosen) URL.revokeObjectURL(chosen.url);
    chosen = null;
    preview.hidden = true;
    preview.replaceChildren();
    fileInput.value = '';
  }
  fileInput.addEventListener('change', () => {
    const file = fileInput.files && fileInput.files[0];
    if (!file || !room) return;
    closePreview();
    chosen = { file, url: URL.createObjectURL(file) };
    const img = h('img', { class: 'preview-img', alt: file.name });
    img.src = chosen.url;
    preview.replaceChildren(img,
      h('span', { class: 'preview-name' }, file.name),
      h('button', { type: 'button', class: 'small-button', id: 'photo-cancel', onclick: closePreview }, t('chat.cancel')),
      h('button', { type: 'button', class: 'primary small-button', id: 'photo-send', onclick: () => {
        const { file: f } = chosen;
        closePreview();
        stickToBottom = true;
        sendPhoto(room, f);
      } }, t('chat.sendPhoto')));
    preview.hidden = false;
  });

  // A voice note: a click starts recording; the bar shows the time, Cancel drops it, Send
  // stops and sends it with the length measured here (a recorded WebM carries none).
  let rec = null; // {recorder, stream, chunks, started, timer, send}
  async function startRecording() {
    if (rec || !room) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      recorderBar.replaceChildren(h('span', { class: 'error small' }, t('chat.micRefused')));
      recorderBar.hidden = false;
      setTimeout(() => { if (!rec) recorderBar.hidden = true; }, 4000);
      return;
    }
    const type = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4']
      .find((x) => MediaRecorder.isTypeSupported(x));
    const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    const current = { recorder, stream, chunks: [], started: Date.now(), timer: 0, send: false };
    rec = current;
    recorder.addEventListener('dataavailable', (ev) => { if (ev.data && ev.data.size) current.chunks.push(ev.data); });
    recorder.addEventListener('stop', () => {
      stream.getTracks().forEach((tr) => tr.stop());
      const duration = Math.round((Date.now() - current.started) / 100) / 10;
      if (current.send && current.chunks.length && room) {
        stickToBottom = true;
        sendVoice(room, new Blob(current.chunks, { type: recorder.mimeType || type || 'audio/webm' }), duration);
      }
    });
    recorder.start(250);
    const clock = h('span', { class: 'voice-clock', id: 'voice-clock' }, '0:00');
    recorderBar.replaceChildren(
      h('span', { class: 'rec-dot', 'aria-hidden': 'true' }), h('span', null, t('chat.recording')), clock,
      h('button', { type: 'button', class: 'small-button', id: 'voice-cancel', onclick: () => stopRecording(false) }, t('chat.cancel')),
      h('button', { type: 'button', class: 'primary small-button', id: 'voice-send', onclick: () => stopRecording(true) }, t('chat.sendVoice')));
    recorderBar.hidden = false;
    current.timer = setInterval(() => { clock.textContent = seconds((Date.now() - current.started) / 1000); }, 500);
  }
  function stopRecording(andSend) {
    if (!rec) return;
    const current = rec;
    rec = null;
    clearInterval(current.timer);
    current.send = andSend;
    if (current.recorder.state !== 'inactive') current.recorder.stop();
    else current.stream.getTracks().forEach((tr) => tr.stop());
    recorderBar.hidden = true;
    recorderBar.replaceChildren();
  }

  composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (!text.trim() || !room) return;
    input.value = '';
    autosize();
    stickToBottom = true;
    sendText(room, text);
    input.focus();
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      composer.requestSubmit();
    }
  });
  function autosize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }
  input.addEventListener('input', () => {
    autosize();
    if (room && input.value) typing(room);
  });

  const offs = [
    on('room', (k) => { if (k === key) render(); }),
    on('typing', (k) => { if (k === key) renderHead(); }),
    on('friends', renderHead),
    on('users', renderHead),
    on('groups', renderLock),
    on('members', (id) => { if (id === tid) renderLock(); }),
  ];
  renderLock();
  openRoom(st, tid).then((r) => {
    room = r;
    stickToBottom = true;
    render();
    // A short first page may not fill the pane: fetch older until it scrolls.
    const fill = async () => {
      while (room.hasMoreBefore && list.scrollHeight <= list.clientHeight + 120) {
        const before = room.oldest;
        try {
          await loadOlder(room);
        } catch { break; }
        if (room.oldest === before) break;
      }
    };
    fill();
  });
  room = S.rooms.get(key) || null;
  render();
  if (matchMedia('(min-width: 721px)').matches) input.focus();

  return {
    destroy() {
      offs.forEach((off) => off());
      clearTimeout(lockTimer);
      stopRecording(false);
      if (panel) panel.destroy();
      closePreview();
      closeRoom();
    },
  };
}
