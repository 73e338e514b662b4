// "Read by N" in a group: under my messages, counting up live as the other members read
// (one reads in the browser by opening the chat, one through the API), and not shown under
// the others' messages. The owner on a desktop in English, a member on a phone in Chinese.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  call, failed, DESKTOP, PHONE, befriendByApi, launch, person, registerByApi, shot,
  signInThroughPages, startServer,
} from './lib.mjs';

test('read by N counts up as group members read', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const ola = await registerByApi(server.url, 'ola', 'ola-pass12', 'Ola');
    const pim = await registerByApi(server.url, 'pim', 'pim-pass12', 'Pim');
    const quy = await registerByApi(server.url, 'quy', 'quy-pass12', 'Quy');
    await befriendByApi(server.url, ola, pim);
    await befriendByApi(server.url, ola, quy);
    const { group_id: gid } = await call(server.url, 'POST', 'group/create',
      { token: ola.token, body: { name: 'Readers', member_ids: [pim.id, quy.id] } });

    const O = await person(browser, server.url, { viewport: DESKTOP });
    const P = await person(browser, server.url, { viewport: PHONE, locale: 'zh-CN' });
    await signInThroughPages(O.page, 'ola', 'ola-pass12');
    await signInThroughPages(P.page, 'pim', 'pim-pass12');
    await O.page.locator('#conversations a.conv').filter({ hasText: 'Readers' }).click();
    await O.page.fill('#composer', 'Did everyone read this?');
    await O.page.press('#composer', 'Enter');
    const mine = O.page.locator('#messages .msg.mine:not(.pending)').filter({ hasText: 'Did everyone read this?' });
    await mine.waitFor();
    await O.page.waitForTimeout(500);
    assert.equal(await mine.locator('.read-by').count(), 0, 'nobody has read it yet');

    // Pim opens the group on his phone: Ola sees "Read by 1" without reloading.
    await P.page.locator('#conversations a.conv').filter({ hasText: 'Readers' }).click();
    await P.page.locator('#messages .msg.theirs').filter({ hasText: 'Did everyone read this?' }).waitFor();
    await mine.locator('.read-by').filter({ hasText: 'Read by 1' }).waitFor();
    await shot(O.page, 'desktop-en-read-by-1');

    // Quy reads from another client: 2.
    const last = await call(server.url, 'GET', 'chat/message/list',
      { token: quy.token, query: { session_type: 2, target_id: gid, limit: 1 } });
    await call(server.url, 'POST', 'chat/message/read', { token: quy.token,
      body: { session_type: 2, target_id: gid, message_id: last.messages[0].message_id } });
    await mine.locator('.read-by').filter({ hasText: 'Read by 2' }).waitFor();
    await shot(O.page, 'desktop-en-read-by-2');

    // Pim answers; Ola, who has the chat open, has read it: Pim sees "1 人已读" under his.
    await P.page.fill('#composer', '读过了');
    await P.page.press('#composer', 'Enter');
    const his = P.page.locator('#messages .msg.mine:not(.pending)').filter({ hasText: '读过了' });
    await his.locator('.read-by').filter({ hasText: '1 人已读' }).waitFor();
    // Others' messages carry no count.
    assert.equal(await P.page.locator('#messages .msg.theirs .read-by').count(), 0);
    await shot(P.page, 'phone-zh-read-by');

    // After a reload the counts come from the server's read positions.
    await O.page.reload();
    await O.page.locator('#messages .msg.mine').filter({ hasText: 'Did everyone read this?' })
      .locator('.read-by').filter({ hasText: 'Read by 2' }).waitFor();
    for (const who of [O, P]) {
      assert.deepEqual(who.problems, []);
      assert.deepEqual(who.dialogs, []);
    }
  } catch (err) {
    await failed('reads', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
