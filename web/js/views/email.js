// My email address in settings: bind one with the code mailed to it, change it (the old
// address is told), or remove it with my password. A verified address signs in and resets a
// forgotten password.

import * as api from '../api.js';
import { h } from '../dom.js';
import { errorText, t } from '../i18n.js';
import { S, updateMe } from '../state.js';

/**
 * The settings section; `section(title, ...body)` draws it like the others and
 * `status(el, ok, text)` says how an action went.
 */
export function emailSection(section, status) {
  const line = h('p', { role: 'status', id: 'email-status' });
  const say = (ok, text) => status(line, ok, text);
  const current = h('div', { class: 'email-current', id: 'email-current' });
  const address = h('input', { id: 'email-address', type: 'email', autocomplete: 'email', maxlength: 254, required: true });
  const bindForm = h('form', { class: 'form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'email-address' }, t('email.address')), address),
    h('button', { type: 'submit', class: 'primary', id: 'email-send' }, t('email.sendCode')));
  const code = h('input', { id: 'email-code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, required: true });
  const sentTo = h('p', { class: 'hint', id: 'email-sent' });
  const verifyForm = h('form', { class: 'form', novalidate: true, hidden: true }, sentTo,
    h('div', { class: 'field' }, h('label', { for: 'email-code' }, t('field.code')), code),
    h('button', { type: 'submit', class: 'primary', id: 'email-verify' }, t('email.verify')));
  const password = h('input', { id: 'email-remove-password', type: 'password', autocomplete: 'current-password', required: true });
  const removeForm = h('form', { class: 'form', novalidate: true, hidden: true },
    h('div', { class: 'field' }, h('label', { for: 'email-remove-password' }, t('email.removePassword')), password),
    h('button', { type: 'submit', class: 'danger', id: 'email-remove-confirm' }, t('email.remove')));

  function show() {
    const { email, email_verified: verified } = S.me;
    if (email) {
      current.replaceChildren(h('strong', { id: 'email-shown' }, email), ' ',
        h('span', { class: `tag${verified ? '' : ' warn'}` }, t(verified ? 'email.verified' : 'email.unverified')), ' ',
        h('button', { type: 'button', class: 'link', id: 'email-change', onclick: () => {
          bindForm.hidden = false;
          removeForm.hidden = true;
          address.focus();
        } }, t('email.change')), ' ',
        h('button', { type: 'button', class: 'link', id: 'email-remove', onclick: () => {
          removeForm.hidden = false;
          bindForm.hidden = true;
          verifyForm.hidden = true;
          password.focus();
        } }, t('email.remove')));
      bindForm.hidden = true;
    } else {
      current.replaceChildren(h('p', { class: 'hint' }, t('email.none')));
      bindForm.hidden = false;
      removeForm.hidden = true;
    }
  }

  bindForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    line.textContent = '';
    try {
      const sent = await api.post('profile/email', { email: address.value.trim() });
      sentTo.textContent = t('email.codeSent', { email: sent.email });
      verifyForm.hidden = false;
      code.value = '';
      code.focus();
    } catch (e) {
      say(false, errorText(e));
    }
  });
  verifyForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      updateMe(await api.post('profile/email/verify', { code: code.value.trim() }));
      verifyForm.hidden = true;
      address.value = '';
      show();
      say(true, t('email.bound'));
    } catch (e) {
      say(false, errorText(e));
    }
  });
  removeForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      updateMe(await api.post('profile/email/remove', { password: password.value }));
      password.value = '';
      show();
      say(true, t('email.removed'));
    } catch (e) {
      say(false, errorText(e));
    }
  });
  show();
  return section(t('settings.email'), current, bindForm, verifyForm, removeForm, line);
}
