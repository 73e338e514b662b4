// The conversation list: name, last message, time and unread badge, pinned first; kept
// current by the state's 'rooms' events.

import { avatar, h } from '../dom.js';
import { listTime, preview } from '../format.js';
import { t } from '../i18n.js';
import { S, on, roomName, sortedRooms } from '../state.js';

/** What a row shows; a row is rebuilt only when this changes. */
function look(r, selected) {
  const last = r.last_message;
  const pending = r.pending[r.pending.length - 1];
  let text = pending ? (pending.kind === 'image' ? t('msg.image') : pending.text) : preview(last);
  if (!pending && last && last.sender_id === S.me.id && last.status === 1) text = t('msg.you') + text;
  const time = listTime(pending ? pending.created_at : r.last_active_at);
  return { name: roomName(r), text, time, unread: r.unread, muted: r.muted, selected };
}

function row(r, { name, text, time, selected }) {
  return h('li', null,
    h('a', {
      href: `#/chat/${r.session_type}/${r.target_id}`,
      class: `conv${selected ? ' selected' : ''}${r.unread ? ' has-unread' : ''}`,
      dataset: { key: r.key },
      'aria-current': selected ? 'true' : undefined,
    },
    avatar(name, r.target_id),
    h('div', { class: 'conv-body' },
      h('div', { class: 'conv-top' },
        h('span', { class: 'conv-name' }, name),
        h('time', { class: 'conv-time' }, time)),
      h('div', { class: 'conv-bottom' },
        h('span', { class: 'conv-preview' }, text),
        r.unread && !r.muted ? h('span', { class: 'badge' }, r.unread > 99 ? '99+' : String(r.unread)) : null,
        r.unread && r.muted ? h('span', { class: 'dot-muted', 'aria-hidden': 'true' }) : null))));
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
      const el = row(r, shown);
      rows.set(r.key, { sig, el });
      return el;
    });
    const same = els.length === list.children.length && els.every((el, i) => list.children[i] === el);
    if (!same) list.replaceChildren(...els);
  };
  root.replaceChildren(list);
  render();
  const offs = [on('rooms', render), on('friends', render), on('users', render)];
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
