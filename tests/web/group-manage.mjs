// Managing a group from its info panel: the owner edits the name and announcement (a member
// sees them live) and uploads a group picture; adds a friend (a member, when allowed, invites
// one, who accepts from the Friends tab); creates an invite link, copies it
// (and, without a clipboard, gets it selected to copy by hand), and a signed-out person opens
// it, signs in and joins; the link revoked, it is refused in words; with joining by approval an
// outsider asks to join and the owner approves the request live; the owner bans someone (who is
// then refused in words) and lifts the ban; hands the group over; the new owner dissolves it.
// A member is offered none of the admin tools. The panel sits beside the chat on a desktop and
// covers it on a phone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failed, DESKTOP, PHONE, call, launch, openConversation, png, scene, shot, startServer,
} from './lib.mjs';

/** The panel beside the chat: the messages and composer end where the panel begins. */
async function besideChat(page) {
  const panel = await page.locator('#group-panel').boundingBox();
  const messages = await page.locator('#messages').boundingBox();
  const composer = await page.locator('form.composer').boundingBox();
  assert.ok(messages.x + messages.width <= panel.x + 1, `messages under the panel: ${JSON.stringify({ messages, panel })}`);
  assert.ok(composer.x + composer.width <= panel.x + 1, 'composer under the panel');
  assert.ok(messages.width > 300, 'the chat keeps a usable width');
}

/** No placeholder leaked into the page as text. */
async function noStrayText(page) {
  assert.doesNotMatch(await page.locator('body').innerText(), /\b(null|undefined|NaN)\b/);
}

test('group management: info, picture, friends, invite links, requests, bans, transfer, dissolve', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const people = await scene(browser, server.url, {
      ann: { viewport: DESKTOP, locale: 'en-US' },
      bob: { viewport: DESKTOP, locale: 'zh-CN' },
      cat: { viewport: PHONE, locale: 'en-US' },
      dan: { viewport: PHONE, locale: 'en-US', signIn: false },
      eve: { viewport: PHONE, locale: 'zh-CN' },
    }, { friends: [['ann', 'bob'], ['ann', 'cat'], ['bob', 'dan']] });
    const { ann, bob, cat, dan, eve } = people;
    const A = ann.page;
    const B = bob.page;
    const C = cat.page;
    const D = dan.page;
    const E = eve.page;
    const { group_id: gid } = await call(server.url, 'POST', 'group/create',
      { token: ann.token, body: { name: 'Crew', member_ids: [bob.id] } });
    await ann.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });

    for (const P of [A, B]) await openConversation(P, 'Crew');

    // A plain member sees the announcement area and no admin tool.
    await B.click('#group-info-button');
    await B.locator('#group-announcement').filter({ hasText: '暂无公告' }).waitFor();
    for (const id of ['#group-edit-open', '#group-invite-open', '#group-links-open', '#mute-all', '#dissolve-group']) {
      assert.equal(await B.locator(id).count(), 0, `${id} not offered to a member`);
    }
    assert.equal(await B.locator('#group-bans').isVisible(), false);
    await B.locator('#leave-group').waitFor();

    // The owner's panel sits beside the chat.
    await A.click('#group-info-button');
    await A.locator('#group-edit-open').waitFor();
    await besideChat(A);
    await besideChat(B);

    // Name, announcement and picture; the member sees the change live.
    await A.click('#group-edit-open');
    await A.fill('#group-edit-name', 'Crew <i>2</i>');
    await A.fill('#group-edit-announcement', 'Meet at 9 <script>alert(1)</script>');
    await A.setInputFiles('#group-edit-avatar', { name: 'crew.png', mimeType: 'image/png', buffer: png(320, 240) });
    await shot(A, 'desktop-en-group-edit');
    await noStrayText(A);
    await A.click('#group-edit-save');
    await A.locator('#group-note').filter({ hasText: 'Saved.' }).waitFor();
    await A.locator('#group-name-shown').filter({ hasText: 'Crew <i>2</i>' }).waitFor();
    await B.locator('#group-name-shown').filter({ hasText: 'Crew <i>2</i>' }).waitFor();
    await B.locator('#group-announcement .announcement-text')
      .filter({ hasText: 'Meet at 9 <script>alert(1)</script>' }).waitFor();
    for (const P of [A, B]) {
      await P.waitForFunction(() => {
        const img = document.querySelector('#group-summary .avatar img.avatar-img');
        return img && img.complete && img.naturalWidth > 0;
      });
    }
    // A refusal is said in words (a blank name).
    await A.click('#group-edit-open');
    await A.fill('#group-edit-name', '   ');
    await A.click('#group-edit-save');
    await A.locator('#group-error').filter({ hasText: 'Give the group a name.' }).waitFor();
    await A.click('#group-edit-cancel');
    const info = await call(server.url, 'GET', 'group/info', { token: bob.token, query: { group_id: gid } });
    assert.match(info.avatar, /^\/api\/v1\/media\/[0-9a-f]{32}$/, 'stored as the upload');
    await shot(A, 'desktop-en-group-manage-owner');
    await shot(B, 'desktop-zh-group-manage-member');

    // Add a friend who is not in the group yet (Bob, a member, is not offered).
    await A.click('#group-invite-open');
    await A.locator(`#group-invite .pick[data-user="${cat.id}"]`).waitFor();
    assert.equal(await A.locator(`#group-invite .pick[data-user="${bob.id}"]`).count(), 0);
    await A.locator(`#group-invite .pick[data-user="${cat.id}"] input`).check();
    await A.click('#invite-send');
    await A.locator(`#member-list li.member[data-user="${cat.id}"]`).waitFor();
    await B.locator(`#member-list li.member[data-user="${cat.id}"]`).waitFor();
    await openConversation(C, 'Crew <i>2</i>');
    await C.click('#group-info-button');
    const panelBox = await C.locator('#group-panel').boundingBox();
    assert.equal(Math.round(panelBox.x), 0, 'a full pane on a phone');
    assert.equal(Math.round(panelBox.width), PHONE.width);
    await C.locator('#group-announcement').filter({ hasText: 'Meet at 9' }).waitFor();
    await shot(C, 'phone-en-group-panel-member');
    await noStrayText(C);

    // An invite link: created, copied, and the fallback when there is no clipboard.
    await A.click('#group-links-open');
    await A.click('#link-create');
    const linkInput = A.locator('#link-list .link-url').first();
    await linkInput.waitFor();
    const link = await linkInput.inputValue();
    assert.match(link, /#\/join\/[A-Za-z0-9_-]+$/);
    await A.locator('#link-list .link-copy').first().click();
    await A.locator('#link-list .link-status').filter({ hasText: 'Copied.' }).waitFor();
    assert.equal(await A.evaluate(() => navigator.clipboard.readText()), link);
    await A.evaluate(() => {
      navigator.clipboard.writeText = () => Promise.reject(new Error('no clipboard here'));
    });
    await A.locator('#link-list .link-copy').first().click();
    await A.locator('#link-list .link-status').filter({ hasText: 'The link is selected' }).waitFor();
    const selected = await A.evaluate(() => {
      const el = document.activeElement;
      return el && el.classList.contains('link-url') ? el.value.slice(el.selectionStart, el.selectionEnd) : '';
    });
    assert.equal(selected, link, 'the whole link is selected to copy by hand');
    await shot(A, 'desktop-en-group-invite-link');

    // Dan, signed out, opens the link: signs in, lands on the join page and joins.
    await D.goto(link);
    await D.locator('#username').waitFor();
    await D.fill('#username', 'dan');
    await D.fill('#password', 'dan-pass12');
    await D.click('button[type=submit]');
    await D.locator('#join-button').waitFor();
    assert.match(D.url(), /#\/join\//);
    await shot(D, 'phone-en-group-join-link');
    await D.click('#join-button');
    await D.locator('.chat-title').filter({ hasText: 'Crew <i>2</i>' }).waitFor();
    await A.locator(`#member-list li.member[data-user="${dan.id}"]`).waitFor();
    // Reopened, the list counts the use.
    await A.click('#group-links-open');
    await A.click('#group-links-open');
    await A.locator('#link-list .link-meta').filter({ hasText: 'joined through it: 1' }).waitFor();

    // Revoked, the link is refused in words.
    await A.locator('#link-list .link-revoke').first().click();
    await A.locator('#group-links').filter({ hasText: 'No working invite link.' }).waitFor();
    await E.goto(link);
    await E.click('#join-button');
    await E.locator('#join-status').filter({ hasText: '该邀请链接已失效' }).waitFor();
    await shot(E, 'phone-zh-group-link-refused');

    // Joining by approval: Eve asks with a note; the request reaches the owner live.
    await A.click('#group-edit-open');
    await A.selectOption('#group-edit-policy', 'approval');
    await A.check('#group-edit-member-invite');
    await A.click('#group-edit-save');
    await A.locator('#group-summary').filter({ hasText: 'Joining needs approval' }).waitFor();

    // Members may now make invite links too (Bob sees the ones he made).
    await B.click('#group-links-open');
    await B.click('#link-create');
    await B.locator('#link-list .link-url').waitFor();
    assert.equal(await B.locator('#group-edit-open, #mute-all').count(), 0);
    await B.locator('#group-invite-open').waitFor();
    await shot(B, 'desktop-zh-group-member-link');
    await E.goto(`${server.url}/#/group/${gid}`);
    await E.locator('#join-button').filter({ hasText: '申请加入' }).waitFor();
    await E.fill('#join-message', 'Eve here, hi!');
    await E.click('#join-button');
    await E.locator('#join-status').filter({ hasText: '申请已发送' }).waitFor();
    await shot(E, 'phone-zh-group-join-request');
    await noStrayText(E);
    const request = A.locator(`#group-requests li.request[data-user="${eve.id}"]`);
    await request.filter({ hasText: 'Eve here, hi!' }).waitFor();
    await shot(A, 'desktop-en-group-join-request');
    await request.locator('.request-accept').click();
    await A.locator(`#member-list li.member[data-user="${eve.id}"]`).waitFor();
    await A.locator('#group-requests').waitFor({ state: 'hidden' });
    await E.locator('#join-status').filter({ hasText: '你的申请已通过' }).waitFor();
    await E.click('#join-open');
    await E.locator('.chat-title').filter({ hasText: 'Crew <i>2</i>' }).waitFor();
    await E.click('#group-info-button');
    await E.locator('#group-announcement').filter({ hasText: 'Meet at 9' }).waitFor();
    await E.locator(`#member-list li.member[data-user="${eve.id}"] .role-badge`).filter({ hasText: '成员' }).waitFor();
    await shot(E, 'phone-zh-group-panel-member');
    await E.click('#group-panel-close');

    // Ban: Dan is removed and listed; trying to come back he is told why; the ban is lifted.
    await A.locator(`#member-list li.member[data-user="${dan.id}"] button.ban`).click();
    await A.locator(`#member-list li.member[data-user="${dan.id}"]`).waitFor({ state: 'detached' });
    await A.locator('#group-bans summary').click();
    await A.locator(`#ban-list li.ban[data-user="${dan.id}"]`).waitFor();
    await D.goto(`${server.url}/#/group/${gid}`);
    await D.click('#join-button');
    await D.locator('#join-status').filter({ hasText: 'You are banned from this group.' }).waitFor();
    await shot(D, 'phone-en-group-banned');
    await A.locator(`#ban-list li.ban[data-user="${dan.id}"] button.unban`).click();
    await A.locator('#ban-list').filter({ hasText: 'Nobody is banned.' }).waitFor();

    // Bob, a member of a group that lets members invite, invites his friend Dan, who accepts
    // the invitation from his Friends tab.
    await B.click('#group-invite-open');
    await B.locator(`#group-invite .pick[data-user="${dan.id}"] input`).check();
    await B.click('#invite-send');
    await B.locator('#group-note').filter({ hasText: '已向 1 人发出邀请' }).waitFor();
    await D.goto(`${server.url}/#/friends`);
    await D.locator('#tab-friends .badge').filter({ hasText: '1' }).waitFor();
    const invitation = D.locator(`#group-invites li.group-invite[data-group-id="${gid}"]`);
    await invitation.filter({ hasText: 'Invited by Bob' }).waitFor();
    await shot(D, 'phone-en-group-invitation');
    await invitation.locator('button.accept').click();
    await D.locator('.chat-title').filter({ hasText: 'Crew <i>2</i>' }).waitFor();
    await A.locator(`#member-list li.member[data-user="${dan.id}"]`).waitFor();

    // Hand-over, with a confirmation: Bob becomes the owner, Ann an admin.
    await A.locator(`#member-list li.member[data-user="${bob.id}"] button.transfer`).click();
    await A.locator(`#member-list li.member[data-user="${bob.id}"] .confirm`).filter({ hasText: 'Hand the group over to Bob?' }).waitFor();
    await shot(A, 'desktop-en-group-transfer-confirm');
    await A.locator(`#member-list li.member[data-user="${bob.id}"] button.transfer-confirm`).click();
    await A.locator(`#member-list li.member[data-user="${bob.id}"] .role-badge`).filter({ hasText: 'Owner' }).waitFor();
    await A.locator(`#member-list li.member[data-user="${ann.id}"] .role-badge`).filter({ hasText: 'Admin' }).waitFor();
    assert.equal(await A.locator('#dissolve-group').count(), 0, 'only the owner dissolves');
    await A.locator('#leave-group').waitFor();
    await B.locator(`#member-list li.member[data-user="${bob.id}"] .role-badge`).filter({ hasText: '群主' }).waitFor();

    // The new owner dissolves the group, with a confirmation; everyone sees it closed.
    await B.click('#dissolve-group');
    await B.locator('#dissolve-confirm').waitFor();
    await shot(B, 'desktop-zh-group-dissolve-confirm');
    await B.click('#dissolve-confirm');
    await B.locator('#group-dissolved').filter({ hasText: '该群已解散' }).waitFor();
    await A.locator('#group-dissolved').filter({ hasText: 'This group was dissolved' }).waitFor();
    await C.locator('#group-dissolved').waitFor();
    assert.equal(await A.locator('#group-edit-open, #mute-all, #leave-group').count(), 0, 'nothing left to do');
    await A.locator('#composer-locked').filter({ hasText: 'This group was dissolved' }).waitFor();
    assert.equal(await A.locator('#composer').isDisabled(), true);
    await shot(A, 'desktop-en-group-dissolved');
    await noStrayText(A);
    await shot(C, 'phone-en-group-dissolved');

    for (const who of Object.values(people)) {
      assert.deepEqual(who.problems, []);
      assert.deepEqual(who.dialogs, []);
    }
  } catch (err) {
    await failed('group-manage', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
