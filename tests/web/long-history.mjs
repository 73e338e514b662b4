// A long conversation: the page holds a window of messages, not all of them. Scrolling up
// fetches older pages and moves the window; every step shows contiguous messages in order;
// the button back to the newest returns to the end, where new messages arrive live.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failed, PHONE, befriendByApi, call, launch, person, registerByApi, sendByApi, shot,
  signInThroughPages, startServer,
} from './lib.mjs';

const MESSAGES = 420;
const WINDOW = 150;

test('a long conversation scrolls through a window of messages', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const kim = await registerByApi(server.url, 'kim', 'kim-pass12', 'Kim');
    const lou = await registerByApi(server.url, 'lou', 'lou-pass12', 'Lou');
    await befriendByApi(server.url, kim, lou);
    await Promise.all(Array.from({ length: 4 }, async (_, w) => {
      for (let n = w; n < MESSAGES; n += 4) {
        await call(server.url, 'POST', 'chat/message/send', { token: lou.token,
          body: { session_type: 1, type: 1, target_id: kim.id, body: { text: `line ${n + 1}` } } });
      }
    }));

    const who = await person(browser, server.url, { viewport: PHONE });
    const P = who.page;
    await signInThroughPages(P, 'kim', 'kim-pass12');
    await P.click('#conversations a.conv');
    await P.locator('#messages .msg').first().waitFor();
    const ids = () => P.locator('#messages .msg[data-id]').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
    const newest = Math.max(...await ids());
    assert.equal(await P.locator('#to-latest').isHidden(), true, 'at the newest: no way back needed');

    // Up to the very first message, one scroll at a time.
    let steps = 0;
    let most = 0;
    while (!(await P.locator('#messages > .start').count())) {
      const first = (await ids())[0];
      await P.evaluate(() => { document.querySelector('#messages').scrollTop = 0; });
      await P.waitForFunction((f) => Number(document.querySelector('#messages .msg[data-id]').dataset.id) < f
        || document.querySelector('#messages > .start'), first);
      const shown = await ids();
      most = Math.max(most, shown.length);
      assert.deepEqual(shown, shown.map((_, i) => shown[0] + i), 'contiguous, in order');
      steps += 1;
      assert.ok(steps < 100, 'reaches the start');
    }
    assert.equal((await ids())[0], 1, 'the first message of the conversation');
    assert.ok(most <= WINDOW, `at most ${WINDOW} messages in the page (${most})`);
    assert.equal(await P.locator('#to-latest').isVisible(), true);
    await shot(P, 'phone-en-light-long-history-start');

    // While far up, a new message does not pull the page down; the button brings me there.
    await sendByApi(server.url, lou, kim, 'a new one while I read old ones');
    await P.waitForTimeout(300);
    assert.equal((await ids())[0], 1, 'the view stays where I am reading');
    await P.click('#to-latest');
    await P.locator('#messages .msg').filter({ hasText: 'a new one while I read old ones' }).waitFor();
    const end = await ids();
    assert.equal(end.at(-1), newest + 1);
    assert.ok(end.length <= WINDOW);
    await P.locator('#to-latest').waitFor({ state: 'hidden' });
    await sendByApi(server.url, lou, kim, 'and another, live');
    await P.locator('#messages .msg').filter({ hasText: 'and another, live' }).waitFor();
    assert.deepEqual(who.problems, []);
  } catch (err) {
    await failed('long-history', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
