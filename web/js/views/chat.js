// One open conversation: history that grows upwards as the person scrolls, day separators,
// my messages apart from the others' (what each shows: message-body.js), a composer whose
// sends show at once as pending and can be retried, with attachments (photo, video, file,
// location) and voice notes.

import { avatar, h } from '../dom.js';
import { clock, dayLabel, sameDay } from '../format.js';
import { errorText, t } from '../i18n.js';
import { groupPanel, muteReason } from './group.js';
import { bodyOf, bubbleClass, bytes, pendingBody, placeOf, seconds } from './message-body.js';
import { readMarks } from './reads.js';
import {
  S, SESSION, closeRoom, deleteForMe, loadOlder, lookupUsers, markRead, on, openRoom, recall, retry,
  roomAvatar, roomKey, roomName, sendFile, sendLocation, sendPhoto, sendText, sendVideo, sendVoice,
  typing, userName, loadMembers,
} from '../state.js';

/**
 * Mount the conversation (session type `st`, target `tid`) in `root`. `options.headTools`:
 * an element for the header's end (the world channel's switch); `options.subtitle()`: the
 * header's second line when there is no typing or presence to show.
 */
export function mountChat(root, st, tid, options = {}) {
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
      'aria-label': t('group.info'), title: t('group.info'), onclick: () => togglePanel() }, t('group.infoShort')) : null,
    options.headTools || null);
  const list = h('div', { class: 'messages', id: 'messages', role: 'log', 'aria-live': 'polite' });
  const input = h('textarea', { id: 'composer', rows: 1, placeholder: t('chat.compose'),
    'aria-label': t('chat.compose'), maxlength: 5000 });
  const send = h('button', { type: 'submit', class: 'primary send', id: 'send' }, t('chat.send'));
  // "+" offers a photo, a video, any file, or my location; each is shown before it is sent.
  const fileInput = h('input', { type: 'file', id: 'photo-input', accept: 'image/*', hidden: true });
  const videoInput = h('input', { type: 'file', id: 'video-input', accept: 'video/*', hidden: true });
  const anyInput = h('input', { type: 'file', id: 'file-input', hidden: true });
  const canLocate = !!navigator.geolocation;
  const attachMenu = h('div', { class: 'attach-menu', id: 'attach-menu', role: 'menu', hidden: true },
    h('button', { type: 'button', role: 'menuitem', id: 'attach-photo', onclick: () => pick(fileInput) },
      h('span', { 'aria-hidden': 'true' }, '🖼️'), t('chat.attachPhoto')),
    h('button', { type: 'button', role: 'menuitem', id: 'attach-video', onclick: () => pick(videoInput) },
      h('span', { 'aria-hidden': 'true' }, '🎬'), t('chat.attachVideo')),
    h('button', { type: 'button', role: 'menuitem', id: 'attach-file', onclick: () => pick(anyInput) },
      h('span', { 'aria-hidden': 'true' }, '📄'), t('chat.attachFile')),
    canLocate ? h('button', { type: 'button', role: 'menuitem', id: 'attach-location', onclick: () => locate() },
      h('span', { 'aria-hidden': 'true' }, '📍'), t('chat.attachLocation')) : null);
  const attach = h('button', { type: 'button', class: 'attach', id: 'attach', 'aria-label': t('chat.attach'),
    title: t('chat.attach'), 'aria-haspopup': 'menu', 'aria-expanded': 'false',
    onclick: () => showAttachMenu(attachMenu.hidden) }, '+');
  const canRecord = !!(window.MediaRecorder && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  const record = canRecord ? h('button', { type: 'button', class: 'attach record', id: 'record',
    'aria-label': t('chat.record'), title: t('chat.record'), onclick: () => startRecording() }, '🎤') : null;
  const composer = h('form', { class: 'composer' }, attach, fileInput, videoInput, anyInput, record, input, send);
  const recorderBar = h('div', { class: 'voice-recorder', id: 'voice-recorder', hidden: true });
  const preview = h('div', { class: 'photo-preview', id: 'photo-preview', hidden: true });
  const locked = h('p', { class: 'composer-locked small', id: 'composer-locked', role: 'status', hidden: true });
  const view = h('section', { class: 'chat', dataset: { key } }, head, list, preview, recorderBar, locked,
    attachMenu, composer);
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
    if (st !== SESSION.GROUP && st !== SESSION.WORLD) return;
    const info = S.world.info;
    const { text, next } = st === SESSION.GROUP ? muteReason(tid)
      : { text: info && info.muted ? t('world.muted') : '', next: 0 };
    locked.textContent = text;
    locked.hidden = !text;
    for (const c of [input, send, attach, record]) if (c) c.disabled = !!text;
    if (text) {
      stopRecording(false);
      showAttachMenu(false);
      closePreview();
    }
    input.placeholder = text ? t('group.cannotWrite') : t('chat.compose');
    clearTimeout(lockTimer);
    if (next) lockTimer = setTimeout(renderLock, Math.min(next - Date.now() + 500, 2 ** 31 - 1));
  }
  if (st === SESSION.GROUP) loadMembers(tid).catch(() => {});

  let headAvatarFor = null;
  function renderHead() {
    const name = room ? roomName(room) : '';
    title.textContent = name;
    const picture = room ? roomAvatar(room) : '';
    if (headAvatarFor !== `${name}\n${picture}`) {
      // Redrawn only when it changes (a picture would flicker on every message).
      headAvatarFor = `${name}\n${picture}`;
      head.querySelector('.chat-avatar').replaceChildren(avatar(name, tid, null, picture));
    }
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
    else subtitle.textContent = options.subtitle ? options.subtitle() : '';
  }

  function messageEl(m) {
    const cacheKey = `${m.message_id}:${m.status}`;
    const hit = cache.get(cacheKey);
    if (hit) return hit;
    const mine = m.sender_id === S.me.id;
    const el = h('div', { class: `msg ${mine ? 'mine' : 'theirs'}`, dataset: { id: String(m.message_id), sender: String(m.sender_id) } },
      !mine && st !== SESSION.PRIVATE ? h('span', { class: 'sender' }, userName(m.sender_id)) : null,
      h('div', { class: bubbleClass(m) }, bodyOf(m)),
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
      mine && st !== SESSION.WORLD
        ? h('button', { type: 'button', class: 'link recall', onclick: act(recall) }, t('msg.recall')) : null,
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
      pendingBody(p),
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

  function showAttachMenu(open) {
    attachMenu.hidden = !open;
    attach.setAttribute('aria-expanded', String(open));
  }
  function pick(input) {
    showAttachMenu(false);
    input.click();
  }
  const closeMenuOutside = (ev) => {
    if (!attachMenu.hidden && !ev.composedPath().some((el) => el === attachMenu || el === attach)) showAttachMenu(false);
  };
  document.addEventListener('click', closeMenuOutside);

  // What was chosen is shown (with its name and size) before it is sent.
  let chosen = null; // {file, url} | {latitude, longitude}
  let locating = 0; // which location request is current (a later one or Cancel drops older answers)
  function closePreview() {
    if (chosen && chosen.url) URL.revokeObjectURL(chosen.url);
    chosen = null;
    locating += 1;
    preview.hidden = true;
    preview.replaceChildren();
    for (const i of [fileInput, videoInput, anyInput]) i.value = '';
  }
  const cancelButton = () => h('button', { type: 'button', class: 'small-button', id: 'photo-cancel', onclick: closePreview },
    t('chat.cancel'));
  const sendButton = (id, label, go) => h('button', { type: 'button', class: 'primary small-button', id, onclick: () => {
    const what = chosen;
    if (!what || !room) return;
    if (what.url) URL.revokeObjectURL(what.url); // the pending message makes its own
    chosen = null;
    closePreview();
    stickToBottom = true;
    go(what);
  } }, label);
  const nameAndSize = (file) => h('span', { class: 'preview-name' }, file.name,
    h('span', { class: 'muted small' }, ` · ${bytes(file.size)}`));

  function chosenFile(input) {
    const file = input.files && input.files[0];
    if (!file || !room) return null;
    closePreview();
    return file;
  }
  fileInput.addEventListener('change', () => {
    const file = chosenFile(fileInput);
    if (!file) return;
    chosen = { file, url: URL.createObjectURL(file) };
    const img = h('img', { class: 'preview-img', alt: file.name });
    img.src = chosen.url;
    preview.replaceChildren(img, h('span', { class: 'preview-name' }, file.name), cancelButton(),
      sendButton('photo-send', t('chat.sendPhoto'), (w) => sendPhoto(room, w.file)));
    preview.hidden = false;
  });
  videoInput.addEventListener('change', () => {
    const file = chosenFile(videoInput);
    if (!file) return;
    const current = { file, url: URL.createObjectURL(file), duration: null };
    chosen = current;
    const video = h('video', { class: 'preview-img preview-video', muted: true, preload: 'metadata',
      'aria-label': file.name });
    // The length the sender's browser reads is sent with it (a recorded WebM says none).
    video.addEventListener('loadedmetadata', () => {
      if (Number.isFinite(video.duration) && video.duration > 0) current.duration = Math.round(video.duration * 10) / 10;
    });
    video.src = current.url;
    preview.replaceChildren(video, nameAndSize(file), cancelButton(),
      sendButton('video-send', t('chat.sendVideo'), (w) => sendVideo(room, w.file, w.duration)));
    preview.hidden = false;
  });
  anyInput.addEventListener('change', () => {
    const file = chosenFile(anyInput);
    if (!file) return;
    chosen = { file };
    preview.replaceChildren(h('span', { class: 'preview-icon', 'aria-hidden': 'true' }, '📄'), nameAndSize(file),
      cancelButton(), sendButton('file-send', t('chat.sendFile'), (w) => sendFile(room, w.file)));
    preview.hidden = false;
  });

  // My location: the browser asks the person first; what it found is shown, and only
  // "Send location" shares it.
  function locate() {
    showAttachMenu(false);
    if (!room) return;
    closePreview();
    const ask = locating;
    preview.replaceChildren(h('span', { class: 'preview-name', role: 'status' }, t('chat.locating')), cancelButton());
    preview.hidden = false;
    navigator.geolocation.getCurrentPosition((pos) => {
      if (ask !== locating) return;
      const { latitude, longitude, accuracy } = pos.coords;
      chosen = { latitude, longitude };
      preview.replaceChildren(
        h('div', { class: 'preview-name preview-location' }, placeOf(latitude, longitude, ''),
          accuracy ? h('span', { class: 'muted small' }, t('chat.accuracy', { m: Math.round(accuracy) })) : null),
        cancelButton(),
        sendButton('location-send', t('chat.sendLocation'), (w) => sendLocation(room, w.latitude, w.longitude)));
    }, (err) => {
      if (ask !== locating) return;
      const why = err && err.code === 1 ? 'chat.locationRefused' : 'chat.locationUnavailable';
      preview.replaceChildren(h('span', { class: 'preview-name error', role: 'status' }, t(why)), cancelButton());
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
  }

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

  // In a group, "read by N" under my messages, live as members read.
  const reads = st === SESSION.GROUP ? readMarks(list, () => room) : null;
  const offs = [
    on('room', (k) => { if (k === key) render(); }),
    on('reads', (k) => { if (k === key && reads) reads.update(); }),
    on('typing', (k) => { if (k === key) renderHead(); }),
    on('friends', renderHead),
    on('users', renderHead),
    on('groups', renderLock),
    on('world', () => { renderLock(); renderHead(); }),
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
      document.removeEventListener('click', closeMenuOutside);
      if (reads) reads.destroy();
      closeRoom();
    },
  };
}
