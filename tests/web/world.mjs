// The world channel: opened from its tab, everyone on the server chats there in real time;
// a send too soon after the last is refused by slow mode and said in words (then retried);
// its switch turns it off for this browser (nothing arrives, it says how to come back, the
// choice survives a reload) and on again (what was missed is there). A server that mutes
// it, or switches it off, says so instead of offering a composer that cannot work.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  call, failed, DESKTOP, PHONE, launch, person, registerByApi, shot, signInThroughPages, startServer,
} from './lib.mjs';

const SLOW = 3;

async function say(P, text) {
  await P.fill('#composer', text);
  await P.press('#composer', 'Enter');
}

test('the world channel: chat, slow mode, the on/off switch', async () => {
  const server = await startServer([`chat.world_slow_mode_secs=${SLOW}`]);
  const browser = await launch();
  try {
    await registerByApi(server.url, 'wes', 'wes-pass12', 'Wes');
    const zoe = await registerByApi(server.url, 'zoe', 'zoe-pass12', 'Zoe');
    const W = await person(browser, server.url, { viewport: DESKTOP });
    const Z = await person(browser, server.url, { viewport: PHONE, locale: 'zh-CN' });
    const zFrames = []; // what Zoe's sockets receive
    Z.page.on('websocket', (ws) => ws.on('framereceived', (f) => zFrames.push(String(f.payload))));
    await signInThroughPages(W.page, 'wes', 'wes-pass12');
    await signInThroughPages(Z.page, 'zoe', 'zoe-pass12');
    for (const P of [W.page, Z.page]) {
      await P.click('#tab-world');
      await P.locator('#composer').waitFor();
      assert.equal(await P.locator('#world-switch').isChecked(), true, 'on by default');
    }
    await W.page.locator('.chat-sub').filter({ hasText: `one message every ${SLOW} s` }).waitFor();

    // Two people who are not friends chat there, both ways.
    await say(W.page, 'Hello, world!');
    await Z.page.locator('#messages .msg.theirs').filter({ hasText: 'Hello, world!' }).waitFor();
    await say(Z.page, '你好，世界');
    await W.page.locator('#messages .msg.theirs').filter({ hasText: '你好，世界' }).waitFor();
    // World messages cannot be recalled: it is not offered.
    await W.page.locator('#messages .msg.mine .more').first().click();
    assert.equal(await W.page.locator('#messages .msg.mine .recall').count(), 0);
    assert.equal(await W.page.locator('#messages .msg.mine .delete').count(), 1);

    // Too soon: slow mode refuses, in words; a retry after the wait goes through once.
    await say(W.page, 'too fast');
    const failedMsg = W.page.locator('#messages .msg.pending.failed').filter({ hasText: 'too fast' });
    await failedMsg.locator('.error').filter({ hasText: 'Slow mode' }).waitFor();
    await shot(W.page, 'desktop-en-world-slow-mode');
    await W.page.waitForTimeout(SLOW * 1000 + 300);
    await failedMsg.locator('.retry').click();
    await Z.page.locator('#messages .msg.theirs').filter({ hasText: 'too fast' }).waitFor();
    await shot(Z.page, 'phone-zh-world-chat');
    await shot(W.page, 'desktop-en-world-chat');

    // Zoe switches it off: she is told how to come back, and nothing reaches her.
    await Z.page.locator('label.world-switch').click();
    await Z.page.locator('#world-note').filter({ hasText: '你已关闭世界频道' }).waitFor();
    assert.equal(await Z.page.locator('#composer').count(), 0);
    await shot(Z.page, 'phone-zh-world-off');
    await W.page.waitForTimeout(SLOW * 1000 + 300);
    await say(W.page, 'while you were away');
    await W.page.locator('#messages .msg.mine:not(.pending)').filter({ hasText: 'while you were away' }).waitFor();
    await Z.page.waitForTimeout(800);
    assert.equal(await Z.page.locator('#messages').count(), 0);
    assert.ok(zFrames.some((f) => f.includes('too fast')), 'her socket did receive the world before');
    assert.ok(!zFrames.some((f) => f.includes('while you were away')), 'her socket receives no world message now');
    // The choice holds across a reload, and the world is not among her conversations.
    await Z.page.reload();
    await Z.page.locator('#world-note').waitFor();
    assert.equal(await Z.page.locator('#world-switch').isChecked(), false);
    await Z.page.goto(`${server.url}/#/chats`);
    await Z.page.locator('#conversations').waitFor();
    assert.equal(await Z.page.locator('#conversations a.conv[href="#/world"]').count(), 0);
    await Z.page.click('#tab-world');
    await Z.page.locator('#world-note').waitFor();
    assert.ok(!zFrames.some((f) => f.includes('while you were away')), 'nor after a reload');

    // On again: what she missed is there, and new messages arrive live.
    await Z.page.locator('label.world-switch').click();
    await Z.page.locator('#messages .msg.theirs').filter({ hasText: 'while you were away' }).waitFor();
    await W.page.waitForTimeout(SLOW * 1000 + 300);
    await say(W.page, 'welcome back');
    await Z.page.locator('#messages .msg.theirs').filter({ hasText: 'welcome back' }).waitFor();
    // Her first-page conversation list shows the world again, opening the world view.
    await Z.page.goto(`${server.url}/#/chats`);
    await Z.page.locator('#conversations a.conv[href="#/world"]').waitFor();
    for (const who of [W, Z]) {
      assert.deepEqual(who.problems, []);
      assert.deepEqual(who.dialogs, []);
    }
    // The server kept each message once.
    const page = await call(server.url, 'GET', 'chat/message/list',
      { token: zoe.token, query: { session_type: 99, target_id: 1, limit: 50 } });
    const texts = page.messages.map((m) => m.body.text);
    assert.deepEqual(texts, ['Hello, world!', '你好，世界', 'too fast', 'while you were away', 'welcome back']);
  } catch (err) {
    await failed('world', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('a muted world channel says so; a switched-off one too', async () => {
  for (const [option, words, shotName] of [
    ['chat.world_muted=true', 'The world channel is read-only for now.', 'desktop-en-world-muted'],
    ['chat.world_enabled=false', 'The world channel is switched off on this server.', 'desktop-en-world-disabled'],
  ]) {
    const server = await startServer([option]);
    const browser = await launch();
    try {
      await registerByApi(server.url, 'mia', 'mia-pass12', 'Mia');
      const M = await person(browser, server.url, { viewport: DESKTOP });
      await signInThroughPages(M.page, 'mia', 'mia-pass12');
      if (option.includes('muted')) {
        await M.page.click('#tab-world');
        await M.page.locator('#composer-locked').filter({ hasText: words }).waitFor();
        assert.equal(await M.page.locator('#composer').isDisabled(), true);
        assert.equal(await M.page.locator('#attach').isDisabled(), true);
      } else {
        // No tab to a place that does not exist; the address still explains.
        assert.equal(await M.page.locator('#tab-world').isVisible(), false);
        await M.page.goto(`${server.url}/#/world`);
        await M.page.locator('#world-note').filter({ hasText: words }).waitFor();
      }
      await shot(M.page, shotName);
      assert.deepEqual(M.problems, []);
    } catch (err) {
      await failed('world-closed', err);
    } finally {
      await browser.close();
      await server.stop();
    }
  }
});
