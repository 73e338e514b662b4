// The conversation list's menu: pin (pinned first) and mute (a grey dot instead of a count),
// kept by the server and shown at once on every device; the list keeps updating live.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failed, DESKTOP, PHONE, befriendByApi, call, launch, person, registerByApi, sendByApi, shot,
  signInThroughPages, startServer,
} from './lib.mjs';

const order = (P) => P.locator('#conversations a.conv').evaluateAll((els) => els.map((e) => e.dataset.key));

test('conversations: pin and mute from the list', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const gus = await registerByApi(server.url, 'gus', 'gus-pass12', 'Gus');
    const hal = await registerByApi(server.url, 'hal', 'hal-pass12', 'Hal');
    const ivy = await registerByApi(server.url, 'ivy', 'ivy-pass12', 'Ivy');
    await befriendByApi(server.url, hal, gus);
    await befriendByApi(server.url, ivy, gus);
    await sendByApi(server.url, gus, hal, 'Are we still on for the hike on Saturday? 🥾');
    await sendByApi(server.url, hal, gus, 'Yes! Here is the trail map: https://example.com/trail');
    const sandwiches = await sendByApi(server.url, gus, hal, 'Great, I will bring sandwiches 🥪');
    await call(server.url, 'POST', 'chat/message/read', { token: hal.token,
      body: { session_type: 1, target_id: gus.id, message_id: sandwiches.message_id } });
    await sendByApi(server.url, hal, gus, 'See you at 8 at the station 👋');
    await sendByApi(server.url, ivy, gus, 'Ivy says hi');
    const halKey = `1:${hal.id}`;
    const ivyKey = `1:${ivy.id}`;

    const g = await person(browser, server.url, { viewport: DESKTOP });
    const G = g.page;
    await signInThroughPages(G, 'gus', 'gus-pass12');
    await G.locator(`#conversations a.conv[data-key="${halKey}"]`).waitFor();
    assert.deepEqual(await order(G), [ivyKey, halKey], 'the most recent first');

    // Pin Hal: first, marked, and kept by the server.
    const halRow = G.locator(`#conversations li[data-key="${halKey}"]`);
    await halRow.locator('.conv-menu summary').click();
    await shot(G, 'desktop-en-light-conv-menu');
    await halRow.locator('button.pin').click();
    await G.waitForFunction((k) => document.querySelector('#conversations a.conv').dataset.key === k, halKey);
    await G.locator(`#conversations li[data-key="${halKey}"] .flag-pinned`).waitFor();
    // A newer message elsewhere does not move a pinned conversation down.
    await sendByApi(server.url, ivy, gus, 'Ivy again');
    await G.locator(`#conversations a.conv[data-key="${ivyKey}"] .conv-preview`).filter({ hasText: 'Ivy again' }).waitFor();
    assert.deepEqual(await order(G), [halKey, ivyKey]);

    // Mute Ivy: a new message shows a dot, not a count.
    const ivyRow = G.locator(`#conversations li[data-key="${ivyKey}"]`);
    await ivyRow.locator('.conv-menu summary').click();
    await ivyRow.locator('button.mute').click();
    await G.locator(`#conversations li[data-key="${ivyKey}"] .flag-muted`).waitFor();
    await sendByApi(server.url, ivy, gus, 'Ivy a third time');
    await G.locator(`#conversations a.conv[data-key="${ivyKey}"] .conv-preview`).filter({ hasText: 'third' }).waitFor();
    await G.locator(`#conversations a.conv[data-key="${ivyKey}"] .dot-muted`).waitFor();
    assert.equal(await G.locator(`#conversations a.conv[data-key="${ivyKey}"] .badge`).count(), 0);
    await shot(G, 'desktop-en-light-pinned-muted');

    // The README's picture: the list beside an open chat.
    await G.click(`#conversations a.conv[data-key="${halKey}"]`);
    await G.locator('#messages .msg').filter({ hasText: 'station' }).waitFor();
    await G.locator('#messages .read-mark').waitFor();
    await shot(G, 'desktop-en-light-readme');

    const convs = await call(server.url, 'GET', 'chat/conversations', { token: gus.token });
    const flags = Object.fromEntries(convs.map((c) => [`${c.session_type}:${c.target_id}`, [c.pinned, c.muted]]));
    assert.deepEqual(flags[halKey], [true, false]);
    assert.deepEqual(flags[ivyKey], [false, true]);

    // A second device (a phone, in Chinese) shows the same; unpinning and unmuting there.
    const p = await person(browser, server.url, { viewport: PHONE, locale: 'zh-CN', colorScheme: 'dark' });
    const P = p.page;
    await signInThroughPages(P, 'gus', 'gus-pass12');
    await P.locator(`#conversations li[data-key="${halKey}"] .flag-pinned`).waitFor();
    assert.deepEqual(await order(P), [halKey, ivyKey]);
    const phoneIvy = P.locator(`#conversations li[data-key="${ivyKey}"]`);
    await phoneIvy.locator('.conv-menu summary').click();
    await phoneIvy.locator('button.unmute').filter({ hasText: '取消免打扰' }).waitFor();
    const width = await P.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `nothing wider than the screen (${width})`);
    await shot(P, 'phone-zh-dark-conv-menu');
    await phoneIvy.locator('button.unmute').click();
    await P.locator(`#conversations li[data-key="${ivyKey}"] .flag-muted`).waitFor({ state: 'detached' });
    const phoneHal = P.locator(`#conversations li[data-key="${halKey}"]`);
    await phoneHal.locator('.conv-menu summary').click();
    await phoneHal.locator('button.unpin').click();
    await P.waitForFunction((k) => document.querySelector('#conversations a.conv').dataset.key === k, ivyKey);
    // The desktop, still open, follows the phone's changes live.
    await G.locator(`#conversations li[data-key="${ivyKey}"] .flag-muted`).waitFor({ state: 'detached' });
    await G.waitForFunction((k) => document.querySelector('#conversations a.conv').dataset.key === k, ivyKey);
    await G.locator(`#conversations li[data-key="${halKey}"] .flag-pinned`).waitFor({ state: 'detached' });

    // Chinese on a desktop: the menu's words; a click elsewhere closes it.
    const z = await person(browser, server.url, { viewport: DESKTOP, locale: 'zh-CN', colorScheme: 'dark' });
    const Z = z.page;
    await signInThroughPages(Z, 'gus', 'gus-pass12');
    const zIvy = Z.locator(`#conversations li[data-key="${ivyKey}"]`);
    await zIvy.locator('.conv-menu summary').click();
    await zIvy.locator('button.pin').filter({ hasText: '置顶' }).waitFor();
    await zIvy.locator('button.mute').filter({ hasText: '消息免打扰' }).waitFor();
    await shot(Z, 'desktop-zh-dark-conv-menu');
    await Z.click('.main');
    await zIvy.locator('.conv-panel').waitFor({ state: 'hidden' });
    assert.deepEqual(z.problems, []);
    assert.deepEqual([...g.problems, ...p.problems], []);
  } catch (err) {
    await failed('conversations', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
