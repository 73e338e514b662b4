// Groups, the basics: the owner creates a group with two friends from the page; everyone
// sees it in their conversation list, and messages carry their senders' names (also of
// members who are not each other's friends).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failed, DESKTOP, PHONE, launch, scene, shot, startServer } from './lib.mjs';

test('a group of three: created from the page, messages with sender names', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const pages = await scene(browser, server.url, {
      hal: { viewport: DESKTOP, colorScheme: 'light' },
      ivy: { viewport: DESKTOP, colorScheme: 'dark' },
      jon: { viewport: PHONE, colorScheme: 'light' },
    }, { friends: [['hal', 'ivy'], ['hal', 'jon']] });
    const { ivy, jon } = pages;
    const H = pages.hal.page;
    const I = pages.ivy.page;
    const J = pages.jon.page;

    const groupName = 'Trip <b>plan</b> 🏔';
    await H.click('#tab-friends');
    await H.click('#new-group summary');
    await H.fill('#group-name', groupName);
    await H.check(`.pick-box[value="${ivy.id}"]`);
    await H.check(`.pick-box[value="${jon.id}"]`);
    await shot(H, 'desktop-en-light-new-group');
    await H.click('#group-create');
    await H.locator('.chat-title').filter({ hasText: groupName }).waitFor();
    await H.locator('.chat-sub').filter({ hasText: '3 members' }).waitFor();
    await H.fill('#composer', 'Hello both!');
    await H.press('#composer', 'Enter');
    await H.locator('#messages .msg.mine:not(.pending)').filter({ hasText: 'Hello both!' }).waitFor();

    // The others see the group arrive and open it.
    for (const P of [I, J]) {
      const conv = P.locator('#conversations a.conv').filter({ hasText: groupName });
      await conv.locator('.conv-preview').filter({ hasText: 'Hello both!' }).waitFor();
      await conv.click();
      const msg = P.locator('#messages .msg.theirs').filter({ hasText: 'Hello both!' });
      await msg.locator('.sender').filter({ hasText: 'Hal' }).waitFor();
    }
    await I.fill('#composer', 'Ivy here');
    await I.press('#composer', 'Enter');
    // Jon and Ivy are not friends: Jon still sees her name.
    await J.locator('#messages .msg.theirs').filter({ hasText: 'Ivy here' }).locator('.sender').filter({ hasText: 'Ivy' }).waitFor();
    await H.locator('#messages .msg.theirs').filter({ hasText: 'Ivy here' }).locator('.sender').filter({ hasText: 'Ivy' }).waitFor();
    await J.fill('#composer', 'Jon too');
    await J.press('#composer', 'Enter');
    await I.locator('#messages .msg.theirs').filter({ hasText: 'Jon too' }).locator('.sender').filter({ hasText: 'Jon' }).waitFor();
    await H.locator('#messages .msg.theirs').filter({ hasText: 'Jon too' }).waitFor();
    await shot(H, 'desktop-en-light-group-chat');
    await shot(I, 'desktop-en-dark-group-chat');
    await shot(J, 'phone-en-light-group-chat');
    for (const who of Object.values(pages)) assert.deepEqual(who.problems, []);
  } catch (err) {
    await failed('group', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
