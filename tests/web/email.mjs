// Email in the web client, against a real SMTP server (aiosmtpd, tests/support/smtp_sink.py):
// bind an address in settings with the mailed code, sign in with it, and reset a forgotten
// password from the sign-in page, which ends the account's other sessions. The forgot page
// and its mail in Chinese. On a server that wants a verified address, registering asks for
// one and for the mailed code before the first sign-in.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  failed, PHONE, ROOT, call, launch, person, registerByApi, shot, signInThroughPages, startServer,
} from './lib.mjs';

function freePort() {
  return new Promise((res) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** The SMTP sink on a free port (plain SMTP, as a relay on the same machine). */
async function smtpSink() {
  const python = process.env.SMTP_SINK_PYTHON
    || execFileSync('bash', [join(ROOT, 'scripts/install-smtp-sink.sh')], { encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'jim-mail-'));
  const port = await freePort();
  const child = spawn(python, [join(ROOT, 'tests/support/smtp_sink.py'), '--port', String(port), '--maildir', dir],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((res, rej) => {
    child.stdout.on('data', (d) => { if (String(d).includes('ready')) res(); });
    child.on('exit', (code) => rej(new Error(`the SMTP sink exited with ${code}`)));
  });
  const mails = () => readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
  return {
    url: `smtp://127.0.0.1:${port}?tls=none`,
    /** The newest mail to `to` after `seen` of them, waiting for it. */
    async next(to, seen) {
      for (let i = 0; i < 200; i += 1) {
        const list = mails().filter((m) => m.rcpt_tos.includes(to));
        if (list.length > seen) return list[list.length - 1];
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no mail to ${to}`);
    },
    count: (to) => mails().filter((m) => m.rcpt_tos.includes(to)).length,
    stop() {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const codeOf = (mail) => {
  const m = mail.text.match(/\b(\d{6})\b/);
  assert.ok(m, `a 6-digit code in: ${mail.text}`);
  return m[1];
};

test('email: bind in settings, sign in with it, reset a forgotten password', async () => {
  const sink = await smtpSink();
  const server = await startServer([`mail.smtp_url=${sink.url}`, 'mail.from=JIM <no-reply@example.com>']);
  const browser = await launch();
  try {
    await registerByApi(server.url, 'eve', 'eve-pass12', 'Eve');
    const address = 'Eve.Smith@example.com';
    const who = await person(browser, server.url);
    const P = who.page;
    await signInThroughPages(P, 'eve', 'eve-pass12');

    // Settings: no address yet; bind one with the mailed code.
    await P.goto(`${server.url}/#/settings`);
    await P.locator('#email-current .hint').waitFor();
    await P.fill('#email-address', address);
    await P.click('#email-send');
    await P.locator('#email-sent').filter({ hasText: address }).waitFor();
    const bindMail = await sink.next(address, 0);
    await P.fill('#email-code', '000000' === codeOf(bindMail) ? '111111' : '000000');
    await P.click('#email-verify');
    await P.locator('#email-status.error').waitFor();
    await P.fill('#email-code', codeOf(bindMail));
    await P.click('#email-verify');
    await P.locator('#email-shown').filter({ hasText: address }).waitFor();
    await P.locator('#email-status.ok').waitFor();
    await shot(P, 'desktop-en-light-settings-email');

    // Another device stays signed in until the reset.
    const other = await call(server.url, 'POST', 'auth/login', { body: { username: 'eve', password: 'eve-pass12' } });

    // Sign out, and in with the address (any case).
    await P.click('.menu summary');
    await P.click('#logout');
    await signInThroughPages(P, address.toLowerCase(), 'eve-pass12');
    await P.click('.menu summary');
    await P.click('#logout');

    // Forgot: the address, then the code and a new password; every session ends.
    await P.waitForSelector('#to-forgot');
    await P.click('#to-forgot');
    await P.fill('#forgot-login', address);
    await P.click('#forgot-send');
    await P.locator('#forgot-sent').waitFor();
    const resetMail = await sink.next(address, 1);
    await P.fill('#forgot-code', codeOf(resetMail));
    await P.fill('#forgot-password', 'new-pass-34');
    await P.fill('#forgot-confirm', 'new-pass-34');
    await P.click('#forgot-submit');
    await P.waitForSelector('#username');
    await P.locator('.notice').filter({ hasText: 'password was changed' }).waitFor();
    await shot(P, 'desktop-en-light-password-reset');
    await assert.rejects(call(server.url, 'GET', 'profile/info', { token: other.token }), 'the other session ended');
    await signInThroughPages(P, 'eve', 'new-pass-34');
    const notice = await sink.next(address, 2);
    assert.ok(notice.subject.length > 0, 'a notice of the change was mailed');

    // An unknown login is answered alike, and nothing is mailed.
    const z = await person(browser, server.url, { viewport: PHONE, locale: 'zh-CN', colorScheme: 'dark' });
    const Z = z.page;
    await Z.goto(`${server.url}/#/forgot`);
    await Z.locator('#forgot-login').waitFor();
    await Z.fill('#forgot-login', 'nobody@example.com');
    await Z.click('#forgot-send');
    await Z.locator('#forgot-sent').filter({ hasText: '验证码已发出' }).waitFor();
    await Z.fill('#forgot-code', '123456');
    await Z.fill('#forgot-password', 'whatever-12');
    await Z.fill('#forgot-confirm', 'whatever-12');
    await Z.click('#forgot-submit');
    await Z.locator('.alert').filter({ hasText: '验证码' }).waitFor();
    const width = await Z.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `nothing wider than the screen (${width})`);
    await shot(Z, 'phone-zh-dark-forgot');
    assert.equal(sink.count('nobody@example.com'), 0);

    // In Chinese, the reset mail is Chinese.
    await Z.fill('#forgot-login', 'eve');
    await Z.click('#forgot-send');
    const zhMail = await sink.next(address, 3);
    assert.match(zhMail.text, /[\u4e00-\u9fff]/, 'a Chinese mail');
    assert.deepEqual([...who.problems, ...z.problems], []);
  } catch (err) {
    await failed('email', err);
  } finally {
    await browser.close();
    await server.stop();
    sink.stop();
  }
});

test('email: a server that wants a verified address registers with the mailed code', async () => {
  const sink = await smtpSink();
  const server = await startServer([`mail.smtp_url=${sink.url}`, 'mail.from=JIM <no-reply@example.com>',
    'auth.require_email=true']);
  const browser = await launch();
  try {
    const address = 'max@example.com';
    const who = await person(browser, server.url, { viewport: PHONE });
    const P = who.page;
    await P.waitForSelector('#to-register');
    await P.click('#to-register');
    await P.locator('#register-email').waitFor();
    await P.fill('#username', 'max');
    await P.fill('#nickname', 'Max');
    await P.fill('#register-email', address);
    await P.fill('#password', 'max-pass12');
    await P.fill('#confirm', 'max-pass12');
    await P.click('button[type=submit]');
    await P.locator('#register-code-sent').filter({ hasText: address }).waitFor();
    // Until the address is verified the account cannot sign in.
    await assert.rejects(call(server.url, 'POST', 'auth/login', { body: { username: 'max', password: 'max-pass12' } }),
      (e) => e.code === 'EMAIL_NOT_VERIFIED' || /EMAIL_NOT_VERIFIED/.test(String(e.message)));
    const mail = await sink.next(address, 0);
    await P.fill('#register-code', codeOf(mail) === '000000' ? '111111' : '000000');
    await P.click('#register-verify');
    await P.locator('.alert').filter({ hasText: 'code' }).waitFor();
    await shot(P, 'phone-en-light-register-email-code');
    await P.fill('#register-code', codeOf(mail));
    await P.click('#register-verify');
    await P.waitForSelector('#tab-chats');
    const me = await call(server.url, 'POST', 'auth/login', { body: { username: address, password: 'max-pass12' } });
    const info = await call(server.url, 'GET', 'profile/info', { token: me.token });
    assert.deepEqual([info.email, info.email_verified], [address, true]);
    assert.deepEqual(who.problems, []);
  } catch (err) {
    await failed('email-register', err);
  } finally {
    await browser.close();
    await server.stop();
    sink.stop();
  }
});
