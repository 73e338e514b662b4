// Joining a group from a shared address: #/join/<token> (an invite link: joins at once,
// whatever the group's policy) or #/group/<id> (a group open to all joins at once; one that
// asks for approval takes a request with a note, answered by its owner or admins). Nothing
// happens before the person clicks; a refusal is said in words.

import { h } from '../dom.js';
import { errorText, t } from '../i18n.js';
import * as api from '../api.js';
import { S, SESSION, joinGroup, on } from '../state.js';
import { groupAvatar } from './group.js';

/** `target`: {token} or {groupId}. Returns {destroy}. */
export function mountJoin(root, target) {
  const line = h('p', { class: 'small', id: 'join-status', role: 'status' });
  const card = h('div', { class: 'settings-section join-card', id: 'join-card' });
  const view = h('section', { class: 'settings join' },
    h('header', { class: 'chat-head' },
      h('a', { href: '#/chats', class: 'back', 'aria-label': t('chat.back') }, '‹'),
      h('h2', { class: 'chat-title' }, t('join.title'))),
    h('div', { class: 'settings-body' }, card));
  root.replaceChildren(view);
  let gone = false;

  const openChat = (gid) => { location.hash = `#/chat/${SESSION.GROUP}/${gid}`; };
  const fail = (e) => {
    line.className = 'small error';
    line.textContent = errorText(e);
  };

  async function go(button, message) {
    button.disabled = true;
    line.className = 'small';
    line.textContent = '';
    try {
      const out = await joinGroup({ ...target, message });
      if (gone) return;
      if (out.status === 'joined') openChat(out.group_id);
      else {
        line.className = 'small ok';
        line.textContent = t('join.requested');
        waitForApproval(out.group_id);
      }
    } catch (e) {
      if (e.code === 'ALREADY_GROUP_MEMBER' && (target.groupId || e.data.group_id)) {
        openChat(target.groupId || e.data.group_id);
        return;
      }
      fail(e);
      button.disabled = false;
    }
  }

  // A request approved while this page is open: the group arrives among mine (a pushed event).
  let offGroups = () => {};
  function waitForApproval(gid) {
    const check = () => {
      const g = S.groups.get(gid);
      if (!g || g.left || g.status === 'dissolved') return;
      offGroups();
      line.replaceChildren(t('join.approved'), ' ',
        h('a', { href: `#/chat/${SESSION.GROUP}/${gid}`, id: 'join-open' }, t('join.open')));
    };
    offGroups = on('groups', check);
  }

  if (target.token) {
    const button = h('button', { type: 'button', class: 'primary', id: 'join-button' }, t('join.byLink'));
    button.addEventListener('click', () => go(button));
    card.append(h('h3', null, t('join.linkTitle')), h('p', { class: 'muted small' }, t('join.linkHint')), button, line);
  } else {
    const gid = target.groupId;
    const mine = S.groups.get(gid);
    if (mine && !mine.left && mine.status !== 'dissolved') {
      openChat(gid);
    } else {
      card.append(h('p', { class: 'muted small' }, t('join.loading')), line);
      api.groups.info(gid).then((g) => {
        if (gone) return;
        const note = h('textarea', { id: 'join-message', maxlength: 200, rows: 2,
          placeholder: t('join.messageHint'), 'aria-label': t('join.messageHint') });
        const approval = g.join_policy === 'approval';
        const button = h('button', { type: 'button', class: 'primary', id: 'join-button' },
          approval ? t('join.request') : t('join.now'));
        button.addEventListener('click', () => go(button, approval ? note.value.trim() : undefined));
        card.replaceChildren(...[
          h('div', { class: 'group-card' }, groupAvatar(g, 'large'),
            h('div', { class: 'group-card-text' }, h('strong', { class: 'group-name' }, g.name),
              h('span', { class: 'muted small' }, t('groups.members', { n: g.member_count })))),
          g.announcement ? h('p', { class: 'announcement-text' }, g.announcement) : null,
          h('p', { class: 'muted small' }, t(`group.policy.${g.join_policy}`)),
          approval ? note : null, button, line].filter(Boolean));
      }).catch((e) => {
        if (!gone) {
          card.replaceChildren(line);
          fail(e.code === 'NOT_GROUP_MEMBER' ? { code: 'GROUP_INVITE_ONLY' } : e);
        }
      });
    }
  }
  return { destroy: () => { gone = true; offGroups(); } };
}
