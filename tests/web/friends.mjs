// Friends: a remark shows first wherever the friend's name shows (friend list, conversation
// list, chat header); block and unblock; delete (clearing my history); received invitations
// answered with a reply.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failed, DESKTOP, PHONE, befriendByApi, call, launch, person, registerByApi, sendByApi, shot,
  signInThroughPages, startServer,
} from './lib.mjs';

test('friends: remark, block and unblock, delete with history', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const ann = await registerByApi(server.url, 'ann', 'ann-pass12', 'Ann');
    const bob = await registerByApi(server.url, 'bob', 'bob-pass12', 'Bob');
    const cat = await registerByApi(server.url, 'cat', 'cat-pass12', 'Cat');
    await befriendByApi(server.url, bob, ann);
    await befriendByApi(server.url, cat, ann);
    await sendByApi(server.url, cat, ann, 'Meow from Cat');
    await sendByApi(server.url, bob, ann, 'Hi Ann, Bob here');

    const a = await person(browser, server.url, { viewport: DESKTOP });
    const A = a.page;
    await signInThroughPages(A, 'ann', 'ann-pass12');
    await A.click('#tab-friends');
    const bobRow = A.locator(`#friend-list li[data-user-id="${bob.id}"]`);
    await bobRow.waitFor();

    // A remark (with markup, shown as typed) replaces the nickname everywhere.
    const remark = 'Bobby <b>B</b>';
    await bobRow.locator('.friend-menu summary').click();
    await bobRow.locator('.remark-input').fill(remark);
    await bobRow.locator('.remark-save').click();
    await bobRow.locator('.person-name').filter({ hasText: remark }).waitFor();
    assert.equal(await bobRow.locator('.nickname').textContent(), 'Bob');
    assert.equal(await bobRow.locator('b').count(), 0, 'the remark is text');
    await shot(A, 'desktop-en-light-friend-remark');
    await A.click('#tab-chats');
    const bobConv = A.locator(`#conversations a.conv[data-key="1:${bob.id}"]`);
    await bobConv.locator('.conv-name').filter({ hasText: remark }).waitFor();
    await bobConv.click();
    await A.locator('.chat-title').filter({ hasText: remark }).waitFor();

    // Blocked: Bob can no longer write; unblocked: he can again.
    await A.click('#tab-friends');
    await bobRow.locator('.friend-menu summary').click();
    await bobRow.locator('button.block').click();
    await bobRow.locator('.blocked-tag').waitFor();
    // The same on a phone: the remark first, the nickname under it, "Blocked".
    const ap = await person(browser, server.url, { viewport: PHONE });
    await signInThroughPages(ap.page, 'ann', 'ann-pass12');
    await ap.page.click('#tab-friends');
    const phoneBob = ap.page.locator(`#friend-list li[data-user-id="${bob.id}"]`);
    await phoneBob.locator('.blocked-tag').waitFor();
    assert.equal(await phoneBob.locator('.person-name').textContent(), remark);
    await ap.page.locator('#friend-list').scrollIntoViewIfNeeded();
    await shot(ap.page, 'phone-en-light-friends-blocked');
    assert.deepEqual(ap.problems, []);
    await ap.context.close();
    await assert.rejects(sendByApi(server.url, bob, ann, 'still there?'), /BLOCKED/);
    await bobRow.locator('.friend-menu summary').click();
    await bobRow.locator('button.unblock').click();
    await A.waitForFunction((id) => !document.querySelector(`#friend-list li[data-user-id="${id}"] .blocked-tag`), bob.id);
    await sendByApi(server.url, bob, ann, 'Thanks for unblocking');

    // Deleted with my history: Cat leaves the friend list, and our messages are gone from my
    // history (the conversation stays listed, its last message a tombstone).
    const catRow = A.locator(`#friend-list li[data-user-id="${cat.id}"]`);
    await catRow.locator('.friend-menu summary').click();
    await catRow.locator('button.delete').click();
    await catRow.locator('.clear-history').check();
    await shot(A, 'desktop-en-light-friend-delete');
    await catRow.locator('button.delete-confirm').click();
    await catRow.waitFor({ state: 'detached' });
    await A.click('#tab-chats');
    await bobConv.waitFor();
    const hist = await call(server.url, 'GET', 'chat/message/list',
      { token: ann.token, query: { session_type: 1, target_id: cat.id, limit: 10 } });
    assert.ok(hist.messages.length > 0 && hist.messages.every((m) => m.status === 2), 'my history with Cat is cleared');
    const catConv = A.locator(`#conversations a.conv[data-key="1:${cat.id}"]`);
    await catConv.locator('.conv-preview').filter({ hasText: 'This message was deleted.' }).waitFor();
    assert.equal(await A.locator('#conversations a.conv .conv-preview').filter({ hasText: 'Meow' }).count(), 0);
    assert.deepEqual(a.problems, []);
    assert.deepEqual(a.dialogs, []);
  } catch (err) {
    await failed('friends', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('friends: invitations answered with a reply (phone, Chinese)', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const dan = await registerByApi(server.url, 'dan', 'dan-pass12', '丹');
    const eve = await registerByApi(server.url, 'eve', 'eve-pass12', 'Eve');
    const fay = await registerByApi(server.url, 'fay', 'fay-pass12', 'Fay');
    const fromEve = await call(server.url, 'POST', 'friend/invite/add', { token: eve.token, body: { user_id: dan.id, note: '我是 Eve' } });
    const fromFay = await call(server.url, 'POST', 'friend/invite/add', { token: fay.token, body: { user_id: dan.id, note: 'Fay here' } });

    const d = await person(browser, server.url, { viewport: PHONE, locale: 'zh-CN', colorScheme: 'dark' });
    const D = d.page;
    await signInThroughPages(D, 'dan', 'dan-pass12');
    await D.click('#tab-friends');
    const eveRow = D.locator(`#invites-received li[data-invite-id="${fromEve.invite.id}"]`);
    const fayRow = D.locator(`#invites-received li[data-invite-id="${fromFay.invite.id}"]`);
    await eveRow.locator('.reply-input').fill('欢迎！<i>hi</i>');
    await shot(D, 'phone-zh-dark-invite-reply');
    await eveRow.locator('button.accept').click();
    await eveRow.locator('.note').filter({ hasText: '欢迎！<i>hi</i>' }).waitFor();
    await D.locator(`#friend-list li[data-user-id="${eve.id}"]`).waitFor();
    await fayRow.locator('.reply-input').fill('Sorry, who are you?');
    await fayRow.locator('button.reject').click();
    await fayRow.locator('.muted').filter({ hasText: '已拒绝' }).waitFor();
    assert.equal(await D.locator(`#friend-list li[data-user-id="${fay.id}"]`).count(), 0);

    // The inviters see the replies.
    const eveSent = await call(server.url, 'GET', 'friend/invite/sent', { token: eve.token });
    assert.equal(eveSent[0].reply, '欢迎！<i>hi</i>');
    assert.equal(eveSent[0].status, 1);
    const faySent = await call(server.url, 'GET', 'friend/invite/sent', { token: fay.token });
    assert.equal(faySent[0].reply, 'Sorry, who are you?');
    assert.equal(faySent[0].status, 2);

    // A friend's menu fits on the phone.
    const eveFriend = D.locator(`#friend-list li[data-user-id="${eve.id}"]`);
    await eveFriend.locator('.friend-menu summary').click();
    await eveFriend.locator('.remark-input').waitFor();
    const width = await D.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `nothing wider than the screen (${width})`);
    await shot(D, 'phone-zh-dark-friend-menu');
    assert.deepEqual(d.problems, []);
  } catch (err) {
    await failed('friends-invites', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
