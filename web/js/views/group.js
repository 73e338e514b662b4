// A group's info panel beside its chat: its avatar, name and announcement (edited by the
// owner and admins), the members with their roles and mutes, the actions the server allows me
// on each (the owner on admins and members, admins on members; the owner alone appoints
// admins and hands the group over), mute-all, inviting friends, invite links, join requests,
// the ban list, leaving and dissolving. What I may not do is not offered; a refusal is said in
// words. Also: why my composer is closed in a group (muted until …, or everyone muted).

import * as api from '../api.js';
import { avatar, h } from '../dom.js';
import { errorText, t } from '../i18n.js';
import { urlsOf } from '../media.js';
import { S, groupAction, loadMembers, on, userName } from '../state.js';

export const ROLE = { MEMBER: 0, OWNER: 1, ADMIN: 2 };
const ROLE_KEY = { 0: 'group.role.member', 1: 'group.role.owner', 2: 'group.role.admin' };

/** The owner acts on admins and members, admins on members only, members on nobody. */
function outranks(actor, target) {
  if (actor === ROLE.OWNER) return target !== ROLE.OWNER;
  if (actor === ROLE.ADMIN) return target === ROLE.MEMBER;
  return false;
}

// Mute lengths offered, in minutes (0: until unmuted).
const MUTE_FOR = [10, 60, 24 * 60, 0];

function muteLabel(minutes) {
  if (!minutes) return t('group.muteForever');
  if (minutes < 60) return t('group.muteMinutes', { n: minutes });
  if (minutes < 24 * 60) return t('group.muteHours', { n: minutes / 60 });
  return t('group.muteDays', { n: minutes / (24 * 60) });
}

function when(ms) {
  return new Date(ms).toLocaleString(document.documentElement.lang || undefined,
    { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/**
 * Why I may not write in group `gid` right now ('' when I may): dissolved, left, muted until …,
 * or everyone muted; from the group's info and my member entry. `next` is when that changes by
 * itself (a timed mute's end), or 0.
 */
export function muteReason(gid) {
  const g = S.groups.get(gid);
  if (!g) return { text: '', next: 0 };
  if (g.status === 'dissolved') return { text: t('group.dissolvedNote'), next: 0 };
  if (g.left) return { text: t('group.leftNote'), next: 0 };
  const me = (S.members.get(gid) || []).find((m) => m.user_id === S.me.id);
  const role = me ? me.role : g.my_role;
  if (g.speak_status === 0 && role === ROLE.MEMBER) return { text: t('group.allMuted'), next: 0 };
  if (me && me.muted) {
    if (me.muted_until && me.muted_until > Date.now()) {
      return { text: t('group.mutedUntil', { time: when(me.muted_until) }), next: me.muted_until };
    }
    if (!me.muted_until) return { text: t('group.mutedForever'), next: 0 };
  }
  return { text: '', next: 0 };
}

/** A group's picture: its uploaded avatar once its URL is signed, over a letter badge. */
export function groupAvatar(g, size) {
  return avatar(g ? g.name : '?', g ? g.group_id : 0, size, g && g.avatar);
}

const POLICIES = ['open', 'approval', 'invite_only'];

/** The address of an invite link: this page, opened at the join route. */
export function linkUrl(token) {
  return `${location.origin}${location.pathname}#/join/${encodeURIComponent(token)}`;
}

/** The panel for group `gid`; `close` hides it. Returns {el, destroy}. */
export function groupPanel(gid, close) {
  const error = h('p', { class: 'error small', id: 'group-error', role: 'alert' });
  const note = h('p', { class: 'ok small', id: 'group-note', role: 'status' });
  const list = h('ul', { class: 'member-list', id: 'member-list' });
  const summary = h('div', { class: 'group-summary', id: 'group-summary' });
  const tools = h('div', { class: 'group-tools' });
  const editBox = h('form', { class: 'group-box group-edit', id: 'group-edit', hidden: true });
  const inviteBox = h('div', { class: 'group-box', id: 'group-invite', hidden: true });
  const linksBox = h('div', { class: 'group-box', id: 'group-links', hidden: true });
  const requestsBox = h('section', { class: 'group-box', id: 'group-requests', hidden: true });
  const bansBox = h('details', { class: 'group-bans', id: 'group-bans', hidden: true });
  const bansList = h('ul', { class: 'ban-list', id: 'ban-list' });
  const bansTitle = h('summary', null, t('group.bans'));
  bansBox.append(bansTitle, bansList);
  const endTools = h('div', { class: 'group-tools group-end' });
  const title = h('h3', null, t('group.info'));
  const el = h('aside', { class: 'group-panel', id: 'group-panel', 'aria-label': t('group.info') },
    h('div', { class: 'group-panel-head' }, title,
      h('button', { type: 'button', class: 'link', id: 'group-panel-close', onclick: close }, t('chat.close'))),
    summary, tools, editBox, inviteBox, linksBox, error, note, requestsBox,
    h('h4', { class: 'group-section-title' }, t('group.membersTitle')), list, bansBox, endTools);

  let destroyed = false;
  // One line at a time: a refusal replaces the last "saved", and the other way round.
  const say = (e) => {
    error.textContent = e ? errorText(e) : '';
    if (e) note.textContent = '';
  };
  const tell = (text) => {
    note.textContent = text || '';
    if (text) error.textContent = '';
  };
  const act = (fn, after) => async () => {
    say(null);
    tell('');
    try {
      await groupAction(gid, fn);
      if (after) await after();
    } catch (e) {
      say(e);
    }
  };

  // Two-step confirmations in the page (no browser dialogs): what is being asked, if anything.
  let confirming = null; // 'leave' | 'dissolve' | ['transfer', user id]
  const ask = (what) => () => {
    confirming = what;
    render();
  };
  const isAsking = (what) => JSON.stringify(confirming) === JSON.stringify(what);

  function state() {
    const g = S.groups.get(gid);
    const members = S.members.get(gid) || [];
    const mine = members.find((m) => m.user_id === S.me.id);
    const role = mine ? mine.role : (g && g.my_role != null ? g.my_role : ROLE.MEMBER);
    const live = !!g && g.status !== 'dissolved' && !g.left;
    const admin = live && (role === ROLE.OWNER || role === ROLE.ADMIN);
    // Who may invite (links, friends): the owner and admins, members while the group allows it.
    return { g, members, role, live, admin, mayInvite: admin || (live && !!g.member_invite) };
  }

  // ---- editing name, avatar, announcement, join policy (owner/admins) ----
  function openEdit() {
    const { g } = state();
    if (!g) return;
    const name = h('input', { id: 'group-edit-name', maxlength: 50, value: g.name, required: true });
    const text = h('textarea', { id: 'group-edit-announcement', maxlength: 1000, rows: 3 });
    text.value = g.announcement || '';
    const policy = h('select', { id: 'group-edit-policy' },
      POLICIES.map((p) => h('option', { value: p, selected: p === g.join_policy }, t(`group.policy.${p}`))));
    const memberInvite = h('input', { type: 'checkbox', id: 'group-edit-member-invite', checked: !!g.member_invite });
    const file = h('input', { type: 'file', id: 'group-edit-avatar', accept: 'image/*' });
    const dropAvatar = h('input', { type: 'checkbox', id: 'group-edit-avatar-clear' });
    const save = h('button', { type: 'submit', class: 'primary small-button', id: 'group-edit-save' }, t('group.save'));
    editBox.replaceChildren(...[
      h('label', { class: 'field' }, h('span', null, t('group.name')), name),
      h('label', { class: 'field' }, h('span', null, t('group.announcement')), text),
      h('label', { class: 'field' }, h('span', null, t('group.avatar')), file),
      g.avatar ? h('label', { class: 'check small' }, dropAvatar, h('span', null, t('group.avatarClear'))) : null,
      h('label', { class: 'field' }, h('span', null, t('group.policy')), policy),
      h('label', { class: 'check small' }, memberInvite, h('span', null, t('group.memberInvite'))),
      h('div', { class: 'actions' }, save,
        h('button', { type: 'button', class: 'small-button', id: 'group-edit-cancel',
          onclick: () => { editBox.hidden = true; } }, t('friends.cancel'))),
    ].filter(Boolean));
    editBox.onsubmit = async (ev) => {
      ev.preventDefault();
      const now = S.groups.get(gid) || g;
      const fields = {};
      if (name.value.trim() !== now.name) fields.name = name.value.trim();
      if (text.value.trim() !== (now.announcement || '')) fields.announcement = text.value.trim();
      if (policy.value !== now.join_policy) fields.join_policy = policy.value;
      if (memberInvite.checked !== !!now.member_invite) fields.member_invite = memberInvite.checked;
      if (dropAvatar.checked) fields.avatar = '';
      save.disabled = true;
      say(null);
      try {
        if (file.files && file.files[0]) fields.avatar = (await api.media.upload(file.files[0], 'avatar')).id;
        if (Object.keys(fields).length) await groupAction(gid, (a) => a.update(gid, fields));
        editBox.hidden = true;
        tell(t('group.saved'));
      } catch (e) {
        say(e);
      }
      save.disabled = false;
    };
    editBox.hidden = false;
    name.focus();
  }

  // ---- friends who are not members: the owner and admins add them, members invite them ----
  function openInvite() {
    const { members } = state();
    const inside = new Set(members.map((m) => m.user_id));
    const friends = [...S.friends.values()].filter((f) => !inside.has(f.user_id) && !f.blocked)
      .sort((a, b) => userName(a.user_id).localeCompare(userName(b.user_id)));
    inviteBox.replaceChildren(h('h4', null, t('group.inviteTitle')));
    if (!friends.length) {
      inviteBox.append(h('p', { class: 'muted small', id: 'invite-none' }, t('group.inviteNone')));
    } else {
      const picks = friends.map((f) => h('label', { class: 'pick', dataset: { user: String(f.user_id) } },
        h('input', { type: 'checkbox', value: String(f.user_id) }),
        avatar(userName(f.user_id), f.user_id, 'small'), h('span', null, userName(f.user_id))));
      const send = h('button', { type: 'button', class: 'primary small-button', id: 'invite-send',
        onclick: () => {
          const ids = picks.filter((p) => p.querySelector('input').checked).map((p) => Number(p.dataset.user));
          if (!ids.length) {
            say({ code: 'GROUP_MEMBER_LIST_EMPTY' });
            return;
          }
          // The owner and admins add friends at once; members invite them (they join by accepting).
          const { admin } = state();
          act((a) => (admin ? a.add(gid, ids) : a.invite(gid, ids)), () => {
            inviteBox.hidden = true;
            tell(t(admin ? 'group.invited' : 'group.inviteSent', { n: ids.length }));
          })();
        } }, t('group.inviteSend'));
      inviteBox.append(h('div', { class: 'picks' }, picks), h('div', { class: 'actions' }, send));
    }
    inviteBox.hidden = false;
  }

  // ---- invite links: the owner and admins see every live one; others the ones they made ----
  let madeLinks = [];
  async function refreshLinks() {
    const { admin } = state();
    let links = madeLinks;
    if (admin) {
      try {
        links = await api.groups.links(gid);
      } catch (e) {
        say(e);
      }
    }
    if (destroyed) return;
    const create = h('button', { type: 'button', class: 'primary small-button', id: 'link-create',
      onclick: async () => {
        say(null);
        try {
          const link = await api.groups.createLink(gid);
          madeLinks = [link, ...madeLinks];
          await refreshLinks();
          const input = linksBox.querySelector(`li[data-token="${CSS.escape(link.token)}"] input`);
          if (input) input.select();
        } catch (e) {
          say(e);
        }
      } }, t('group.linkCreate'));
    linksBox.replaceChildren(h('h4', null, t('group.linksTitle')), create);
    if (!links.length) linksBox.append(h('p', { class: 'muted small' }, t('group.linksNone')));
    const ul = h('ul', { class: 'link-list', id: 'link-list' });
    for (const l of links) {
      const url = linkUrl(l.token);
      const status = h('span', { class: 'small ok link-status', role: 'status' });
      const input = h('input', { class: 'link-url', readonly: true, value: url, 'aria-label': t('group.linkUrl'),
        onfocus: (ev) => ev.target.select() });
      const copy = h('button', { type: 'button', class: 'small-button link-copy', onclick: async () => {
        try {
          await navigator.clipboard.writeText(url);
          status.textContent = t('group.linkCopied');
        } catch {
          // No clipboard here (permission, an old browser): the link is selected to copy by hand.
          input.focus();
          input.select();
          status.textContent = t('group.linkCopyByHand');
        }
      } }, t('group.linkCopy'));
      const revoke = h('button', { type: 'button', class: 'small-button danger link-revoke', onclick: async () => {
        say(null);
        try {
          await api.groups.revokeLink(gid, l.token);
          madeLinks = madeLinks.filter((m) => m.token !== l.token);
          await refreshLinks();
          tell(t('group.linkRevoked'));
        } catch (e) {
          say(e);
        }
      } }, t('group.linkRevoke'));
      ul.append(h('li', { class: 'link-item', dataset: { token: l.token } }, input,
        h('div', { class: 'link-meta small muted' },
          t('group.linkInfo', { time: when(l.expires_at), n: l.uses })),
        h('div', { class: 'actions' }, copy, revoke, status)));
    }
    if (links.length) linksBox.append(ul);
  }

  // ---- join requests (owner/admins of a group that takes them) ----
  async function refreshRequests() {
    const { admin } = state();
    if (!admin) {
      requestsBox.hidden = true;
      return;
    }
    let pending = [];
    try {
      pending = await api.groups.requests(gid);
    } catch { /* shown as none; the actions would say why */ }
    if (destroyed) return;
    requestsBox.hidden = !pending.length;
    requestsBox.replaceChildren(h('h4', null, t('group.requestsTitle', { n: pending.length })),
      h('ul', { class: 'request-list' }, pending.map((r) => h('li', { class: 'request', dataset: { user: String(r.user_id) } },
        h('div', { class: 'member-line' }, h('span', { class: 'member-name' }, r.nickname || r.username),
          h('span', { class: 'muted small' }, ` @${r.username}`)),
        r.message ? h('p', { class: 'small request-message' }, r.message) : null,
        h('div', { class: 'member-actions' },
          h('button', { type: 'button', class: 'small-button primary request-accept',
            onclick: act((a) => a.answerRequest(gid, r.user_id, true), refreshRequests) }, t('group.requestAccept')),
          h('button', { type: 'button', class: 'small-button request-reject',
            onclick: act((a) => a.answerRequest(gid, r.user_id, false), refreshRequests) }, t('group.requestReject')))))));
  }

  // ---- the ban list (owner/admins), read when opened ----
  async function refreshBans() {
    if (!bansBox.open) return;
    let bans = [];
    try {
      bans = await api.groups.bans(gid);
    } catch (e) {
      say(e);
    }
    if (destroyed) return;
    bansTitle.textContent = t('group.bansCount', { n: bans.length });
    bansList.replaceChildren(...(bans.length ? bans.map((b) => h('li', { class: 'ban', dataset: { user: String(b.user_id) } },
      h('span', { class: 'member-name' }, b.nickname || b.username),
      h('span', { class: 'muted small' }, ` ${when(b.banned_at)}`),
      h('button', { type: 'button', class: 'small-button unban',
        onclick: act((a) => a.unban(gid, b.user_id), refreshBans) }, t('group.unban'))))
      : [h('li', { class: 'muted small' }, t('group.bansNone'))]));
  }
  bansBox.addEventListener('toggle', refreshBans);

  function memberRow(m, myRole, live) {
    const name = m.group_nickname || m.nickname || userName(m.user_id);
    const me = m.user_id === S.me.id;
    const status = [];
    if (m.muted) {
      status.push(h('span', { class: 'muted-mark small' }, m.muted_until
        ? t('group.memberMutedUntil', { time: when(m.muted_until) }) : t('group.memberMuted')));
    }
    const actions = [];
    if (live && !me && outranks(myRole, m.role)) {
      if (m.role === ROLE.MEMBER) {
        if (m.muted) {
          actions.push(h('button', { type: 'button', class: 'small-button unmute',
            onclick: act((g) => g.unmute(gid, m.user_id)) }, t('group.unmute')));
        } else {
          const pick = h('select', { class: 'mute-for', 'aria-label': t('group.muteFor') },
            MUTE_FOR.map((min) => h('option', { value: String(min) }, muteLabel(min))));
          actions.push(pick, h('button', { type: 'button', class: 'small-button mute',
            onclick: act((g) => {
              const min = Number(pick.value);
              return g.mute(gid, m.user_id, min ? Date.now() + min * 60000 : null);
            }) }, t('group.mute')));
        }
      }
      if (myRole === ROLE.OWNER) {
        actions.push(m.role === ROLE.ADMIN
          ? h('button', { type: 'button', class: 'small-button dismiss',
            onclick: act((g) => g.setRole(gid, m.user_id, ROLE.MEMBER)) }, t('group.dismiss'))
          : h('button', { type: 'button', class: 'small-button appoint',
            onclick: act((g) => g.setRole(gid, m.user_id, ROLE.ADMIN)) }, t('group.appoint')));
        actions.push(h('button', { type: 'button', class: 'small-button transfer',
          onclick: ask(['transfer', m.user_id]) }, t('group.transfer')));
      }
      actions.push(h('button', { type: 'button', class: 'small-button danger remove',
        onclick: act((g) => g.remove(gid, m.user_id)) }, t('group.remove')));
      actions.push(h('button', { type: 'button', class: 'small-button danger ban',
        onclick: act((g) => g.ban(gid, m.user_id), refreshBans) }, t('group.ban')));
    }
    const confirm = myRole === ROLE.OWNER && isAsking(['transfer', m.user_id])
      ? h('div', { class: 'confirm' },
        h('p', { class: 'small' }, t('group.transferAsk', { name })),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'small-button danger transfer-confirm',
            onclick: () => { confirming = null; act((g) => g.transfer(gid, m.user_id), () => tell(t('group.transferred', { name })))(); } },
          t('group.transferConfirm')),
          h('button', { type: 'button', class: 'small-button', onclick: ask(null) }, t('friends.cancel'))))
      : null;
    return h('li', { class: 'member', dataset: { user: String(m.user_id), role: String(m.role) } },
      h('div', { class: 'member-line' },
        h('span', { class: 'member-name' }, name),
        me ? h('span', { class: 'muted small' }, ` ${t('group.you')}`) : null,
        h('span', { class: `role-badge role-${m.role}` }, t(ROLE_KEY[m.role] || 'group.role.member'))),
      status.length ? h('div', { class: 'member-status' }, status) : null,
      actions.length ? h('div', { class: 'member-actions' }, actions) : null,
      confirm);
  }

  let shownRole = null;
  let shownAdmin = null;
  function render() {
    const { g, members, role: myRole, live, admin, mayInvite } = state();
    // A refusal because my rights changed is stale once the panel shows the new rights.
    if (shownRole !== null && shownRole !== myRole) say(null);
    shownRole = myRole;
    title.textContent = g ? `${g.name} · ${t('groups.members', { n: members.length || g.member_count })}` : t('group.info');

    summary.replaceChildren(...(g ? [
      h('div', { class: 'group-card' }, groupAvatar(g, 'large'),
        h('div', { class: 'group-card-text' },
          h('strong', { class: 'group-name', id: 'group-name-shown' }, g.name),
          h('span', { class: 'muted small' }, t(`group.policy.${g.join_policy}`) || ''))),
      h('div', { class: 'announcement', id: 'group-announcement' },
        h('span', { class: 'muted small' }, t('group.announcement')),
        g.announcement ? h('p', { class: 'announcement-text' }, g.announcement)
          : h('p', { class: 'muted small' }, t('group.noAnnouncement'))),
      g.status === 'dissolved' ? h('p', { class: 'alert small', id: 'group-dissolved' }, t('group.dissolvedNote')) : null,
      g.left && g.status !== 'dissolved' ? h('p', { class: 'alert small', id: 'group-left' }, t('group.leftNote')) : null,
    ].filter(Boolean) : []));
    if (!admin) editBox.hidden = true;
    if (!mayInvite) inviteBox.hidden = true;
    if (!mayInvite) linksBox.hidden = true;

    const toolNodes = [];
    if (admin) {
      toolNodes.push(h('button', { type: 'button', class: 'small-button', id: 'group-edit-open',
        onclick: () => (editBox.hidden ? openEdit() : (editBox.hidden = true)) }, t('group.edit')));
    }
    if (mayInvite) {
      toolNodes.push(h('button', { type: 'button', class: 'small-button', id: 'group-invite-open',
        onclick: () => (inviteBox.hidden ? openInvite() : (inviteBox.hidden = true)) }, t('group.invite')));
      toolNodes.push(h('button', { type: 'button', class: 'small-button', id: 'group-links-open',
        onclick: () => {
          linksBox.hidden = !linksBox.hidden;
          if (!linksBox.hidden) refreshLinks();
        } }, t('group.links')));
    }
    if (admin) {
      const all = g.speak_status === 0;
      toolNodes.push(h('button', { type: 'button', class: 'small-button', id: 'mute-all',
        'aria-pressed': String(all), onclick: act((a) => a.muteAll(gid, !all)) },
      all ? t('group.unmuteAll') : t('group.muteAll')));
    }
    if (live && g.speak_status === 0) toolNodes.push(h('p', { class: 'muted small' }, t('group.allMutedNote')));
    tools.replaceChildren(...toolNodes);

    const end = [];
    if (live && myRole !== ROLE.OWNER) {
      end.push(h('button', { type: 'button', class: 'small-button', id: 'leave-group', onclick: ask('leave') },
        t('group.leave')));
      if (isAsking('leave')) {
        end.push(h('button', { type: 'button', class: 'small-button danger', id: 'leave-confirm',
          onclick: () => act((a) => a.leave(gid))().then(() => {
            if (!error.textContent) location.hash = '#/chats';
          }) }, t('group.leaveConfirm')));
      }
    }
    if (live && myRole === ROLE.OWNER) {
      end.push(h('button', { type: 'button', class: 'small-button danger', id: 'dissolve-group', onclick: ask('dissolve') },
        t('group.dissolve')));
      if (isAsking('dissolve')) {
        end.push(h('div', { class: 'confirm' }, h('p', { class: 'small' }, t('group.dissolveAsk')),
          h('div', { class: 'actions' },
            h('button', { type: 'button', class: 'small-button danger', id: 'dissolve-confirm',
              onclick: () => { confirming = null; act((a) => a.dissolve(gid))(); } }, t('group.dissolveConfirm')),
            h('button', { type: 'button', class: 'small-button', onclick: ask(null) }, t('friends.cancel')))));
      }
    }
    endTools.replaceChildren(...end);

    bansBox.hidden = !admin;
    if (admin !== shownAdmin) {
      shownAdmin = admin;
      refreshRequests();
      if (!linksBox.hidden) refreshLinks();
    }
    const order = (m) => (m.role === ROLE.OWNER ? 0 : m.role === ROLE.ADMIN ? 1 : 2);
    list.replaceChildren(...[...members].sort((a, b) => order(a) - order(b) || a.joined_at - b.joined_at)
      .map((m) => memberRow(m, myRole, live)));
  }

  const offs = [
    on('members', (id) => { if (id === gid) render(); }),
    on('groups', render),
    on('group_event', (ev) => {
      if (ev.group_id !== gid) return;
      refreshRequests();
      refreshBans();
      if (!linksBox.hidden) refreshLinks();
    }),
  ];
  render();
  loadMembers(gid).catch((e) => { say(e); });
  return { el, destroy: () => { destroyed = true; offs.forEach((off) => off()); } };
}
