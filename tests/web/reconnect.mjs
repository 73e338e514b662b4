// The one WebSocket: while the browser is offline 20 messages arrive; back online, the page
// shows all 20 in order, once each, without a reload. While the tab is hidden a message
// raises a notification (once allowed) and the unread count shows in the title. Then the
// session is ended from another device: the page returns to sign-in and says so.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failed, befriendByApi, call, launch, person, registerByApi, sendByApi, shot,
  signInThroughPages, startServer,
} from './lib.mjs';

test('catch-up after being offline; a session ended elsewhere returns to sign-in', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const fay = await registerByApi(server.url, 'fay', 'fay-pass12', 'Fay');
    const gus = await registerByApi(server.url, 'gus', 'gus-pass12', 'Gus');
    await befriendByApi(server.url, fay, gus);
    await sendByApi(server.url, gus, fay, 'before the drop');

    // The page's Notification and visibility, observed: what it would show, and a tab the
    // test can hide.
    const init = () => {
      window.__notes = [];
      let permission = 'default';
      window.Notification = class {
        constructor(title, options) {
          window.__notes.push({ title, body: options && options.body });
        }
        close() {}
        static get permission() { return permission; }
        static requestPermission() { permission = 'granted'; return Promise.resolve(permission); }
      };
      Object.defineProperty(document, 'visibilityState', { get: () => (window.__hidden ? 'hidden' : 'visible') });
    };
    const who = await person(browser, server.url, { init });
    const P = who.page;
    await signInThroughPages(P, 'fay', 'fay-pass12');
    await P.click('#conversations a.conv');
    await P.locator('#messages .msg').filter({ hasText: 'before the drop' }).waitFor();
    await P.locator('.conn[data-state="online"]').waitFor();

    await who.context.setOffline(true);
    await P.locator('.conn[data-state="offline"], .conn[data-state="connecting"]').waitFor();
    const texts = Array.from({ length: 20 }, (_, i) => `missed ${String(i + 1).padStart(2, '0')}`);
    for (const text of texts) await sendByApi(server.url, gus, fay, text);
    await P.waitForTimeout(300);
    assert.equal(await P.locator('#messages .msg').filter({ hasText: 'missed' }).count(), 0, 'nothing while offline');
    await shot(P, 'desktop-en-light-offline');

    await who.context.setOffline(false);
    await P.locator('.conn[data-state="online"]').waitFor();
    await P.locator('#messages .msg').filter({ hasText: 'missed 20' }).waitFor();
    await P.waitForTimeout(500);
    const shown = (await P.locator('#messages .msg .bubble').allTextContents()).filter((t) => t.startsWith('missed'));
    assert.deepEqual(shown, texts, 'all 20, in order, once each');
    const live = 'after the drop';
    await sendByApi(server.url, gus, fay, live);
    await P.locator('#messages .msg').filter({ hasText: live }).waitFor();
    await shot(P, 'desktop-en-light-caught-up');

    // Notifications: allowed from the menu, shown for a message while the tab is hidden.
    await P.click('.menu summary');
    await P.click('#notify-ask');
    await P.locator('.menu-panel .ok').waitFor();
    await P.click('.chat-title');
    const hide = (hidden) => P.evaluate((h) => {
      window.__hidden = h;
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
    await hide(true);
    await sendByApi(server.url, gus, fay, 'are you there?');
    await P.waitForFunction(() => window.__notes.length > 0);
    assert.deepEqual(await P.evaluate(() => window.__notes), [{ title: 'Gus', body: 'are you there?' }]);
    assert.equal(await P.title(), '(1) JIM');
    await hide(false);
    await P.waitForFunction(() => document.title === 'JIM');

    // Fay signs in elsewhere and ends her other sessions: this page goes to sign-in.
    const { token } = await call(server.url, 'POST', 'auth/login', { body: { username: 'fay', password: 'fay-pass12' } });
    await call(server.url, 'POST', 'auth/sessions/revoke', { token, body: { all_others: true } });
    await P.waitForSelector('#username');
    await P.locator('.notice').filter({ hasText: 'signed out' }).waitFor();
    await shot(P, 'desktop-en-light-signed-out-elsewhere');
    assert.deepEqual(who.problems, []);
  } catch (err) {
    await failed('reconnect', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('a server restart: the page reconnects by itself, catches up, and a failed send retries once', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const ann = await registerByApi(server.url, 'ann', 'ann-pass12', 'Ann');
    const bob = await registerByApi(server.url, 'bob', 'bob-pass12', 'Bob');
    await befriendByApi(server.url, ann, bob);
    await sendByApi(server.url, bob, ann, 'before the restart');

    const who = await person(browser, server.url);
    const P = who.page;
    await signInThroughPages(P, 'ann', 'ann-pass12');
    await P.click('#conversations a.conv');
    await P.locator('#messages .msg').filter({ hasText: 'before the restart' }).waitFor();
    await P.locator('.conn[data-state="online"]').waitFor();

    // The server dies (kill -9); a send while it is down fails and offers a retry.
    await server.kill();
    await P.locator('.conn[data-state="offline"], .conn[data-state="connecting"]').waitFor();
    await P.fill('#composer', 'sent while the server was down');
    await P.press('#composer', 'Enter');
    await P.locator('.msg.pending.failed').waitFor();
    await shot(P, 'desktop-en-light-send-failed');
    await server.start();

    // Back up: messages sent before the page reconnects arrive by catch-up, in order, once.
    const texts = Array.from({ length: 5 }, (_, i) => `after the restart ${i + 1}`);
    for (const text of texts) await sendByApi(server.url, bob, ann, text);
    await P.locator('.conn[data-state="online"]').waitFor({ timeout: 30000 });
    await P.locator('#messages .msg').filter({ hasText: 'after the restart 5' }).waitFor();
    const shown = (await P.locator('#messages .msg:not(.pending) .bubble').allTextContents())
      .filter((t) => t.startsWith('after the restart'));
    assert.deepEqual(shown, texts, 'all five, in order, once each');

    // The failed send, retried under its same action_id, is stored once.
    await P.click('.msg.pending.failed .retry');
    await P.locator('#messages .msg:not(.pending)').filter({ hasText: 'sent while the server was down' }).waitFor();
    await P.locator('.msg.pending').waitFor({ state: 'detached' });
    const history = await call(server.url, 'GET', 'chat/message/list', { token: bob.token,
      query: { session_type: 1, target_id: ann.id, limit: 50 } });
    const stored = (history.messages || history).filter((m) => m.body && m.body.text === 'sent while the server was down');
    assert.equal(stored.length, 1, 'stored once');
    await shot(P, 'desktop-en-light-after-restart');
    assert.deepEqual(who.problems.filter((p) => !/ERR_CONNECTION_REFUSED|WebSocket|Failed to load resource/.test(p)), []);
  } catch (err) {
    await failed('reconnect-restart', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
