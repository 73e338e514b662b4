// Settings: nickname and status, the list of signed-in devices (ending another one sends
// that page to sign-in), and a password change (which signs the other devices out).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failed, DESKTOP, PHONE, launch, person, registerByApi, shot, signInThroughPages, startServer,
} from './lib.mjs';

test('settings: profile, devices, password', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    await registerByApi(server.url, 'kim', 'kim-pass12', 'Kim');
    const a = await person(browser, server.url, { viewport: DESKTOP });
    const b = await person(browser, server.url, { viewport: PHONE, colorScheme: 'dark' });
    const A = a.page;
    const B = b.page;
    for (const P of [A, B]) await signInThroughPages(P, 'kim', 'kim-pass12');

    await A.click('.menu summary');
    await A.click('#open-settings');
    await A.fill('#settings-nickname', 'Kim <3');
    await A.selectOption('#settings-status', '3');
    await A.click('#settings-save');
    await A.locator('#settings .ok').filter({ hasText: 'Saved.' }).waitFor();
    assert.equal(await A.locator('.me-name').textContent(), 'Kim <3');

    // Three sessions (the API's, then the two pages); this one is marked. End the API's by
    // its own button, then all the others: the phone's page goes to sign-in.
    await A.locator('#sessions li.session').nth(2).waitFor();
    assert.equal(await A.locator('#sessions li.session').count(), 3);
    assert.equal(await A.locator('#sessions .tag').count(), 1);
    await shot(A, 'desktop-en-light-settings');
    await A.locator('#sessions li.session').filter({ hasText: 'node' }).locator('.end-session').click();
    await A.waitForFunction(() => document.querySelectorAll('#sessions li.session').length === 2);
    assert.ok(await B.locator('#tab-chats').isVisible(), 'the phone is still signed in');
    await A.click('#end-others');
    await B.waitForSelector('#username');
    await B.locator('.notice').waitFor();
    await A.waitForFunction(() => document.querySelectorAll('#sessions li.session').length === 1);

    // A new password signs the other devices out; the new one works.
    await signInThroughPages(B, 'kim', 'kim-pass12');
    await A.fill('#old-password', 'kim-pass12');
    await A.fill('#new-password', 'kim-newpass3');
    await A.fill('#confirm-password', 'kim-newpass3');
    await A.click('#password-save');
    await A.locator('#settings .ok').filter({ hasText: 'Password changed' }).waitFor();
    await B.waitForSelector('#username');
    await signInThroughPages(B, 'kim', 'kim-newpass3');
    await B.click('.menu summary');
    await B.click('#open-settings');
    await B.locator('#settings-nickname').waitFor();
    assert.equal(await B.inputValue('#settings-nickname'), 'Kim <3');
    assert.ok(await B.locator('.side').isHidden(), 'one pane on a phone');
    await shot(B, 'phone-en-dark-settings');
    assert.deepEqual([...a.problems, ...b.problems], []);
  } catch (err) {
    await failed('settings', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
