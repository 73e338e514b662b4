// Sign-in and registration pages. The captcha is shown as an image (made a blob: URL, so the
// page's policy needs no data: images) and can be refreshed; sign-in asks for it when the
// server says so, and says plainly when an account is locked.

import * as api from '../api.js';
import { h } from '../dom.js';
import { LANGUAGES, errorText, getLang, setLang, t } from '../i18n.js';
import { S, signIn } from '../state.js';

function pngBlob(dataUrl) {
  const prefix = 'data:image/png;base64,';
  if (typeof dataUrl !== 'string' || !dataUrl.startsWith(prefix)) return null;
  const bin = atob(dataUrl.slice(prefix.length));
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) bytes[i] = bin.charCodeAt(i);
  return new Blob([bytes], { type: 'image/png' });
}

function captchaField(onError) {
  let id = '';
  let url = '';
  const img = h('img', { class: 'captcha-img', alt: t('captcha.alt'), width: 220, height: 80 });
  const input = h('input', {
    id: 'captcha', name: 'captcha', inputmode: 'numeric', autocomplete: 'off', maxlength: 12,
    spellcheck: 'false',
  });
  async function refresh() {
    input.value = '';
    try {
      const c = await api.auth.captcha();
      const blob = pngBlob(c.data);
      if (!blob) return;
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(blob);
      id = c.id;
      img.src = url;
      img.dataset.captchaId = id;
    } catch (e) {
      onError(e);
    }
  }
  const refreshButton = h('button', { type: 'button', class: 'link captcha-refresh', onclick: refresh },
    t('captcha.refresh'));
  img.addEventListener('click', refresh);
  const el = h('div', { class: 'field' },
    h('label', { for: 'captcha' }, t('field.captcha')),
    h('div', { class: 'captcha-row' }, img, refreshButton),
    input);
  return {
    el,
    refresh,
    value: () => ({ captcha_id: id, captcha: input.value.trim() }),
    focus: () => input.focus(),
  };
}

function field(id, label, attrs, hint) {
  const input = h('input', { id, name: id, ...attrs });
  return {
    input,
    el: h('div', { class: 'field' }, h('label', { for: id }, label), input,
      hint ? h('p', { class: 'hint' }, hint) : null),
  };
}

function languagePicker() {
  const select = h('select', { 'aria-label': t('lang.label'), class: 'lang-select' },
    LANGUAGES.map(([code, name]) => h('option', { value: code, selected: code === getLang() }, name)));
  select.addEventListener('change', () => setLang(select.value));
  return select;
}

function page(title, form, footer) {
  return h('div', { class: 'auth' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, 'J'),
        h('div', null, h('h1', null, t('app.name')), h('p', { class: 'muted' }, t('app.tagline')))),
      h('h2', null, title),
      form,
      footer),
    h('div', { class: 'auth-lang' }, languagePicker()));
}

function setBusy(form, busy) {
  for (const el of form.querySelectorAll('button, input')) el.disabled = busy;
}

export function renderLogin(root) {
  const alert = h('p', { class: 'alert', role: 'alert', hidden: true });
  const notice = h('p', { class: 'notice', role: 'status', hidden: !S.notice }, S.notice);
  const username = field('username', t('field.login'),
    { autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = field('password', t('field.password'),
    { type: 'password', autocomplete: 'current-password', required: true });
  const showError = (e, extra) => {
    alert.replaceChildren(errorText(e), extra ? h('br') : null, extra || null);
    alert.hidden = false;
  };
  const captcha = captchaField(showError);
  captcha.el.hidden = true;
  const submit = h('button', { type: 'submit', class: 'primary' }, t('login.submit'));
  const form = h('form', { class: 'form', novalidate: true }, notice, username.el, password.el,
    captcha.el, alert, submit);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    alert.hidden = true;
    const fields = { username: username.input.value.trim(), password: password.input.value };
    if (!fields.username || !fields.password) {
      (fields.username ? password : username).input.focus();
      return;
    }
    if (!captcha.el.hidden) Object.assign(fields, captcha.value());
    setBusy(form, true);
    try {
      const out = await api.auth.login(fields);
      await signIn(out.token);
    } catch (e) {
      setBusy(form, false);
      const needCaptcha = e.data && e.data.need_captcha && e.code !== 'TOO_MANY_LOGIN_FAILURES';
      if (e.code === 'WRONG_CREDENTIALS' && e.data && e.data.fail_times) {
        showError({ message: t('login.failures', { n: e.data.fail_times }) },
          needCaptcha ? t('login.captchaNeeded') : null);
      } else {
        showError(e, needCaptcha && !String(e.code).startsWith('CAPTCHA') ? t('login.captchaNeeded') : null);
      }
      if (needCaptcha) {
        captcha.el.hidden = false;
        await captcha.refresh();
      }
      if (e.code === 'WRONG_CREDENTIALS') {
        password.input.value = '';
        password.input.focus();
      } else if (needCaptcha) captcha.focus();
    }
  });

  root.replaceChildren(page(t('login.title'), form,
    h('p', { class: 'switch' }, h('a', { href: '#/forgot', id: 'to-forgot' }, t('login.forgot')), h('br'),
      h('a', { href: '#/register', id: 'to-register' }, t('login.toRegister')))));
  (username.input.value ? password : username).input.focus();
}

/**
 * After registering on a server that wants a verified address: the code mailed to it, then
 * signing in. "Send another code" asks again (the server answers alike whatever the name).
 */
function verifyStep(creds, address) {
  const alert = h('p', { class: 'alert', role: 'alert', hidden: true });
  const code = field('register-code', t('field.code'),
    { inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, required: true });
  const sent = h('p', { class: 'notice', role: 'status', id: 'register-code-sent' }, t('email.codeSent', { email: address }));
  const resend = h('button', { type: 'button', class: 'link', id: 'register-resend', onclick: async () => {
    try {
      await api.post('auth/email/resend', { username: creds.username });
      sent.textContent = t('email.codeSent', { email: address });
    } catch (e) {
      alert.textContent = errorText(e);
      alert.hidden = false;
    }
  } }, t('forgot.resend'));
  const form = h('form', { class: 'form', novalidate: true }, sent, code.el, alert,
    h('button', { type: 'submit', class: 'primary', id: 'register-verify' }, t('email.verify')), resend);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    alert.hidden = true;
    setBusy(form, true);
    try {
      await api.post('auth/email/verify', { username: creds.username, code: code.input.value.trim() });
      const out = await api.auth.login(creds);
      await signIn(out.token);
    } catch (e) {
      setBusy(form, false);
      alert.textContent = errorText(e);
      alert.hidden = false;
    }
  });
  setTimeout(() => code.input.focus(), 0);
  return form;
}

export function renderRegister(root) {
  const alert = h('p', { class: 'alert', role: 'alert', hidden: true });
  const username = field('username', t('field.username'),
    { autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false', maxlength: 32 },
    t('register.rules'));
  const nickname = field('nickname', t('field.nickname'), { autocomplete: 'nickname', maxlength: 32 });
  const password = field('password', t('field.password'),
    { type: 'password', autocomplete: 'new-password', required: true }, t('register.passwordRules'));
  const confirm = field('confirm', t('field.confirm'), { type: 'password', autocomplete: 'new-password', required: true });
  const showError = (e) => {
    alert.textContent = errorText(e);
    alert.hidden = false;
  };
  const captcha = captchaField(showError);
  // Shown when the server wants a verified address before the first sign-in.
  const email = field('register-email', t('email.address'),
    { type: 'email', autocomplete: 'email', maxlength: 254 }, t('register.emailRule'));
  email.el.hidden = true;
  let requireEmail = false;
  api.get('auth/options').then((o) => {
    requireEmail = !!(o && o.require_email);
    email.el.hidden = !requireEmail;
  }).catch(() => {});
  const submit = h('button', { type: 'submit', class: 'primary' }, t('register.submit'));
  const form = h('form', { class: 'form', novalidate: true }, username.el, nickname.el, email.el, password.el,
    confirm.el, captcha.el, alert, submit);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    alert.hidden = true;
    const creds = { username: username.input.value.trim(), password: password.input.value };
    setBusy(form, true);
    try {
      await api.auth.register({
        ...creds,
        confirm_password: confirm.input.value,
        nickname: nickname.input.value.trim() || undefined,
        email: requireEmail ? email.input.value.trim() : undefined,
        ...captcha.value(),
      });
    } catch (e) {
      setBusy(form, false);
      showError(e);
      // The server used up the captcha whatever went wrong after checking it.
      captcha.refresh();
      return;
    }
    if (requireEmail) {
      form.replaceWith(verifyStep(creds, email.input.value.trim()));
      return;
    }
    try {
      const out = await api.auth.login(creds);
      await signIn(out.token);
    } catch (e) {
      setBusy(form, false);
      showError(e);
    }
  });

  root.replaceChildren(page(t('register.title'), form,
    h('p', { class: 'switch' }, h('a', { href: '#/login', id: 'to-login' }, t('register.toLogin')))));
  captcha.refresh();
  username.input.focus();
}

/**
 * "Forgot your password": the username or verified address first (the server answers alike
 * whether or not such an account exists), then the mailed code with the new password. Done,
 * every session of the account has ended, and the sign-in page says so.
 */
export function renderForgot(root) {
  const alert = h('p', { class: 'alert', role: 'alert', hidden: true });
  const note = h('p', { class: 'notice', role: 'status', id: 'forgot-sent', hidden: true }, t('forgot.sent'));
  const login = field('forgot-login', t('field.login'),
    { autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false', maxlength: 254 });
  const code = field('forgot-code', t('field.code'),
    { inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, required: true });
  const password = field('forgot-password', t('settings.newPassword'),
    { type: 'password', autocomplete: 'new-password', required: true }, t('register.passwordRules'));
  const confirm = field('forgot-confirm', t('field.confirm'), { type: 'password', autocomplete: 'new-password', required: true });
  const showError = (e) => {
    alert.textContent = errorText(e);
    alert.hidden = false;
  };
  const send = h('button', { type: 'submit', class: 'primary', id: 'forgot-send' }, t('forgot.send'));
  const ask = h('form', { class: 'form', novalidate: true },
    h('p', { class: 'hint' }, t('forgot.intro')), login.el, send);
  const resend = h('button', { type: 'button', class: 'link', id: 'forgot-resend',
    onclick: () => ask.requestSubmit() }, t('forgot.resend'));
  const submit = h('button', { type: 'submit', class: 'primary', id: 'forgot-submit' }, t('forgot.submit'));
  const reset = h('form', { class: 'form', novalidate: true, hidden: true },
    code.el, password.el, confirm.el, submit, resend);

  ask.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    alert.hidden = true;
    const who = login.input.value.trim();
    if (!who) {
      login.input.focus();
      return;
    }
    setBusy(ask, true);
    try {
      await api.post('auth/password/forgot', { login: who });
      note.hidden = false;
      reset.hidden = false;
      code.input.focus();
    } catch (e) {
      showError(e);
    }
    setBusy(ask, false);
  });
  reset.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    alert.hidden = true;
    if (password.input.value !== confirm.input.value) {
      showError({ code: 'CONFIRM_PASSWORD_MISMATCH' });
      confirm.input.focus();
      return;
    }
    setBusy(reset, true);
    try {
      await api.post('auth/password/reset',
        { login: login.input.value.trim(), code: code.input.value.trim(), new_password: password.input.value });
    } catch (e) {
      setBusy(reset, false);
      showError(e);
      return;
    }
    S.notice = t('forgot.done');
    location.hash = '#/login';
  });

  root.replaceChildren(page(t('forgot.title'), h('div', null, note, ask, reset, alert),
    h('p', { class: 'switch' }, h('a', { href: '#/login', id: 'to-login' }, t('forgot.back')))));
  login.input.focus();
}
