// Registration through the captcha (shown as an image, refreshable; a wrong answer gets a new
// picture), and sign-in failures: the captcha appears when the server asks for it, and the
// lock-out is said plainly. The server keeps its cache in Redis here, where the test reads
// the answers (nothing in the server is made weaker for the test).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failed, launch, person, redisGet, shot, startServer, unique } from './lib.mjs';

test('captcha on registration and after failed sign-ins; lock-out shown', async () => {
  const name = `jimweb${unique()}`;
  const redis = process.env.JIM_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
  const server = await startServer([`redis.url=${redis}`, `server_name=${name}`], { captchaOnRegister: true });
  const browser = await launch();
  try {
    const carol = await person(browser, server.url);
    const P = carol.page;
    const captchaId = async (previous) => {
      await P.waitForFunction((prev) => {
        const id = document.querySelector('.captcha-img')?.dataset.captchaId;
        return id && id !== prev;
      }, previous);
      return P.locator('.captcha-img').getAttribute('data-captcha-id');
    };
    const loaded = () => P.locator('.captcha-img').evaluate((img) => img.complete && img.naturalWidth > 0);

    await P.click('#to-register');
    let id = await captchaId(null);
    assert.ok(await loaded(), 'the captcha picture shows');
    // Refreshable.
    await P.click('.captcha-refresh');
    id = await captchaId(id);
    await shot(P, 'desktop-en-light-register-captcha');

    await P.fill('#username', 'carol');
    await P.fill('#password', 'carol-pass1');
    await P.fill('#confirm', 'carol-pass1');
    await P.fill('#captcha', 'zzzzz');
    await P.click('button[type=submit]');
    await P.locator('.alert').filter({ hasText: 'The code did not match' }).waitFor();
    id = await captchaId(id);
    const answer = redisGet(`${name}:captcha:${id}`);
    assert.match(answer, /^\d{5}$/);
    await P.fill('#captcha', answer);
    await P.click('button[type=submit]');
    await P.waitForSelector('#tab-chats');

    // Sign out, then fail: after three failures the captcha is asked for, after five the
    // account is locked and the page says so.
    await P.click('.menu summary');
    await P.click('#logout');
    await P.waitForSelector('#username');
    const attempt = async () => {
      await P.fill('#username', 'carol');
      await P.fill('#password', 'wrong-pass1');
      await P.click('button[type=submit]');
      await P.locator('.alert:not([hidden])').waitFor();
      await P.waitForFunction(() => !document.querySelector('button[type=submit]').disabled);
    };
    for (let i = 1; i <= 2; i += 1) {
      await attempt();
      assert.ok(await P.locator('#captcha').isHidden(), `no captcha after ${i} failures`);
    }
    await attempt();
    await P.locator('.alert').filter({ hasText: '3 failed attempts' }).waitFor();
    assert.ok(await P.locator('#captcha').isVisible(), 'captcha after 3 failures');
    await shot(P, 'desktop-en-light-login-captcha');
    let loginId = await captchaId(null);
    for (let i = 4; i <= 5; i += 1) {
      await P.fill('#captcha', redisGet(`${name}:captcha:${loginId}`));
      await attempt();
      if (i < 5) loginId = await captchaId(loginId);
    }
    await P.locator('.alert').filter({ hasText: 'locked' }).waitFor();
    // Even the right password is refused while locked, and the page says why.
    await P.fill('#password', 'carol-pass1');
    await P.click('button[type=submit]');
    await P.locator('.alert').filter({ hasText: 'locked' }).waitFor();
    await shot(P, 'desktop-en-light-login-locked');
    assert.deepEqual(carol.dialogs, []);
    assert.deepEqual(carol.problems, []);
  } catch (err) {
    await failed('captcha', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
