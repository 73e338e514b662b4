// The web client's figures for BENCHMARKS.md (never run by the test suite): prints figures,
// asserts none. Run through scripts/bench-web.sh, which builds the release binary and
// installs Chromium and playwright-core when absent.
//
//   1. First load: bytes transferred (compressed, as on the wire) for the sign-in page with
//      an empty cache, and the time from navigation until the sign-in form takes input
//      (median of several fresh loads).
//   2. A conversation of 10,000 messages: time from opening it until its newest message
//      shows, and how many message elements the page holds while scrolling up through all of
//      it to the first message and back down to the newest.
import { performance } from 'node:perf_hooks';
import {
  launch, person, startServer, registerByApi, befriendByApi, call, signInThroughPages, unique,
} from '../tests/web/lib.mjs';

const LOADS = Number(process.env.LOADS || 7);
const MESSAGES = Number(process.env.MESSAGES || 10000);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function firstLoad(browser, url) {
  const bytes = [];
  const usable = [];
  for (let i = 0; i < LOADS; i += 1) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    let transferred = 0;
    cdp.on('Network.loadingFinished', (e) => { transferred += e.encodedDataLength; });
    const started = performance.now();
    await page.goto(url);
    await page.waitForSelector('#username:not([disabled])', { state: 'visible' });
    usable.push(performance.now() - started);
    await page.waitForLoadState('networkidle');
    bytes.push(transferred);
    await context.close();
  }
  console.log(`first load: ${(median(bytes) / 1024).toFixed(1)} KiB transferred (median of ${LOADS}; min ${(Math.min(...bytes) / 1024).toFixed(1)}, max ${(Math.max(...bytes) / 1024).toFixed(1)})`);
  console.log(`sign-in form usable after navigation: median ${median(usable).toFixed(0)} ms (min ${Math.min(...usable).toFixed(0)}, max ${Math.max(...usable).toFixed(0)})`);
}

async function longConversation(browser, url) {
  const names = [`bench_a_${unique()}`, `bench_b_${unique()}`];
  const a = { ...await registerByApi(url, names[0], 'secret123', 'Reader'), username: names[0] };
  const b = { ...await registerByApi(url, names[1], 'secret123', 'Writer'), username: names[1] };
  await befriendByApi(url, a, b);
  const seeded = performance.now();
  const senders = 16;
  let next = 0;
  await Promise.all(Array.from({ length: senders }, async () => {
    for (let n = next++; n < MESSAGES; n = next++) {
      await call(url, 'POST', 'chat/message/send', {
        token: b.token,
        body: { session_type: 1, type: 1, target_id: a.id, body: { text: `message ${n + 1} of ${MESSAGES}` } },
      });
    }
  }));
  console.log(`seeded ${MESSAGES} messages in ${((performance.now() - seeded) / 1000).toFixed(1)} s`);

  const { page } = await person(browser, url);
  await signInThroughPages(page, a.username, a.password);
  const opened = performance.now();
  await page.goto(`${url}/#/chat/1/${b.id}`);
  await page.waitForSelector('.msg');
  const openMs = performance.now() - opened;
  const counts = [await page.locator('.msg').count()];
  const firstShown = () => page.evaluate(() => document.querySelector('.msg')?.dataset.id ?? '');
  const lastShown = () => page.evaluate(() => [...document.querySelectorAll('.msg')].at(-1)?.dataset.id ?? '');
  // Up: scroll to the top until the conversation's start shows; each scroll waits until the
  // first message in the page changes (a page fetched or the window moved).
  const upStarted = performance.now();
  let ups = 0;
  while (!(await page.locator('.messages > .start').count()) && ups < 2000) {
    const before = await firstShown();
    await page.evaluate(() => { document.querySelector('.messages').scrollTop = 0; });
    await page.waitForFunction((b) => (document.querySelector('.msg')?.dataset.id ?? '') !== b
      || document.querySelector('.messages > .start'), before, { timeout: 10000 }).catch(() => {});
    counts.push(await page.locator('.msg').count());
    ups += 1;
  }
  const upMs = performance.now() - upStarted;
  const oldestShown = await page.evaluate(() => document.querySelector('.msg .bubble')?.textContent ?? '');
  // Down again to the newest.
  let downs = 0;
  const downStarted = performance.now();
  while (!(await page.locator('#to-latest[hidden]').count()) && downs < 2000) {
    const before = await lastShown();
    await page.evaluate(() => { const l = document.querySelector('.messages'); l.scrollTop = l.scrollHeight; });
    await page.waitForFunction((b) => ([...document.querySelectorAll('.msg')].at(-1)?.dataset.id ?? '') !== b,
      before, { timeout: 10000 }).catch(() => {});
    counts.push(await page.locator('.msg').count());
    downs += 1;
  }
  const downMs = performance.now() - downStarted;
  const newestShown = await page.evaluate(() => [...document.querySelectorAll('.msg .bubble')].at(-1)?.textContent ?? '');
  console.log(`conversation of ${MESSAGES}: newest message shown ${openMs.toFixed(0)} ms after opening`);
  console.log(`scrolled up to the first message in ${ups} scrolls (${(upMs / 1000).toFixed(1)} s; first: "${oldestShown.slice(0, 40)}") and down to the newest in ${downs} (${(downMs / 1000).toFixed(1)} s; last: "${newestShown.slice(0, 40)}")`);
  console.log(`message elements in the page: ${counts[0]} at open, at most ${Math.max(...counts)} while scrolling through all of it (last: ${counts.at(-1)})`);
}

const server = await startServer(['chat.world_slow_mode_secs=0']);
const browser = await launch();
try {
  await firstLoad(browser, server.url);
  await longConversation(browser, server.url);
} finally {
  await browser.close();
  await server.stop();
}
