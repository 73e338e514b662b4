// A group's info panel beside its chat: the members with their roles and mutes, the actions
// the server allows me on each (the owner on admins and members, admins on members; the owner
// alone appoints admins), mute-all, and leaving. A refusal is said in words. Also: why my
// composer is closed in a group (muted until …, or everyone muted).

import { h } from '../dom.js';
import { errorText, t } from '../i18n.js';
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
 * Why I may not write in group `gid` right now ('' when I may), from the group's info and my
 * member entry; `next` is when that changes by itself (a timed mute's end), or 0.
 */
export function muteReason(gid) {
  const g = S.groups.get(gid);
  if (!g) return { text: '', next: 0 };
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

/** The panel for group `gid`; `close` hides it. Returns {el, destroy}. */
export function groupPanel(gid, close) {
  const error = h('p', { class: 'error small', id: 'group-error', role: 'alert' });
  const list = h('ul', { class: 'member-list', id: 'member-list' });
  const tools = h('div', { class: 'group-tools' });
  const title = h('h3', null, t('group.info'));
  const el = h('aside', { class: 'group-panel', id: 'group-panel', 'aria-label': t('group.info') },
    h('div', { class: 'group-panel-head' }, title,
      h('button', { type: 'button', class: 'link', id: 'group-panel-close', onclick: close }, t('chat.close'))),
    tools, error, list);

  const act = (fn) => async () => {
    error.textContent = '';
    try {
      await groupAction(gid, fn);
    } catch (e) {
      error.textContent = errorText(e);
    }
  };

  function memberRow(m, myRole) {
    const name = m.group_nickname || m.nickname || userName(m.user_id);
    const me = m.user_id === S.me.id;
    const status = [];
    if (m.muted) {
      status.push(h('span', { class: 'muted-mark small' }, m.muted_until
        ? t('group.memberMutedUntil', { time: when(m.muted_until) }) : t('group.memberMuted')));
    }
    const actions = [];
    if (!me && outranks(myRole, m.role)) {
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
      }
      actions.push(h('button', { type: 'button', class: 'small-button danger remove',
        onclick: act((g) => g.remove(gid, m.user_id)) }, t('group.remove')));
    }
    return h('li', { class: 'member', dataset: { user: String(m.user_id), role: String(m.role) } },
      h('div', { class: 'member-line' },
        h('span', { class: 'member-name' }, name),
        me ? h('span', { class: 'muted small' }, ` ${t('group.you')}`) : null,
        h('span', { class: `role-badge role-${m.role}` }, t(ROLE_KEY[m.role] || 'group.role.member'))),
      status.length ? h('div', { class: 'member-status' }, status) : null,
      actions.length ? h('div', { class: 'member-actions' }, actions) : null);
  }

  let shownRole = null;
  function render() {
    const g = S.groups.get(gid);
    const members = S.members.get(gid) || [];
    const mine = members.find((m) => m.user_id === S.me.id);
    const myRole = mine ? mine.role : (g ? g.my_role : ROLE.MEMBER);
    // A refusal because my rights changed is stale once the panel shows the new rights.
    if (shownRole !== null && shownRole !== myRole) error.textContent = '';
    shownRole = myRole;
    title.textContent = g ? `${g.name} · ${t('groups.members', { n: members.length || g.member_count })}` : t('group.info');
    const toolNodes = [];
    if (g && (myRole === ROLE.OWNER || myRole === ROLE.ADMIN)) {
      const all = g.speak_status === 0;
      toolNodes.push(h('button', { type: 'button', class: 'small-button', id: 'mute-all',
        'aria-pressed': String(all), onclick: act((api) => api.muteAll(gid, !all)) },
      all ? t('group.unmuteAll') : t('group.muteAll')));
    }
    if (g && g.speak_status === 0) toolNodes.push(h('p', { class: 'muted small' }, t('group.allMutedNote')));
    if (myRole !== ROLE.OWNER) {
      // Two steps: the first click asks, the second leaves.
      const sure = h('button', { type: 'button', class: 'small-button danger', id: 'leave-confirm', hidden: true,
        onclick: () => act((api) => api.leave(gid))().then(() => {
          if (!error.textContent) location.hash = '#/chats';
        }) }, t('group.leaveConfirm'));
      toolNodes.push(h('button', { type: 'button', class: 'small-button', id: 'leave-group',
        onclick: () => { sure.hidden = !sure.hidden; } }, t('group.leave')), sure);
    }
    tools.replaceChildren(...toolNodes);
    const order = (m) => (m.role === ROLE.OWNER ? 0 : m.role === ROLE.ADMIN ? 1 : 2);
    list.replaceChildren(...[...members].sort((a, b) => order(a) - order(b) || a.joined_at - b.joined_at)
      .map((m) => memberRow(m, myRole)));
  }

  const offs = [
    on('members', (id) => { if (id === gid) render(); }),
    on('groups', render),
  ];
  render();
  loadMembers(gid).catch((e) => { error.textContent = errorText(e); });
  return { el, destroy: () => offs.forEach((off) => off()) };
}
