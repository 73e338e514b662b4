// Two people register through the pages, become friends and chat both ways in real time;
// markup in a message shows as text and runs nothing; a photo goes as a thumbnail and opens
// full size; a failed send is retried under the same action id and stored once; recall and
// delete-for-me leave tombstones; the session survives a reload; sign-out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failed, png, DESKTOP, launch, person, registerThroughPages, shot, signInThroughPages, startServer,
} from './lib.mjs';

test('two people register, become friends and chat both ways', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const alice = await person(browser, server.url, { viewport: DESKTOP, colorScheme: 'light' });
    const bob = await person(browser, server.url, { viewport: DESKTOP, colorScheme: 'dark' });
    const A = alice.page;
    const B = bob.page;

    // The page carries its policy.
    const res = await A.request.get(`${server.url}/`);
    const csp = res.headers()['content-security-policy'];
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /frame-ancestors 'none'/);

    await shot(A, 'desktop-en-light-login');
    await registerThroughPages(A, { username: 'alice', nickname: 'Alice', password: 'alice-pass1' });
    await registerThroughPages(B, { username: 'bob', nickname: 'Bob <b>B</b>', password: 'bob-pass12' });
    await shot(A, 'desktop-en-light-empty');

    // Alice finds Bob by nickname and invites him with a note.
    await A.click('#tab-friends');
    await A.fill('#friend-search', 'Bob');
    await A.click('form.search button[type=submit]');
    const result = A.locator('#search-results li.result').first();
    await result.locator('.person-name').filter({ hasText: 'Bob <b>B</b>' }).waitFor();
    await result.locator('button', { hasText: 'Add' }).click();
    await result.locator('.note-input').fill('hi Bob, it is <i>Alice</i>');
    await result.locator('button[type=submit]').click();
    await result.locator('.ok').waitFor();
    await A.locator('#invites-sent li.invite').first().waitFor();
    await shot(A, 'desktop-en-light-friends');

    // Bob sees the invitation arrive live (badge) and accepts it.
    await B.locator('#tab-friends .badge').waitFor();
    await B.click('#tab-friends');
    const invite = B.locator('#invites-received li.invite').first();
    await invite.locator('.note').filter({ hasText: 'hi Bob, it is <i>Alice</i>' }).waitFor();
    await shot(B, 'desktop-en-dark-invitation');
    await invite.locator('button.accept').click();
    await B.locator('#friend-list li[data-user-id]').first().waitFor();

    // Alice's friend list and conversation list update by themselves.
    await A.locator('#friend-list a.friend').first().waitFor();
    await A.click('#friend-list a.friend');
    await A.waitForSelector('#composer');

    // Alice writes; the message shows at once and Bob gets it live.
    const hello = 'Hello Bob! See https://example.com/path?q=1 and tell me.';
    await A.fill('#composer', hello);
    await A.press('#composer', 'Enter');
    await A.locator('#messages .msg.mine:not(.pending)').filter({ hasText: 'Hello Bob!' }).waitFor();
    await B.click('#tab-chats');
    const conv = B.locator('#conversations a.conv').first();
    await conv.locator('.conv-preview').filter({ hasText: 'Hello Bob!' }).waitFor();
    await conv.locator('.badge').waitFor();
    await conv.click();
    await B.locator('#messages .msg.theirs').filter({ hasText: 'Hello Bob!' }).waitFor();
    const link = B.locator('#messages a[href="https://example.com/path?q=1"]');
    assert.equal(await link.count(), 1, 'the URL is a link');
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer nofollow');
    assert.equal(await link.getAttribute('target'), '_blank');

    // Bob answers; Alice gets it live.
    await B.fill('#composer', 'Hi Alice 你好 🙂');
    await B.press('#composer', 'Enter');
    await A.locator('#messages .msg.theirs').filter({ hasText: 'Hi Alice 你好 🙂' }).waitFor();

    // Markup is text: it shows as typed and runs nothing.
    const img = '<img src=x onerror=alert(1)>';
    const script = '<script>alert(2)</script>';
    await A.fill('#composer', img);
    await A.press('#composer', 'Enter');
    await A.fill('#composer', script);
    await A.press('#composer', 'Enter');
    await B.locator('#messages .msg.theirs .bubble').filter({ hasText: script }).waitFor();
    for (const P of [A, B]) {
      const texts = await P.locator('#messages .bubble').allTextContents();
      assert.ok(texts.includes(img), `the img markup shows as text: ${JSON.stringify(texts)}`);
      assert.ok(texts.includes(script), 'the script markup shows as text');
      assert.equal(await P.locator('#messages img, #messages script').count(), 0, 'no element made from a message');
    }
    // Nicknames too.
    assert.equal(await B.locator('.me-name').textContent(), 'Bob <b>B</b>');
    await B.waitForTimeout(300);
    assert.deepEqual([...alice.dialogs, ...bob.dialogs], [], 'no dialog was opened');

    // A photo: previewed before it is sent, a thumbnail on the other side, full size on a
    // click (through signed URLs: an <img> carries no token).
    await A.setInputFiles('#photo-input', { name: 'sunset.png', mimeType: 'image/png', buffer: png(640, 400) });
    await A.locator('#photo-preview img.preview-img').waitFor();
    await shot(A, 'desktop-en-light-photo-preview');
    await A.click('#photo-send');
    await A.locator('#messages .msg.mine:not(.pending) img.photo').waitFor();
    const loaded = (sel) => B.waitForFunction((s) => {
      const img = document.querySelector(s);
      return img && img.complete && img.naturalWidth > 0 ? img.naturalWidth : false;
    }, sel);
    const thumb = await (await loaded('#messages .msg.theirs img.photo')).jsonValue();
    assert.ok(thumb <= 320, `a thumbnail (${thumb} px wide)`);
    assert.match(await B.locator('#messages .msg.theirs img.photo').getAttribute('src'), /\/api\/v1\/media\/[0-9a-f]{32}\/thumbnail\?u=\d+&e=\d+&s=/);
    await B.click('#messages .msg.theirs .photo-button');
    assert.equal(await (await loaded('.lightbox-img')).jsonValue(), 640, 'full size');
    await shot(B, 'desktop-en-dark-photo-full');
    await B.keyboard.press('Escape');
    await B.locator('.lightbox').waitFor({ state: 'detached' });

    // A send that cannot reach the server shows as failed; its retry carries the same
    // action id and is stored once.
    const actionIds = [];
    let mode = 'drop';
    await A.route('**/api/v1/chat/message/send', async (route) => {
      actionIds.push(route.request().postDataJSON().action_id);
      if (mode === 'drop') return route.abort('connectionreset');
      if (mode === 'lose-answer') {
        mode = 'pass';
        await route.fetch(); // the server stores it…
        return route.abort('connectionreset'); // …but the page never hears the answer
      }
      return route.continue();
    });
    await A.fill('#composer', 'once only');
    await A.press('#composer', 'Enter');
    const failed = A.locator('#messages .msg.failed').filter({ hasText: 'once only' });
    await failed.waitFor();
    await shot(A, 'desktop-en-light-failed-send');
    mode = 'pass';
    await failed.locator('button.retry').click();
    await A.locator('#messages .msg.mine:not(.pending)').filter({ hasText: 'once only' }).waitFor();
    assert.equal(actionIds.length, 2);
    assert.equal(actionIds[0], actionIds[1], 'the retry reuses the action id');

    // An answer lost after the server stored the message: the push confirms it, or else the
    // retry gets the stored message back; either way it exists once.
    mode = 'lose-answer';
    await A.fill('#composer', 'stored before the answer was lost');
    await A.press('#composer', 'Enter');
    const lost = A.locator('#messages .msg').filter({ hasText: 'stored before the answer was lost' });
    await A.waitForFunction(() => [...document.querySelectorAll('#messages .msg')].some((m) =>
      m.textContent.includes('stored before the answer') && (m.classList.contains('failed') || !m.classList.contains('pending'))));
    if (await lost.first().evaluate((m) => m.classList.contains('failed'))) {
      await lost.locator('button.retry').click();
    }
    await A.locator('#messages .msg.mine:not(.pending)').filter({ hasText: 'stored before the answer was lost' }).waitFor();
    await B.locator('#messages .msg.theirs').filter({ hasText: 'stored before the answer was lost' }).waitFor();
    await B.waitForTimeout(500);
    for (const [P, text] of [[A, 'once only'], [B, 'once only'], [A, 'stored before the answer'], [B, 'stored before the answer']]) {
      assert.equal(await P.locator('#messages .msg').filter({ hasText: text }).count(), 1, `${text}: once`);
    }
    await A.unroute('**/api/v1/chat/message/send');

    // Recall: the other side sees a tombstone in its place. Delete for me: only my copy goes.
    await A.fill('#composer', 'oops, wrong chat');
    await A.press('#composer', 'Enter');
    const oops = A.locator('#messages .msg.mine:not(.pending)').filter({ hasText: 'oops, wrong chat' });
    await B.locator('#messages .msg').filter({ hasText: 'oops, wrong chat' }).waitFor();
    await oops.locator('.more').click();
    await oops.locator('button.recall').click();
    await B.locator('#messages .msg .tombstone').filter({ hasText: 'This message was recalled.' }).waitFor();
    await A.locator('#messages .msg .tombstone').filter({ hasText: 'This message was recalled.' }).waitFor();
    assert.equal(await B.locator('#messages .msg').filter({ hasText: 'oops, wrong chat' }).count(), 0, 'gone on the other side');
    const hello2 = B.locator('#messages .msg').filter({ hasText: 'Hello Bob!' });
    await hello2.locator('.more').click();
    await hello2.locator('button.delete').click();
    await B.locator('#messages .msg .tombstone').filter({ hasText: 'This message was deleted.' }).waitFor();
    assert.equal(await B.locator('#messages .msg').filter({ hasText: 'Hello Bob!' }).count(), 0);
    assert.equal(await A.locator('#messages .msg').filter({ hasText: 'Hello Bob!' }).count(), 1, 'still there for Alice');

    // "Read" (✓) marks one message only: my last one the other side has read.
    await A.locator('#messages .read-mark').first().waitFor();
    assert.equal(await A.locator('#messages .read-mark').count(), 1, 'one read mark');
    await shot(A, 'desktop-en-light-chat');
    await shot(B, 'desktop-en-dark-chat');

    // Still signed in after a reload, the conversation and its history are there.
    await A.reload();
    await A.waitForSelector('#tab-chats');
    await A.locator('#conversations a.conv .conv-preview').filter({ hasText: 'This message was recalled.' }).waitFor();
    await A.locator('#messages .msg').filter({ hasText: 'Hi Alice 你好 🙂' }).waitFor();

    // Sign out: back to the sign-in page, and a reload stays there.
    await A.click('.menu summary');
    await A.click('#logout');
    await A.waitForSelector('#username');
    await A.reload();
    await A.waitForSelector('#username');
    await signInThroughPages(A, 'alice', 'alice-pass1');

    assert.deepEqual([...alice.problems, ...bob.problems], [], 'no page errors');
  } catch (err) {
    await failed('chat', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
