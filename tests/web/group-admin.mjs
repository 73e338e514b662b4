// Group roles and admin actions from the info panel: three people in a group, the owner mutes
// one for an hour, whose composer closes and says why; a member is offered no admin actions;
// an admin acting on stale rights is told why the server refused; unmuting and lifting a
// mute-all reopen the composer live (pushed group events); a member leaves.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failed, DESKTOP, PHONE, call, launch, openConversation, scene, shot, signInThroughPages,
  startServer,
} from './lib.mjs';

test('group admin: roles, mute for a time with the reason in the composer, refusals, leave', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const pages = await scene(browser, server.url, {
      hal: { viewport: DESKTOP, locale: 'en-US', signIn: false },
      ivy: { viewport: DESKTOP, locale: 'zh-CN', signIn: false },
      jon: { viewport: PHONE, locale: 'en-US', signIn: false },
    }, { friends: [['hal', 'ivy'], ['hal', 'jon']] });
    const { hal, ivy, jon } = pages;
    const groupName = 'Crew';
    const { group_id: gid } = await call(server.url, 'POST', 'group/create',
      { token: hal.token, body: { name: groupName, member_ids: [ivy.id, jon.id] } });

    // Ivy's group events can be held back (to act on rights she no longer has).
    let holdIvyGroupEvents = false;
    await pages.ivy.page.routeWebSocket(/\/ws/, (ws) => {
      const upstream = ws.connectToServer();
      upstream.onMessage((msg) => {
        if (holdIvyGroupEvents && String(msg).includes('"group_event"')) return;
        ws.send(msg);
      });
    });
    for (const [name, who] of Object.entries(pages)) {
      await who.page.reload();
      await signInThroughPages(who.page, name, `${name}-pass12`);
    }
    const H = pages.hal.page;
    const I = pages.ivy.page;
    const J = pages.jon.page;
    for (const P of [H, I, J]) await openConversation(P, groupName);

    // A plain member sees the roles and is offered no admin action, only leaving.
    await J.click('#group-info-button');
    const jonRows = J.locator('#member-list li.member');
    await J.locator(`#member-list li.member[data-user="${hal.id}"] .role-badge`).filter({ hasText: 'Owner' }).waitFor();
    await J.locator(`#member-list li.member[data-user="${jon.id}"] .role-badge`).filter({ hasText: 'Member' }).waitFor();
    assert.equal(await jonRows.count(), 3);
    assert.equal(await J.locator('#member-list button').count(), 0);
    assert.equal(await J.locator('#mute-all').count(), 0);
    await J.locator('#leave-group').waitFor();
    await shot(J, 'phone-en-group-panel-member');
    await J.click('#group-panel-close');

    // The owner mutes Jon for an hour.
    await H.click('#group-info-button');
    const halJon = H.locator(`#member-list li.member[data-user="${jon.id}"]`);
    await halJon.locator('.appoint').waitFor();
    assert.equal(await H.locator(`#member-list li.member[data-user="${hal.id}"] button`).count(), 0);
    assert.equal(await H.locator('#leave-group').count(), 0, 'the owner cannot leave: not offered');
    await halJon.locator('select.mute-for').selectOption('60');
    await halJon.locator('button.mute').click();
    await halJon.locator('.muted-mark').filter({ hasText: 'Muted until' }).waitFor();
    await halJon.locator('button.unmute').waitFor();
    await shot(H, 'desktop-en-group-panel-owner');

    // Jon's composer closes and says why, live.
    await J.locator('#composer-locked').filter({ hasText: 'You are muted in this group until' }).waitFor();
    assert.equal(await J.locator('#composer').isDisabled(), true);
    assert.equal(await J.locator('#send').isDisabled(), true);
    await shot(J, 'phone-en-group-muted-composer');

    // The owner makes Ivy an admin: she may act on Jon, not on Hal.
    await H.locator(`#member-list li.member[data-user="${ivy.id}"] button.appoint`).click();
    await H.locator(`#member-list li.member[data-user="${ivy.id}"] .role-badge`).filter({ hasText: 'Admin' }).waitFor();
    await I.click('#group-info-button');
    await I.locator(`#member-list li.member[data-user="${ivy.id}"] .role-badge`).filter({ hasText: '管理员' }).waitFor();
    const ivyJon = I.locator(`#member-list li.member[data-user="${jon.id}"]`);
    await ivyJon.locator('button.unmute').waitFor();
    assert.equal(await ivyJon.locator('button.appoint').count(), 0, 'only the owner appoints');
    assert.equal(await I.locator(`#member-list li.member[data-user="${hal.id}"] button`).count(), 0);
    await I.locator('#mute-all').waitFor();
    await shot(I, 'desktop-zh-group-panel-admin');

    // Dismissed while her page has not heard of it yet: the server refuses, and she is told why.
    holdIvyGroupEvents = true;
    await call(server.url, 'POST', 'group/member/update',
      { token: hal.token, body: { group_id: gid, user_id: ivy.id, role: 0 } });
    await ivyJon.locator('button.unmute').click();
    await I.locator('#group-error').filter({ hasText: '只有群主和管理员可以这样做。' }).waitFor();
    await shot(I, 'desktop-zh-group-refused');
    holdIvyGroupEvents = false;

    // The owner lifts Jon's mute: his composer opens again without a reload.
    await halJon.locator('button.unmute').click();
    await J.locator('#composer-locked').waitFor({ state: 'hidden' });
    assert.equal(await J.locator('#composer').isDisabled(), false);
    await J.fill('#composer', 'I can speak again');
    await J.press('#composer', 'Enter');
    await H.locator('#messages .msg.theirs').filter({ hasText: 'I can speak again' }).waitFor();

    // Everyone muted: members' composers say so; lifted: open again.
    await H.click('#mute-all');
    await J.locator('#composer-locked').filter({ hasText: 'Everyone is muted' }).waitFor();
    await I.locator('#composer-locked').filter({ hasText: '全员禁言' }).waitFor();
    assert.equal(await H.locator('#composer').isDisabled(), false, 'the owner still writes');
    await shot(J, 'phone-en-group-all-muted');
    await shot(I, 'desktop-zh-group-all-muted');
    await H.click('#mute-all');
    await J.locator('#composer-locked').waitFor({ state: 'hidden' });
    await I.locator('#composer-locked').waitFor({ state: 'hidden' });

    // Jon leaves; the owner's list shrinks.
    await J.click('#group-info-button');
    await J.click('#leave-group');
    await J.click('#leave-confirm');
    await J.waitForURL(/#\/chats$/, { waitUntil: 'commit' });
    await H.locator(`#member-list li.member[data-user="${jon.id}"]`).waitFor({ state: 'detached' });
    assert.equal(await H.locator('#member-list li.member').count(), 2);
    for (const who of Object.values(pages)) {
      assert.deepEqual(who.problems, []);
      assert.deepEqual(who.dialogs, []);
    }
  } catch (err) {
    await failed('group-admin', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
