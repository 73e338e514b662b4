// The world channel: everyone on the server in one conversation. Its switch (kept in this
// browser) decides whether this tab receives it; what the server says of it (switched off,
// read-only, slow mode) is said in words. When on, it is an ordinary chat.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { S, SESSION, on, setWorld, worldId } from '../state.js';
import { mountChat } from './chat.js';

/** The switch, with the state it stands for. */
function worldSwitch() {
  const input = h('input', { type: 'checkbox', id: 'world-switch', role: 'switch', checked: S.world.on });
  input.addEventListener('change', () => setWorld(input.checked));
  return h('label', { class: 'world-switch', title: t('world.switch') },
    input, h('span', { class: 'world-switch-text' }, t(S.world.on ? 'world.on' : 'world.off')));
}

export function mountWorld(root) {
  let chat = null;
  let shownFor = null; // what is drawn: 'chat:<id>' or the reason it is not

  function draw() {
    const info = S.world.info;
    const id = worldId();
    const state = !info ? 'unknown' : !info.enabled ? 'disabled' : !S.world.on ? 'off' : `chat:${id}`;
    if (state === shownFor) {
      // Only the switch's words may have changed.
      for (const sw of root.querySelectorAll('#world-switch')) sw.checked = S.world.on;
      return;
    }
    shownFor = state;
    if (chat) chat.destroy();
    chat = null;
    if (state.startsWith('chat:')) {
      chat = mountChat(root, SESSION.WORLD, id, { headTools: worldSwitch(),
        subtitle: () => {
          const slow = S.world.info ? S.world.info.slow_mode_secs : 0;
          return slow ? t('world.slowMode', { n: slow }) : t('world.everyone');
        } });
      return;
    }
    const words = state === 'disabled' ? t('world.disabled') : state === 'off' ? t('world.offNote') : t('world.loading');
    root.replaceChildren(h('section', { class: 'chat world-off', id: 'world' },
      h('header', { class: 'chat-head' },
        h('a', { href: '#/chats', class: 'back', 'aria-label': t('chat.back') }, '‹'),
        h('span', { class: 'avatar world-avatar', 'aria-hidden': 'true' }, '🌐'),
        h('div', { class: 'chat-head-text' }, h('h2', { class: 'chat-title' }, t('chat.world'))),
        state === 'off' ? worldSwitch() : null),
      h('div', { class: 'placeholder' },
        h('span', { class: 'world-mark', 'aria-hidden': 'true' }, '🌐'),
        h('p', { class: 'muted', id: 'world-note', role: 'status' }, words))));
  }

  draw();
  const off = on('world', draw);
  return {
    destroy() {
      off();
      if (chat) chat.destroy();
    },
  };
}
