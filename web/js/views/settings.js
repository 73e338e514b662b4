// Settings: my avatar (a picture chosen, previewed, uploaded), nickname and status, email,
// password, and my sessions (end one, or all the others).

import * as api from '../api.js';
import { avatar, h } from '../dom.js';
import { errorText, locale, t } from '../i18n.js';
import { uploadAvatar } from '../media.js';
import { S, on, updateProfile } from '../state.js';
import { emailSection } from './email.js';

function section(title, ...body) {
  return h('section', { class: 'settings-section' }, h('h3', null, title), ...body);
}

function status(el, ok, text) {
  el.className = `small ${ok ? 'ok' : 'error'}`;
  el.textContent = text;
}

function when(ms) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(ms);
}

/**
 * My avatar: a picture is chosen and shown round, as it will look, before anything is sent;
 * "Use this picture" uploads it (kind=avatar: the server crops it square) and makes it mine.
 */
function avatarSection() {
  const current = h('span', { class: 'avatar-current', id: 'avatar-current' });
  const input = h('input', { type: 'file', id: 'avatar-input', accept: 'image/*', hidden: true });
  const line = h('p', { role: 'status' });
  const choose = h('button', { type: 'button', class: 'small-button', id: 'avatar-choose', onclick: () => input.click() },
    t('settings.avatarChoose'));
  const remove = h('button', { type: 'button', class: 'small-button link', id: 'avatar-remove' }, t('settings.avatarRemove'));
  const actions = h('div', { class: 'avatar-actions' }, choose, remove);
  let chosen = null; // {file, url}

  function drawCurrent() {
    if (chosen || !S.me) return;
    current.replaceChildren(avatar(S.me.nickname, S.me.id, 'large', S.me.avatar));
    remove.hidden = !S.me.avatar;
  }
  function drop() {
    if (chosen) URL.revokeObjectURL(chosen.url);
    chosen = null;
    input.value = '';
    actions.replaceChildren(choose, remove);
    drawCurrent();
  }
  input.addEventListener('change', () => {
    const file = input.files && input.files[0];
    if (!file) return;
    drop();
    chosen = { file, url: URL.createObjectURL(file) };
    const img = h('img', { class: 'avatar-preview', id: 'avatar-preview', alt: t('settings.avatarPreview') });
    img.src = chosen.url;
    current.replaceChildren(img);
    line.textContent = '';
    const save = h('button', { type: 'button', class: 'primary small-button', id: 'avatar-save', onclick: async () => {
      save.disabled = true;
      status(line, true, t('settings.avatarUploading'));
      try {
        const uploaded = await uploadAvatar(chosen.file);
        await updateProfile({ avatar: uploaded.id });
        drop();
        status(line, true, t('settings.avatarSaved'));
      } catch (e) {
        save.disabled = false;
        status(line, false, errorText(e));
      }
    } }, t('settings.avatarSave'));
    actions.replaceChildren(save, h('button', { type: 'button', class: 'small-button', id: 'avatar-cancel', onclick: () => {
      drop();
      line.textContent = '';
    } }, t('chat.cancel')));
  });
  remove.addEventListener('click', async () => {
    try {
      await updateProfile({ avatar: '' });
      status(line, true, t('settings.avatarRemoved'));
    } catch (e) {
      status(line, false, errorText(e));
    }
  });
  drawCurrent();
  const off = on('me', drawCurrent);
  const el = h('div', { class: 'avatar-setting' }, current,
    h('div', { class: 'avatar-side' }, h('span', { class: 'muted small' }, t('settings.avatarHint')), actions, input, line));
  // Leaving (signing out included, when there is no profile any more) only lets the preview go.
  return { el, destroy() { off(); if (chosen) URL.revokeObjectURL(chosen.url); chosen = null; } };
}

export function mountSettings(root) {
  const avatarPart = avatarSection();
  // Profile.
  const nickname = h('input', { id: 'settings-nickname', maxlength: 32, value: S.me.nickname, required: true });
  const presence = h('select', { id: 'settings-status' },
    [1, 2, 3, 4].map((v) => h('option', { value: String(v), selected: S.me.online_status === v }, t(`status.${v}`))));
  const profileLine = h('p', { role: 'status' });
  const profileForm = h('form', { class: 'form' },
    h('div', { class: 'field' }, h('label', { for: 'settings-nickname' }, t('settings.nickname')), nickname),
    h('div', { class: 'field' }, h('label', { for: 'settings-status' }, t('settings.status')), presence),
    h('button', { type: 'submit', class: 'primary', id: 'settings-save' }, t('settings.save')), profileLine);
  profileForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await updateProfile({ nickname: nickname.value.trim(), online_status: Number(presence.value) });
      status(profileLine, true, t('settings.saved'));
    } catch (e) {
      status(profileLine, false, errorText(e));
    }
  });

  // Password.
  const field = (id, label, auto) => {
    const input = h('input', { id, type: 'password', autocomplete: auto, required: true });
    return [input, h('div', { class: 'field' }, h('label', { for: id }, label), input)];
  };
  const [oldPw, oldField] = field('old-password', t('settings.oldPassword'), 'current-password');
  const [newPw, newField] = field('new-password', t('settings.newPassword'), 'new-password');
  const [confirmPw, confirmField] = field('confirm-password', t('field.confirm'), 'new-password');
  const pwLine = h('p', { role: 'status' });
  const pwForm = h('form', { class: 'form' }, oldField, newField, confirmField,
    h('p', { class: 'hint' }, t('settings.passwordNote')),
    h('button', { type: 'submit', class: 'primary', id: 'password-save' }, t('settings.changePassword')), pwLine);
  pwForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api.profile.password(oldPw.value, newPw.value, confirmPw.value);
      for (const i of [oldPw, newPw, confirmPw]) i.value = '';
      status(pwLine, true, t('settings.passwordChanged'));
      loadSessions();
    } catch (e) {
      status(pwLine, false, errorText(e));
    }
  });

  // Sessions.
  const sessions = h('ul', { class: 'sessions', id: 'sessions' });
  const sessionsLine = h('p', { role: 'status' });
  async function loadSessions() {
    try {
      const list = await api.auth.sessions();
      sessions.replaceChildren(...list.map((s) => h('li', { class: 'session', dataset: { sessionId: String(s.id) } },
        h('div', { class: 'session-body' },
          h('strong', null, s.user_agent || t('settings.unknownDevice')),
          h('span', { class: 'muted small' }, `${s.ip || '?'} · ${t('settings.lastSeen', { when: when(s.last_seen_at) })}`)),
        s.current ? h('span', { class: 'tag' }, t('settings.thisDevice'))
          : h('button', { type: 'button', class: 'small-button end-session', onclick: async () => {
            try {
              await api.auth.revoke(s.id);
              loadSessions();
            } catch (e) {
              status(sessionsLine, false, errorText(e));
            }
          } }, t('settings.end')))));
    } catch (e) {
      status(sessionsLine, false, errorText(e));
    }
  }
  const endOthers = h('button', { type: 'button', class: 'small-button', id: 'end-others', onclick: async () => {
    try {
      await api.auth.revokeOthers();
      loadSessions();
    } catch (e) {
      status(sessionsLine, false, errorText(e));
    }
  } }, t('settings.endOthers'));
  loadSessions();

  root.replaceChildren(h('section', { class: 'settings', id: 'settings' },
    h('header', { class: 'chat-head' },
      h('a', { href: '#/chats', class: 'back', 'aria-label': t('chat.back') }, '‹'),
      h('h2', { class: 'chat-title' }, t('settings.title'))),
    h('div', { class: 'settings-body' },
      section(t('settings.profile'), avatarPart.el, profileForm),
      emailSection(section, status),
      section(t('settings.password'), pwForm),
      section(t('settings.sessions'), sessions, endOthers, sessionsLine))));
  return { destroy() { avatarPart.destroy(); } };
}
