// Friends: search by id or nickname and invite with a note; invitations received (accept or
// decline, with a reply) and sent; the friend list with presence, each opening a private
// chat, with a menu to edit the remark, block or unblock, and delete (optionally clearing
// my history).

import * as api from '../api.js';
import { avatar, h } from '../dom.js';
import { errorText, t } from '../i18n.js';
import {
  S, SESSION, answerGroupInvite, createGroup, deleteFriend, loadFriends, loadGroupInvites, loadInvites, on,
  setBlocked, setRemark, userName,
} from '../state.js';

/** The avatar the server gave for a user I know of (friend, or a card I looked up). */
function avatarOf(id) {
  const known = S.friends.get(id) || S.users.get(id);
  return known ? known.avatar : '';
}

function person(id, name, ...extra) {
  return h('div', { class: 'person' }, avatar(name, id, null, avatarOf(id)),
    h('div', { class: 'person-body' },
      h('span', { class: 'person-name' }, name),
      h('span', { class: 'muted small' }, `ID ${id}`),
      ...extra));
}

function inviteForm(card, onDone) {
  const note = h('input', { class: 'note-input', maxlength: 100, placeholder: t('friends.note'),
    'aria-label': t('friends.note') });
  const status = h('p', { class: 'small', role: 'status' });
  const send = h('button', { type: 'submit', class: 'primary small-button' }, t('friends.inviteSend'));
  const form = h('form', { class: 'invite-form' }, note, send, status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    send.disabled = true;
    try {
      const out = await api.friends.invite(card.id, note.value.trim());
      status.textContent = out.result === 'friends' ? t('friends.nowFriends') : t('friends.invited');
      status.className = 'small ok';
      note.disabled = true;
      onDone();
    } catch (e) {
      status.textContent = errorText(e);
      status.className = 'small error';
      send.disabled = false;
    }
  });
  return form;
}

export function mountFriends(root) {
  const query = h('input', { type: 'search', id: 'friend-search', placeholder: t('friends.search'),
    'aria-label': t('friends.search'), autocomplete: 'off' });
  const searchForm = h('form', { class: 'search', role: 'search' }, query,
    h('button', { type: 'submit' }, t('friends.searchButton')));
  const results = h('section', { class: 'panel', hidden: true, id: 'search-results' });
  const groupInvites = h('section', { class: 'panel', id: 'group-invites', hidden: true });
  const received = h('section', { class: 'panel', id: 'invites-received' });
  const sent = h('section', { class: 'panel', id: 'invites-sent' });
  const friends = h('section', { class: 'panel', id: 'friend-list' });
  const newGroup = h('details', { class: 'panel new-group', id: 'new-group' });

  function renderNewGroup() {
    const open = newGroup.open;
    const list = [...S.friends.values()].sort((a, b) => userName(a.user_id).localeCompare(userName(b.user_id)));
    const name = h('input', { id: 'group-name', maxlength: 50, placeholder: t('groups.name'), 'aria-label': t('groups.name') });
    const line = h('p', { class: 'small error', role: 'status', hidden: true });
    const boxes = list.map((f) => h('label', { class: 'pick' },
      h('input', { type: 'checkbox', value: String(f.user_id), class: 'pick-box' }),
      avatar(userName(f.user_id), f.user_id, 'small', f.avatar),
      h('span', null, userName(f.user_id))));
    const create = h('button', { type: 'submit', class: 'primary small-button', id: 'group-create' }, t('groups.create'));
    const form = h('form', { class: 'group-form' }, name,
      h('p', { class: 'muted small' }, list.length ? t('groups.pick') : t('groups.needFriends')),
      h('div', { class: 'picks' }, boxes), line, list.length ? create : null);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const ids = [...form.querySelectorAll('.pick-box:checked')].map((b) => Number(b.value));
      create.disabled = true;
      try {
        const id = await createGroup(name.value.trim(), ids);
        location.hash = `#/chat/2/${id}`;
      } catch (e) {
        line.textContent = errorText(e);
        line.hidden = false;
        create.disabled = false;
      }
    });
    newGroup.replaceChildren(h('summary', null, t('groups.new')), form);
    newGroup.open = open;
  }

  searchForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = query.value.trim();
    if (!q) return;
    results.hidden = false;
    results.replaceChildren(h('h3', null, t('friends.results')));
    try {
      const cards = await api.friends.find(q);
      for (const c of cards) S.users.set(c.id, c);
      if (!cards.length) results.append(h('p', { class: 'muted' }, t('friends.noResults')));
      const ul = h('ul', { class: 'people' });
      for (const c of cards) {
        const isFriend = S.friends.has(c.id);
        const li = h('li', { class: 'result', dataset: { userId: String(c.id) } });
        const add = h('button', { type: 'button', class: 'small-button', hidden: isFriend,
          onclick: () => {
            add.hidden = true;
            li.append(inviteForm(c, () => loadInvites().catch(() => {})));
            li.querySelector('.note-input').focus();
          } }, t('friends.add'));
        li.append(person(c.id, c.nickname,
          isFriend ? h('span', { class: 'tag' }, t('friends.isFriend')) : null), add);
        ul.append(li);
      }
      results.append(ul);
    } catch (e) {
      results.append(h('p', { class: 'error' }, errorText(e)));
    }
  });

  // Each part is redrawn only when what it shows changed (a redraw under the pointer would
  // lose a click).
  let invitesSig = '';
  let friendsSig = '';

  // Invitations to groups: shown only while some wait; accepting opens the group's chat.
  let groupInvitesSig = '';
  function renderGroupInvites() {
    const sig = JSON.stringify([S.groupInvites, S.groupInvites.map((i) => userName(i.inviter_id))]);
    if (sig === groupInvitesSig) return;
    groupInvitesSig = sig;
    groupInvites.hidden = !S.groupInvites.length;
    groupInvites.replaceChildren(h('h3', null, t('groups.invitesTitle')),
      h('ul', { class: 'people' }, S.groupInvites.map((inv) => {
        const line = h('p', { class: 'small error', role: 'status', hidden: true });
        const li = h('li', { class: 'invite group-invite', dataset: { groupId: String(inv.group_id) } });
        const answer = async (accept) => {
          for (const b of li.querySelectorAll('button')) b.disabled = true;
          try {
            await answerGroupInvite(inv.group_id, accept);
            if (accept) location.hash = `#/chat/${SESSION.GROUP}/${inv.group_id}`;
          } catch (e) {
            line.textContent = errorText(e);
            line.hidden = false;
            for (const b of li.querySelectorAll('button')) b.disabled = false;
          }
        };
        li.append(h('div', { class: 'person' }, avatar(inv.group_name, inv.group_id),
          h('div', { class: 'person-body' }, h('span', { class: 'person-name' }, inv.group_name),
            h('span', { class: 'muted small' }, t('groups.invitedBy', { name: userName(inv.inviter_id) })))),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'primary small-button accept', onclick: () => answer(true) }, t('friends.accept')),
          h('button', { type: 'button', class: 'small-button reject', onclick: () => answer(false) }, t('friends.reject'))),
        line);
        return li;
      })));
  }

  function renderInvites() {
    renderGroupInvites();
    const sig = JSON.stringify([S.invites, [...S.invites.received.map((i) => userName(i.user_id)),
      ...S.invites.sent.map((i) => userName(i.target_id))]]);
    if (sig === invitesSig) return;
    invitesSig = sig;
    const pendingFirst = (a, b) => (a.status !== 0) - (b.status !== 0) || b.created_at - a.created_at;
    received.replaceChildren(h('h3', null, t('friends.received')));
    const ul = h('ul', { class: 'people' });
    for (const inv of [...S.invites.received].sort(pendingFirst)) {
      const li = h('li', { class: 'invite', dataset: { inviteId: String(inv.id), userId: String(inv.user_id) } });
      const line = h('p', { class: 'small error', role: 'status', hidden: true });
      const reply = h('input', { class: 'reply-input', maxlength: 100, placeholder: t('friends.reply'),
        'aria-label': t('friends.reply') });
      const answer = async (status) => {
        for (const b of li.querySelectorAll('button')) b.disabled = true;
        try {
          await api.friends.answer(inv.id, status, reply.value.trim());
          await Promise.all([loadInvites(), loadFriends()]);
        } catch (e) {
          line.textContent = errorText(e);
          line.hidden = false;
          for (const b of li.querySelectorAll('button')) b.disabled = false;
        }
      };
      li.append(person(inv.user_id, userName(inv.user_id),
        inv.note ? h('span', { class: 'note' }, t('friends.note.label', { note: inv.note })) : null,
        inv.reply ? h('span', { class: 'note' }, t('friends.myReply.label', { reply: inv.reply })) : null,
        inv.status !== 0 ? h('span', { class: 'muted small' }, t(`friends.status.${inv.status}`)) : null));
      if (inv.status === 0) {
        li.append(h('div', { class: 'actions' }, reply,
          h('button', { type: 'button', class: 'primary small-button accept', onclick: () => answer(1) }, t('friends.accept')),
          h('button', { type: 'button', class: 'small-button reject', onclick: () => answer(2) }, t('friends.reject'))));
      }
      li.append(line);
      ul.append(li);
    }
    received.append(S.invites.received.length ? ul : h('p', { class: 'muted small' }, t('friends.noInvites')));

    sent.replaceChildren(h('h3', null, t('friends.sent')));
    const ul2 = h('ul', { class: 'people' });
    for (const inv of [...S.invites.sent].sort(pendingFirst)) {
      ul2.append(h('li', { class: 'invite', dataset: { inviteId: String(inv.id), userId: String(inv.target_id) } },
        person(inv.target_id, userName(inv.target_id),
          inv.note ? h('span', { class: 'note' }, t('friends.note.label', { note: inv.note })) : null,
          inv.reply ? h('span', { class: 'note' }, t('friends.reply.label', { reply: inv.reply })) : null,
          h('span', { class: 'muted small' }, t(`friends.status.${inv.status}`)))));
    }
    sent.append(S.invites.sent.length ? ul2 : h('p', { class: 'muted small' }, t('friends.noInvites')));
  }

  function renderFriends() {
    // Not under an open friend's menu (the remark being typed); redrawn when it closes.
    if (friends.querySelector('.friend-menu[open]')) return;
    const list = [...S.friends.values()].sort((a, b) =>
      (b.online_status > 0) - (a.online_status > 0) || userName(a.user_id).localeCompare(userName(b.user_id)));
    const sig = JSON.stringify(list);
    if (sig === friendsSig) return;
    friendsSig = sig;
    friends.replaceChildren(h('h3', null, t('friends.list')));
    if (!list.length) {
      friends.append(h('p', { class: 'muted small' }, t('friends.none')));
      return;
    }
    const ul = h('ul', { class: 'people' });
    for (const f of list) {
      const presence = h('span', { class: `presence p${f.online_status}` }, t(`presence.${f.online_status}`) || '');
      ul.append(h('li', { class: `friend-row${f.blocked ? ' blocked' : ''}`, dataset: { userId: String(f.user_id) } },
        h('a', { href: `#/chat/1/${f.user_id}`, class: 'friend' },
          person(f.user_id, f.remark || f.nickname,
            f.remark ? h('span', { class: 'muted small nickname' }, f.nickname) : null, presence,
            f.blocked ? h('span', { class: 'tag blocked-tag' }, t('friends.blocked')) : null)),
        friendMenu(f)));
    }
    friends.append(ul);
  }

  /** "⋯" beside a friend: remark, block or unblock, delete; a refusal is said in the menu. */
  function friendMenu(f) {
    const line = h('p', { class: 'small error', role: 'status', hidden: true });
    const run = (fn) => async (ev) => {
      if (ev) ev.preventDefault();
      for (const b of panel.querySelectorAll('button')) b.disabled = true;
      try {
        await fn();
        line.hidden = true;
        menu.open = false;
      } catch (e) {
        line.textContent = errorText(e);
        line.hidden = false;
      }
      for (const b of panel.querySelectorAll('button')) b.disabled = false;
    };
    const remark = h('input', { class: 'remark-input', maxlength: 30, value: f.remark,
      placeholder: t('friends.remark'), 'aria-label': t('friends.remark') });
    const remarkForm = h('form', { class: 'remark-form' }, remark,
      h('button', { type: 'submit', class: 'primary small-button remark-save' }, t('friends.remarkSave')));
    remarkForm.addEventListener('submit', run(() => setRemark(f.user_id, remark.value.trim())));
    const clear = h('input', { type: 'checkbox', class: 'clear-history' });
    const confirm = h('div', { class: 'confirm-delete', hidden: true },
      h('p', { class: 'small' }, t('friends.deleteConfirm', { name: userName(f.user_id) })),
      h('label', { class: 'small check' }, clear, h('span', null, t('friends.clearHistory'))),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'small-button danger delete-confirm',
          onclick: run(() => deleteFriend(f.user_id, clear.checked)) }, t('friends.delete')),
        h('button', { type: 'button', class: 'small-button delete-cancel',
          onclick: () => { confirm.hidden = true; } }, t('friends.cancel'))));
    const panel = h('div', { class: 'menu-panel friend-panel' },
      h('label', { class: 'small muted' }, t('friends.remark')), remarkForm,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: `small-button ${f.blocked ? 'unblock' : 'block'}`,
          onclick: run(() => setBlocked(f.user_id, !f.blocked)) },
        t(f.blocked ? 'friends.unblock' : 'friends.block')),
        h('button', { type: 'button', class: 'small-button danger delete',
          onclick: () => { confirm.hidden = false; } }, t('friends.delete'))),
      confirm, line);
    const menu = h('details', { class: 'menu friend-menu' },
      h('summary', { 'aria-label': t('friends.manage'), title: t('friends.manage') }, '⋯'), panel);
    menu.addEventListener('toggle', () => { if (!menu.open) renderFriends(); });
    return menu;
  }

  root.replaceChildren(h('div', { class: 'friends' }, searchForm, results, groupInvites, received, sent, newGroup, friends));
  renderInvites();
  renderFriends();
  renderNewGroup();
  loadInvites().catch(() => {});
  loadGroupInvites().catch(() => {});
  const offs = [on('invites', renderInvites), on('users', renderInvites), on('friends', renderFriends), on('friends', () => { if (!newGroup.open) renderNewGroup(); })];
  return { destroy: () => offs.forEach((off) => off()) };
}
