// Start-up and routing. Routes live in the hash (#/login, #/register, #/chats, #/friends,
// #/chat/<session_type>/<target_id>, #/world, #/settings), so the server only ever serves index.html at /.

import { h } from './dom.js';
import { errorText, onLangChange, t } from './i18n.js';
import { S, SESSION, isSignedIn, on, start } from './state.js';
import { renderLogin, renderRegister } from './views/auth.js';
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

function route() {
  if (booting) return;
  const [page, a, b] = parts();
  if (!isSignedIn() || !S.me) {
    dropShell();
    if (page === 'register') renderRegister(root);
    else {
      if (page !== 'login') history.replaceState(null, '', '#/login');
      renderLogin(root);
    }
    return;
  }
  if (page === 'login' || page === 'register' || !page) {
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
  if (isSignedIn() && S.me) history.replaceState(null, '', '#/chats');
  route();
});
onLangChange(() => {
  dropShell();
  route();
});
boot();
