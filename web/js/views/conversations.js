// The conversation list: name, last message, time and unread badge, pinned first; kept
// current by the state's 'rooms' events. Each row has a small menu to pin and mute.

import { avatar, h } from '../dom.js';
import { KIND, listTime, preview } from '../format.js';
import { errorText, t } from '../i18n.js';
import { S, SESSION, emit, on, roomAvatar, roomName, setMuted, setPinned, sortedRooms } from '../state.js';

/** The words for a send not confirmed yet: its text, or what kind of message it is. */
const PENDING_KIND = { image: 2, voice: 3, video: 4, location: 5, file: 6 };
function pendingText(p) {
  return p.kind ? t(KIND[PENDING_KIND[p.kind]] || 'msg.unknown') : p.text;
}

/** What a row shows; a row is rebuilt only when this changes. */
function look(r, selected) {
  const last = r.last_message;
  const pending = r.pending[r.pending.length - 1];
  let text = pending ? pendingText(pending) : preview(last);
  if (!pending && last && last.sender_id === S.me.id && last.status === 1) text = t('msg.you') + text;
  const time = listTime(pending ? pending.created_at : r.last_active_at);
  return { name: roomName(r), avatar: roomAvatar(r), text, time, unread: r.unread, muted: r.muted, pinned: r.pinned, selected };
}

/** "⋯" on a row: pin or unpin, mute or unmute; a refusal is said in the menu. */
function rowMenu(r) {
  const line = h('p', { class: 'small error', role: 'status', hidden: true });
  const menu = h('details', { class: 'menu conv-menu' });
  const act = (fn) => async () => {
    try {
      await fn();
      menu.open = false;
    } catch (e) {
      line.textContent = errorText(e);
      line.hidden = false;
    }
  };
  menu.addEventListener('toggle', () => { if (!menu.open) emit('rooms'); });
  menu.append(
    h('summary', { 'aria-label': t('chats.manage'), title: t('chats.manage') }, '⋯'),
    h('div', { class: 'menu-panel conv-panel' },
      h('button', { type: 'button', class: r.pinned ? 'unpin' : 'pin', onclick: act(() => setPinned(r, !r.pinned)) },
        t(r.pinned ? 'chats.unpin' : 'chats.pin')),
      h('button', { type: 'button', class: r.muted ? 'unmute' : 'mute', onclick: act(() => setMuted(r, !r.muted)) },
        t(r.muted ? 'chats.unmute' : 'chats.mute')),
      line));
  return menu;
}

function row(r, { name, avatar: picture, text, time, selected }) {
  const flags = [r.pinned ? h('span', { class: 'flag-pinned', title: t('chats.pinned'), 'aria-label': t('chats.pinned') }, '📌') : null,
    r.muted ? h('span', { class: 'flag-muted', title: t('chats.muted'), 'aria-label': t('chats.muted') }, '🔕') : null]
    .filter(Boolean);
  return h('li', { class: r.pinned ? 'pinned' : undefined, dataset: { key: r.key } },
    h('a', {
      href: r.session_type === SESSION.WORLD ? '#/world' : `#/chat/${r.session_type}/${r.target_id}`,
      class: `conv${selected ? ' selected' : ''}${r.unread ? ' has-unread' : ''}`,
      dataset: { key: r.key },
      'aria-current': selected ? 'true' : undefined,
    },
    avatar(name, r.target_id, null, picture),
    h('div', { class: 'conv-body' },
      h('div', { class: 'conv-top' },
        h('span', { class: 'conv-name' }, name),
        flags.length ? h('span', { class: 'conv-flags' }, flags) : null,
        h('time', { class: 'conv-time' }, time)),
      h('div', { class: 'conv-bottom' },
        h('span', { class: 'conv-preview' }, text),
        r.unread && !r.muted ? h('span', { class: 'badge' }, r.unread > 99 ? '99+' : String(r.unread)) : null,
        r.unread && r.muted ? h('span', { class: 'dot-muted', 'aria-hidden': 'true' }) : null))),
    rowMenu(r));
}

export function mountConversations(root) {
  let selected = null;
  const list = h('ul', { class: 'conv-list', id: 'conversations' });
  const rows = new Map(); // room key -> {sig, el}
  // Rows that did not change stay the same elements, and the list is touched only when
  // something changed: a click is never lost to a redraw under the pointer.
  const render = () => {
    const rooms = sortedRooms();
    if (!rooms.length) {
      rows.clear();
      list.replaceChildren(h('li', { class: 'empty muted' }, t('chats.empty')));
      return;
    }
    const els = rooms.map((r) => {
      const shown = look(r, r.key === selected);
      const sig = JSON.stringify(shown);
      const known = rows.get(r.key);
      if (known && known.sig === sig) return known.el;
      // A row whose menu is open waits for it to close (it then redraws).
      if (known && known.el.querySelector('.conv-menu[open]')) return known.el;
      const el = row(r, shown);
      rows.set(r.key, { sig, el });
      return el;
    });
    const same = els.length === list.children.length && els.every((el, i) => list.children[i] === el);
    if (!same) list.replaceChildren(...els);
  };
  root.replaceChildren(list);
  render();
  const offs = [on('rooms', render), on('friends', render), on('users', render), on('groups', render)];
  const timer = setInterval(render, 60000); // "today" becomes "yesterday"
  return {
    select(key) {
      selected = key;
      render();
    },
    destroy() {
      offs.forEach((off) => off());
      clearInterval(timer);
    },
  };
}
