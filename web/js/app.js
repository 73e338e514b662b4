// Start-up and routing. Routes live in the hash (#/login, #/register, #/forgot, #/chats,
// #/friends, #/chat/<session_type>/<target_id>, #/world, #/settings, #/join/<invite link
// token>, #/group/<group id>), so the server only ever serves index.html at /. A join address
// opened while signed out is kept for after signing in.

import { h } from './dom.js';
import { errorText, onLangChange, t } from './i18n.js';
import { S, SESSION, isSignedIn, on, start } from './state.js';
import { renderForgot, renderLogin, renderRegister } from './views/auth.js';
import { mountShell } from './views/shell.js';

const root = document.getElementById('app');
let shell = null;
let booting = true;

function parts() {
  return location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
}

function dropShell() {
  if (shell) shell.destroy();
  shell = null;
}

// Where to go once signed in (a join address opened while signed out), for this tab only.
const AFTER_KEY = 'jim.after';
const JOIN_PAGES = new Set(['join', 'group']);

function keepForLater(hash) {
  try {
    sessionStorage.setItem(AFTER_KEY, hash);
  } catch { /* private mode: the address is lost, the person opens it again */ }
}

function takeLater() {
  try {
    const hash = sessionStorage.getItem(AFTER_KEY);
    sessionStorage.removeItem(AFTER_KEY);
    return hash;
  } catch {
    return null;
  }
}

function route() {
  if (booting) return;
  const [page, a, b] = parts();
  if (!isSignedIn() || !S.me) {
    dropShell();
    if (JOIN_PAGES.has(page) && a) keepForLater(location.hash);
    if (page === 'register') renderRegister(root);
    else if (page === 'forgot') renderForgot(root);
    else {
      if (page !== 'login') history.replaceState(null, '', '#/login');
      renderLogin(root);
    }
    return;
  }
  if (page === 'login' || page === 'register' || page === 'forgot' || !page) {
    history.replaceState(null, '', '#/chats');
    route();
    return;
  }
  if (!shell) shell = mountShell(root);
  const st = Number(a);
  const tid = Number(b);
  if (page === 'world' || (page === 'chat' && st === SESSION.WORLD)) shell.show({ tab: shell.tab || 'chats', world: true });
  else if (page === 'chat' && st > 0 && tid > 0) shell.show({ tab: shell.tab || 'chats', chat: [st, tid] });
  else if (page === 'friends') shell.show({ tab: 'friends' });
  else if (page === 'settings') shell.show({ tab: shell.tab || 'chats', settings: true });
  else if (page === 'join' && a) shell.show({ tab: shell.tab || 'chats', join: { token: decodeURIComponent(a) } });
  else if (page === 'group' && Number(a) > 0) shell.show({ tab: shell.tab || 'chats', join: { groupId: Number(a) } });
  else shell.show({ tab: 'chats' });
}

function offlinePage(err) {
  root.replaceChildren(h('div', { class: 'auth' }, h('div', { class: 'auth-card' },
    h('p', { class: 'alert', role: 'alert' }, errorText(err)),
    h('button', { type: 'button', class: 'primary', onclick: boot }, t('chat.retry')))));
}

async function boot() {
  booting = true;
  if (isSignedIn()) {
    try {
      await start();
    } catch (err) {
      booting = false;
      // A refused token signs out through the API's handler; anything else is the network.
      if (isSignedIn()) {
        offlinePage(err);
        return;
      }
    }
  }
  booting = false;
  route();
}

// Anything the page's Content-Security-Policy refuses is a bug of this client: say so.
document.addEventListener('securitypolicyviolation', (e) => {
  console.error(`CSP refused ${e.blockedURI || 'inline code'} (${e.violatedDirective})`);
});

window.addEventListener('hashchange', route);
on('auth', () => {
  dropShell();
  if (isSignedIn() && S.me) history.replaceState(null, '', takeLater() || '#/chats');
  route();
});
onLangChange(() => {
  dropShell();
  route();
});
boot();
