// The signed-in layout: a side pane (me, connection, tabs, the conversation or friend list)
// beside the open chat; on a phone-sized screen one pane at a time.

import { avatar, h } from '../dom.js';
import { LANGUAGES, getLang, setLang, t } from '../i18n.js';
import * as notify from '../notify.js';
import { S, SESSION, on, signOut, worldId } from '../state.js';
import { mountChat } from './chat.js';
import { mountConversations } from './conversations.js';
import { mountFriends } from './friends.js';
import { mountJoin } from './join.js';
import { mountSettings } from './settings.js';
import { mountWorld } from './world.js';

function notifyRow() {
  const row = h('div', { class: 'menu-row' });
  const draw = () => {
    const p = notify.permission();
    if (!notify.supported() || p === 'denied') row.replaceChildren(h('span', { class: 'muted small' }, t('notify.off')));
    else if (p === 'granted') row.replaceChildren(h('span', { class: 'small ok' }, t('notify.on')));
    else {
      row.replaceChildren(h('button', { type: 'button', class: 'link', id: 'notify-ask',
        onclick: async () => { await notify.ask(); draw(); } }, t('notify.ask')));
    }
  };
  draw();
  return row;
}

export function mountShell(root) {
  const offs = [];
  const connText = h('span', { class: 'conn-text' });
  const conn = h('span', { class: 'conn', role: 'status' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), connText);
  const showConnection = () => {
    conn.dataset.state = S.connection;
    connText.textContent = t(`conn.${S.connection}`);
  };
  showConnection();
  offs.push(on('connection', showConnection));

  const lang = h('select', { class: 'lang-select', 'aria-label': t('lang.label') },
    LANGUAGES.map(([code, name]) => h('option', { value: code, selected: code === getLang() }, name)));
  lang.addEventListener('change', () => setLang(lang.value));
  const menu = h('details', { class: 'menu' },
    h('summary', { 'aria-label': t('menu.open'), title: t('menu.open') }, '⋯'),
    h('div', { class: 'menu-panel' },
      h('p', { class: 'muted small' }, t('menu.me', { name: S.me.nickname, id: S.me.id })),
      h('label', { class: 'menu-row' }, t('lang.label'), lang),
      h('a', { href: '#/settings', class: 'menu-row', id: 'open-settings' }, t('settings.open')),
      notifyRow(),
      h('button', { type: 'button', class: 'menu-row danger', id: 'logout', onclick: () => signOut() },
        t('menu.logout'))));
  // A click elsewhere closes the menus (this one, a friend's, a conversation's).
  const closeMenu = (ev) => {
    const path = ev.composedPath();
    for (const d of document.querySelectorAll('details.menu[open]')) if (!path.includes(d)) d.open = false;
  };
  document.addEventListener('click', closeMenu);
  offs.push(() => document.removeEventListener('click', closeMenu));

  const meName = h('strong', { class: 'me-name' }, S.me.nickname);
  const meAvatar = h('span', { class: 'me-avatar' }, avatar(S.me.nickname, S.me.id, null, S.me.avatar));
  offs.push(on('me', () => {
    meName.textContent = S.me.nickname;
    meAvatar.replaceChildren(avatar(S.me.nickname, S.me.id, null, S.me.avatar));
  }));

  const chatsBadge = h('span', { class: 'badge', hidden: true });
  const friendsBadge = h('span', { class: 'badge', hidden: true });
  const chatsTab = h('a', { href: '#/chats', class: 'tab', id: 'tab-chats' }, t('tabs.chats'), chatsBadge);
  const friendsTab = h('a', { href: '#/friends', class: 'tab', id: 'tab-friends' }, t('tabs.friends'), friendsBadge);
  // The world channel is a place of its own (with its switch), not one of my conversations.
  const worldBadge = h('span', { class: 'badge', hidden: true });
  const worldTab = h('a', { href: '#/world', class: 'tab', id: 'tab-world' }, t('tabs.world'), worldBadge);
  const showWorldTab = () => { worldTab.hidden = !!S.world.info && !S.world.info.enabled; };
  showWorldTab();
  offs.push(on('world', showWorldTab));
  const badges = () => {
    let unread = 0;
    let world = 0;
    for (const r of S.rooms.values()) {
      if (r.session_type === SESSION.WORLD) world += S.world.on ? r.unread : 0;
      else if (!r.muted) unread += r.unread;
    }
    // The world's count is shown on its tab only (everyone's chatter is not my unread).
    worldBadge.textContent = world > 99 ? '99+' : String(world);
    worldBadge.hidden = world === 0;
    chatsBadge.textContent = unread > 99 ? '99+' : String(unread);
    chatsBadge.hidden = unread === 0;
    const waiting = S.invites.received.filter((i) => i.status === 0).length + S.groupInvites.length;
    friendsBadge.textContent = String(waiting);
    friendsBadge.hidden = waiting === 0;
    document.title = unread ? `(${unread}) ${t('app.name')}` : t('app.name');
  };
  badges();
  offs.push(on('rooms', badges), on('invites', badges), on('world', badges));

  const sideBody = h('div', { class: 'side-body' });
  const side = h('aside', { class: 'side' },
    h('header', { class: 'side-head' },
      meAvatar,
      h('div', { class: 'me' }, meName, conn),
      menu),
    h('nav', { class: 'tabs', role: 'tablist' }, chatsTab, friendsTab, worldTab),
    sideBody);
  const main = h('main', { class: 'main' });
  const shell = h('div', { class: 'shell' }, side, main);
  root.replaceChildren(shell);

  let tab = null;
  let list = null;
  let chat = null;
  let chatKey; // undefined until the first show(), so the placeholder is drawn

  function placeholder() {
    return h('div', { class: 'placeholder' },
      h('span', { class: 'brand-mark big', 'aria-hidden': 'true' }, 'J'),
      h('p', { class: 'muted' }, t('chat.placeholder')));
  }

  return {
    get tab() {
      return tab;
    },
    /**
     * Show a tab in the side pane and, when given, a conversation [session_type, target_id],
     * the settings, the world channel, or a group to join ({token} of an invite link, or
     * {groupId}).
     */
    show({ tab: nextTab, chat: target, settings, world, join }) {
      if (nextTab !== tab) {
        if (list) list.destroy();
        tab = nextTab;
        chatsTab.setAttribute('aria-selected', String(tab === 'chats'));
        friendsTab.setAttribute('aria-selected', String(tab === 'friends'));
        list = tab === 'friends' ? mountFriends(sideBody) : mountConversations(sideBody);
      }
      const key = settings ? 'settings' : world ? `${SESSION.WORLD}:${worldId() || 0}`
        : join ? `join:${join.token || join.groupId}` : target ? target.join(':') : null;
      worldTab.setAttribute('aria-selected', String(!!world));
      if (key !== chatKey) {
        if (chat) chat.destroy();
        chat = null;
        chatKey = key;
        if (settings) chat = mountSettings(main);
        else if (join) chat = mountJoin(main, join);
        else if (world) chat = mountWorld(main);
        else if (target) chat = mountChat(main, target[0], target[1]);
        else main.replaceChildren(placeholder());
      }
      shell.dataset.pane = key ? 'main' : 'side';
      menu.open = false;
      if (list && list.select) list.select(key);
    },
    destroy() {
      for (const off of offs) off();
      if (list) list.destroy();
      if (chat) chat.destroy();
    },
  };
}
