// The phone-sized layout (375×667: one pane at a time, nothing wider than the screen) and
// the Chinese locale (chosen from the browser, switchable), in light and dark, with the
// desktop layout beside them for the screenshots.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failed, DESKTOP, PHONE, befriendByApi, launch, person, registerByApi, sendByApi, shot,
  signInThroughPages, startServer,
} from './lib.mjs';

test('phone layout and Chinese locale', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const dan = await registerByApi(server.url, 'dan', 'dan-pass12', '丹');
    const erin = await registerByApi(server.url, 'erin', 'erin-pass1', 'Erin');
    await befriendByApi(server.url, dan, erin);
    await sendByApi(server.url, erin, dan, '你好，丹！今晚一起吃饭吗？');
    await sendByApi(server.url, dan, erin, '好的，七点见 https://example.com/map');
    await sendByApi(server.url, erin, dan, 'A long line to check wrapping: ' + 'word '.repeat(40));

    for (const colorScheme of ['light', 'dark']) {
      await sendByApi(server.url, erin, dan, colorScheme === 'light' ? '在吗？' : '还在吗？🙂');
      // Chinese from the browser's language, on a phone.
      const zh = await person(browser, server.url, { viewport: PHONE, locale: 'zh-CN', colorScheme });
      const P = zh.page;
      await P.waitForSelector('#username');
      assert.equal(await P.getAttribute('html', 'lang'), 'zh-CN');
      assert.equal((await P.locator('.auth h2').textContent()).trim(), '登录');
      await shot(P, `phone-zh-${colorScheme}-login`);
      await signInThroughPages(P, 'dan', 'dan-pass12');
      assert.equal((await P.locator('#tab-chats').textContent()).replace(/\d+/g, '').trim(), '消息');
      // One pane: the list, no chat beside it.
      assert.ok(await P.locator('.side').isVisible());
      assert.ok(await P.locator('.main').isHidden());
      await P.locator('#conversations a.conv .badge').waitFor();
      await shot(P, `phone-zh-${colorScheme}-chats`);
      await P.click('#conversations a.conv');
      await P.locator('#messages .msg').filter({ hasText: '你好，丹' }).waitFor();
      assert.ok(await P.locator('.side').isHidden(), 'the list gives way to the chat');
      assert.ok(await P.locator('.chat .back').isVisible(), 'a way back');
      const width = await P.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= PHONE.width, `nothing wider than the screen (${width})`);
      await P.locator('#messages .day').first().filter({ hasText: '今天' }).waitFor();
      // The day stays in sight at the top of the scrolled list, whole, below the header.
      const [day, box] = await Promise.all([P.locator('#messages .day span').first().boundingBox(),
        P.locator('#messages').boundingBox()]);
      assert.ok(await P.evaluate(() => document.querySelector('#messages').scrollTop > 0), 'the list is scrolled');
      assert.ok(day.y >= box.y && day.y + day.height <= box.y + box.height, `the day label is fully visible (${day.y} in ${box.y})`);
      await shot(P, `phone-zh-${colorScheme}-chat`);
      await P.click('.chat .back');
      await P.locator('#conversations').waitFor();
      await P.click('#tab-friends');
      await P.locator('#friend-list a.friend').first().waitFor();
      await shot(P, `phone-zh-${colorScheme}-friends`);
      assert.deepEqual(zh.problems, []);
      await zh.context.close();
    }

    // English on a phone; switching to Chinese from the menu, on a desktop.
    const en = await person(browser, server.url, { viewport: PHONE, locale: 'en-US', colorScheme: 'light' });
    await signInThroughPages(en.page, 'erin', 'erin-pass1');
    await en.page.click('#conversations a.conv');
    await en.page.locator('#messages .msg').first().waitFor();
    await shot(en.page, 'phone-en-light-chat');
    await en.context.close();

    for (const colorScheme of ['light', 'dark']) {
      const desk = await person(browser, server.url, { viewport: DESKTOP, locale: 'en-US', colorScheme });
      const P = desk.page;
      await signInThroughPages(P, 'erin', 'erin-pass1');
      await P.click('#conversations a.conv');
      await P.locator('#messages .msg').first().waitFor();
      assert.ok(await P.locator('.side').isVisible() && await P.locator('.main').isVisible(), 'both panes');
      await shot(P, `desktop-en-${colorScheme}-two-panes`);
      await P.click('.menu summary');
      await P.selectOption('.menu .lang-select', 'zh');
      await P.locator('#tab-chats').filter({ hasText: '消息' }).waitFor();
      assert.equal(await P.getAttribute('html', 'lang'), 'zh-CN');
      await P.locator('#messages .msg').first().waitFor();
      await shot(P, `desktop-zh-${colorScheme}-chat`);
      // The choice is kept.
      await P.reload();
      await P.locator('#tab-chats').filter({ hasText: '消息' }).waitFor();
      assert.deepEqual(desk.problems, []);
      await desk.context.close();
    }
  } catch (err) {
    await failed('layout', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
