// Helpers of the browser tests: a real `jim serve` (the debug binary, a fresh data dir, a free
// port), Debian's Chromium through playwright-core, people registered through the pages or
// the API, and screenshots under target/web-screenshots/.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { deflateSync } from 'node:zlib';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHOTS = join(ROOT, 'target', 'web-screenshots');
const JIM = process.env.JIM_BIN || join(ROOT, 'target', 'debug', 'jim');

/** Run `jim serve` with `args`; resolves to the child, its log and the address it printed. */
async function spawnJim(args) {
  const child = spawn(JIM, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const log = [];
  const url = await new Promise((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error(`jim did not start:\n${log.join('\n')}`)), 30000);
    child.stderr.on('data', (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        log.push(line);
        if (log.length > 400) log.shift();
        const m = line.includes('jim serving') && line.match(/"addr":"([^"]+)"/);
        if (m) {
          clearTimeout(timer);
          res(`http://${m[1]}`);
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`jim exited with ${code}:\n${log.join('\n')}`));
    });
  });
  return { child, log, url };
}

async function stopJim(child, signal = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((res) => child.once('exit', res));
  child.kill(signal);
  await Promise.race([exited, new Promise((res) => setTimeout(res, 5000))]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * Start `jim serve` on 127.0.0.1:0; resolves once it prints its address. `kill()` and
 * `start()` restart it on the same address and data.
 */
export async function startServer(options = [], { captchaOnRegister = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'jim-web-'));
  const args = ['serve',
    '-O', `data_dir=${dir}`,
    '-O', 'auth.bcrypt_cost=4',
    '-O', `auth.captcha_on_register=${captchaOnRegister}`,
    '-O', 'log.format=json',
    ...options.flatMap((o) => ['-O', o])];
  let running = await spawnJim([...args, '-O', 'http.listen=127.0.0.1:0']);
  const server = {
    url: running.url,
    log: running.log,
    /** Kill it (SIGKILL: nothing is flushed on the way out). */
    async kill() {
      await stopJim(running.child, 'SIGKILL');
    },
    /** Start it again, after `kill`, on the same address and data. */
    async start() {
      running = await spawnJim([...args, '-O', `http.listen=${new URL(server.url).host}`]);
      server.log = running.log;
    },
    async stop() {
      await stopJim(running.child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // A synthetic microphone (a beeping tone) that needs no permission prompt: voice notes.
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
  });
}

/** How long a step may wait (the machines running the suite are small and often busy). */
export const TIMEOUT = Number(process.env.WEB_TEST_TIMEOUT_MS || 20000);

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 667 };

/**
 * A person's own browser context and page. Every page error, console error and dialog is
 * recorded: tests assert there are none (a dialog would be script run from user content).
 */
export async function person(browser, url, { viewport = DESKTOP, locale = 'en-US', colorScheme = 'light', init } = {}) {
  const context = await browser.newContext({
    viewport, locale, colorScheme, deviceScaleFactor: 1, isMobile: viewport.width < 500,
    hasTouch: viewport.width < 500,
  });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  const dialogs = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await page.goto(url);
  const who = { context, page, problems, dialogs };
  opened.push(who);
  return who;
}

const opened = [];

/** Screenshots of every open page, named after the failing test, then the error again. */
export async function failed(name, err) {
  for (const [i, who] of opened.entries()) {
    try {
      await shot(who.page, `FAILED-${name}-${i}`);
    } catch { /* closed */ }
    if (who.problems.length) console.error(`page ${i} problems:`, who.problems);
  }
  throw err;
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Register through the pages (no captcha on this server) and land in the chats. */
export async function registerThroughPages(page, { username, password, nickname }) {
  await page.click('#to-register');
  await page.fill('#username', username);
  if (nickname) await page.fill('#nickname', nickname);
  await page.fill('#password', password);
  await page.fill('#confirm', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#tab-chats');
}

export async function signInThroughPages(page, username, password) {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#tab-chats');
}

/** The REST API, for setting a scene quickly. */
export async function call(url, method, path, { token, body, query } = {}) {
  const u = new URL(`/api/v1/${path}`, url);
  for (const [k, v] of Object.entries(query || {})) u.searchParams.set(k, String(v));
  const res = await fetch(u, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const env = await res.json();
  if (env.status !== 1) throw new Error(`${method} ${path}: ${res.status} ${env.code} ${env.error}`);
  return env.data;
}

export async function registerByApi(url, username, password, nickname) {
  const user = await call(url, 'POST', 'auth/register',
    { body: { username, password, confirm_password: password, nickname } });
  const { token } = await call(url, 'POST', 'auth/login', { body: { username, password } });
  return { ...user, token, password };
}

export async function befriendByApi(url, a, b) {
  const out = await call(url, 'POST', 'friend/invite/add', { token: a.token, body: { user_id: b.id, note: 'hi' } });
  await call(url, 'POST', 'friend/invite/update', { token: b.token, body: { id: out.invite.id, status: 1, reply: '' } });
}

export async function sendByApi(url, from, to, text) {
  return call(url, 'POST', 'chat/message/send', {
    token: from.token,
    body: { session_type: 1, type: 1, target_id: to.id, body: { text } },
  });
}

export function redisGet(key) {
  const url = process.env.JIM_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
  return execFileSync('redis-cli', ['-u', url, '--raw', 'GET', key], { encoding: 'utf8' }).trim();
}

/** A short unique suffix for names (each test has its own server, but Redis is shared). */
export function unique() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** A PNG picture (a colour gradient) of the given size, made here without any library. */
export function png(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y += 1) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x += 1) {
      raw[row + 1 + x * 3] = 255 - Math.round((y / height) * 120);
      raw[row + 2 + x * 3] = Math.round((x / width) * 160) + 60;
      raw[row + 3 + x * 3] = Math.round((y / height) * 200) + 40;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * The usual start of a scene: people registered through the API (password `<name>-pass12`,
 * nickname the name capitalised), each in their own browser page, signed in through it unless
 * `signIn: false`; `friends` pairs become friends. `people`: {name: {viewport, locale,
 * colorScheme, signIn}}. Returns {name: {...user (id, token), context, page, problems, dialogs}}.
 */
export async function scene(browser, url, people, { friends = [] } = {}) {
  const out = {};
  for (const name of Object.keys(people)) {
    const nickname = name[0].toUpperCase() + name.slice(1);
    out[name] = await registerByApi(url, name, `${name}-pass12`, nickname);
  }
  for (const [a, b] of friends) await befriendByApi(url, out[a], out[b]);
  for (const [name, opts] of Object.entries(people)) {
    const { signIn = true, ...look } = opts || {};
    const who = await person(browser, url, look);
    if (signIn) await signInThroughPages(who.page, name, `${name}-pass12`);
    Object.assign(out[name], who);
  }
  return out;
}

/** Open a conversation from the list by its name and wait for its title. */
export async function openConversation(page, name) {
  await page.locator('#conversations a.conv').filter({ hasText: name }).first().click();
  await page.locator('.chat-title').filter({ hasText: name }).waitFor();
}
