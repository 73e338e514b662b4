// The conversation list: name, last message, time and unread badge, pinned first; kept
// current by the state's 'rooms' events.

import { avatar, h } from '../dom.js';
import { listTime, preview } from '../format.js';
import { t } from '../i18n.js';
import { S, on, roomName, sortedRooms } from '../state.js';

function row(r, selected) {
  const last = r.last_message;
  const pending = r.pending[r.pending.length - 1];
  let text = pending ? (pending.kind === 'image' ? t('msg.image') : pending.text) : preview(last);
  if (!pending && last && last.sender_id === S.me.id && last.status === 1) text = t('msg.you') + text;
  const time = pending ? pending.created_at : r.last_active_at;
  const name = roomName(r);
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
        h('time', { class: 'conv-time' }, listTime(time))),
      h('div', { class: 'conv-bottom' },
        h('span', { class: 'conv-preview' }, text),
        r.unread && !r.muted ? h('span', { class: 'badge' }, r.unread > 99 ? '99+' : String(r.unread)) : null,
        r.unread && r.muted ? h('span', { class: 'dot-muted', 'aria-hidden': 'true' }) : null))));
}

export function mountConversations(root) {
  let selected = null;
  const list = h('ul', { class: 'conv-list', id: 'conversations' });
  const render = () => {
    const rooms = sortedRooms();
    if (!rooms.length) {
      list.replaceChildren(h('li', { class: 'empty muted' }, t('chats.empty')));
      return;
    }
    list.replaceChildren(...rooms.map((r) => row(r, r.key === selected)));
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
