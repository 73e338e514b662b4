// Attachments beyond photos and voice notes, through the composer's "+" menu: a video (made
// in the browser from a canvas, as a camera would) plays on the other side from a signed URL
// that answers a Range request with 206; a file downloads under its name; a shared location
// shows as coordinates with a map link (after the browser's permission, and only once "Send
// location" is pressed); my new avatar shows to my friend. Desktop in English, phone in
// Chinese.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  failed, DESKTOP, PHONE, launch, openConversation, png, scene, shot, startServer,
} from './lib.mjs';

/** A short WebM video recorded in page P from a moving canvas (about `ms` long). */
async function makeVideo(P, ms) {
  const base64 = await P.evaluate(async (length) => {
    const canvas = document.createElement('canvas');
    canvas.width = 320;
    canvas.height = 240;
    const ctx = canvas.getContext('2d');
    const stream = canvas.captureStream(25);
    const recorder = new MediaRecorder(stream, { mimeType: 'video/webm' });
    const chunks = [];
    recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    const done = new Promise((res) => { recorder.onstop = res; });
    let frame = 0;
    const timer = setInterval(() => {
      frame += 1;
      ctx.fillStyle = `hsl(${(frame * 9) % 360} 70% 50%)`;
      ctx.fillRect(0, 0, 320, 240);
      ctx.fillStyle = '#fff';
      ctx.fillRect((frame * 6) % 300, 100, 20, 40);
    }, 40);
    recorder.start(200);
    await new Promise((res) => setTimeout(res, length));
    recorder.stop();
    await done;
    clearInterval(timer);
    const bytes = new Uint8Array(await new Blob(chunks, { type: 'video/webm' }).arrayBuffer());
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  }, ms);
  return Buffer.from(base64, 'base64');
}

/** Choose a file through the "+" menu entry `item` (the page's own file chooser). */
async function attach(P, item, file) {
  await P.click('#attach');
  await P.locator('#attach-menu').waitFor();
  const [chooser] = await Promise.all([P.waitForEvent('filechooser'), P.click(item)]);
  await chooser.setFiles(file);
}

test('video, file, location and avatar reach the other side', async () => {
  const server = await startServer();
  const browser = await launch();
  try {
    const { ann, bob } = await scene(browser, server.url,
      { ann: { viewport: DESKTOP }, bob: { viewport: PHONE, locale: 'zh-CN' } }, { friends: [['ann', 'bob']] });
    const [A, B] = [ann, bob];
    await openConversation(A.page, 'Bob');
    await openConversation(B.page, 'Ann');
    await A.page.locator('#composer').waitFor();
    await B.page.locator('#composer').waitFor();

    // The "+" menu offers the four kinds.
    await A.page.click('#attach');
    for (const id of ['#attach-photo', '#attach-video', '#attach-file', '#attach-location']) {
      await A.page.locator(id).waitFor();
    }
    await shot(A.page, 'desktop-en-attach-menu');
    await A.page.click('#attach'); // closes it
    await A.page.locator('#attach-menu').waitFor({ state: 'hidden' });

    // A video: previewed, sent, a player on Bob's side whose source answers ranges.
    const clip = await makeVideo(A.page, 1500);
    assert.ok(clip.length > 1000, `recorded ${clip.length} bytes`);
    await attach(A.page, '#attach-video', { name: 'clip.webm', mimeType: 'video/webm', buffer: clip });
    await A.page.locator('#photo-preview video.preview-video').waitFor();
    await shot(A.page, 'desktop-en-video-preview');
    await A.page.click('#video-send');
    await A.page.locator('#messages .msg.mine:not(.pending) video.video').waitFor();
    const video = B.page.locator('#messages .msg.theirs video.video').last();
    await video.waitFor();
    await B.page.waitForFunction((el) => el && el.readyState >= 1 && el.videoWidth > 0, await video.elementHandle());
    const played = await video.evaluate(async (el) => {
      const res = await fetch(el.currentSrc, { headers: { Range: 'bytes=0-99' } });
      const body = await res.arrayBuffer();
      return { status: res.status, range: res.headers.get('content-range'), length: body.byteLength,
        width: el.videoWidth, height: el.videoHeight, src: el.currentSrc, controls: el.controls };
    });
    assert.equal(played.status, 206, JSON.stringify(played));
    assert.match(played.range, new RegExp(`^bytes 0-99/${clip.length}$`));
    assert.equal(played.length, 100);
    assert.deepEqual([played.width, played.height, played.controls], [320, 240, true]);
    assert.match(played.src, /\/api\/v1\/media\/[0-9a-f]{32}\?u=\d+&e=\d+&s=/);
    const facts = await B.page.locator('#messages .msg.theirs .video-facts').last().textContent();
    assert.match(facts, /(KB|B)$/, `size shown: ${facts}`);
    await shot(B.page, 'phone-zh-video-received');

    // A file: its name and size on both sides; Bob downloads it under its name.
    const notes = Buffer.from('Trip notes: bring the map.\n'.repeat(40));
    await attach(A.page, '#attach-file', { name: 'trip-notes.txt', mimeType: 'text/plain', buffer: notes });
    await A.page.locator('#photo-preview .preview-name').filter({ hasText: 'trip-notes.txt' }).waitFor();
    await A.page.click('#file-send');
    const link = B.page.locator('#messages .msg.theirs a.file-link[href]').filter({ hasText: 'trip-notes.txt' });
    await link.waitFor();
    assert.match(await link.textContent(), /1\.1 KB/);
    const [download] = await Promise.all([B.page.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), 'trip-notes.txt');
    assert.deepEqual(readFileSync(await download.path()), notes);
    await shot(B.page, 'phone-zh-file-received');

    // A location: the browser's permission is given; Ann sees where she is before sending.
    await A.context.grantPermissions(['geolocation'], { origin: server.url });
    await A.context.setGeolocation({ latitude: 31.2304, longitude: 121.4737, accuracy: 25 });
    await A.page.click('#attach');
    await A.page.click('#attach-location');
    await A.page.locator('#photo-preview .location-coords').filter({ hasText: '31.23040, 121.47370' }).waitFor();
    await shot(A.page, 'desktop-en-location-preview');
    await A.page.click('#location-send');
    const place = B.page.locator('#messages .msg.theirs .location').last();
    await place.locator('.location-coords').filter({ hasText: '31.23040, 121.47370' }).waitFor();
    const map = await place.locator('a').getAttribute('href');
    assert.equal(map, 'https://www.openstreetmap.org/?mlat=31.2304&mlon=121.4737#map=16/31.2304/121.4737');
    assert.equal(await place.locator('a').getAttribute('rel'), 'noopener noreferrer nofollow');
    await shot(B.page, 'phone-zh-location-received');
    await shot(A.page, 'desktop-en-attachments-sent');

    // Without the permission nothing is sent, and the page says why.
    const before = await B.page.locator('#messages .msg').count();
    await B.page.click('#attach');
    await B.page.click('#attach-location');
    await B.page.locator('#photo-preview .error').waitFor();
    await shot(B.page, 'phone-zh-location-refused');
    await B.page.click('#photo-cancel');
    assert.equal(await B.page.locator('#messages .msg').count(), before);

    // Ann's avatar: chosen and previewed in settings, then shown to Bob.
    await A.page.click('.menu summary');
    await A.page.click('#open-settings');
    await A.page.setInputFiles('#avatar-input', { name: 'me.png', mimeType: 'image/png', buffer: png(300, 200) });
    await A.page.locator('#avatar-preview').waitFor();
    await shot(A.page, 'desktop-en-avatar-preview');
    await A.page.click('#avatar-save');
    await A.page.locator('#avatar-current .avatar img.avatar-img').waitFor();
    const loaded = (loc) => loc.evaluate((img) => img.complete && img.naturalWidth > 0);
    const mine = A.page.locator('.side-head .avatar img.avatar-img');
    await mine.waitFor();
    await A.page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await mine.elementHandle());
    assert.equal(await mine.evaluate((img) => img.naturalWidth), await mine.evaluate((img) => img.naturalHeight),
      'cropped square by the server');
    await shot(A.page, 'desktop-en-avatar-saved');
    // Bob sees it in his conversation list, the chat header and his friend list.
    await B.page.reload();
    await B.page.locator('.chat-head .avatar img.avatar-img').waitFor();
    await shot(B.page, 'phone-zh-avatar-in-chat');
    await B.page.goto(`${server.url}/#/chats`);
    const row = B.page.locator('#conversations a.conv').filter({ hasText: 'Ann' }).locator('.avatar img.avatar-img');
    await row.waitFor();
    await B.page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await row.elementHandle());
    assert.ok(await loaded(row));
    await shot(B.page, 'phone-zh-avatar-in-list');
    await B.page.goto(`${server.url}/#/friends`);
    await B.page.locator('#friend-list .avatar img.avatar-img').first().waitFor();
    await shot(B.page, 'phone-zh-avatar-in-friends');
    // Bob has none: his initial stays.
    assert.equal(await B.page.locator('.side-head .avatar img').count(), 0);
    assert.equal((await B.page.locator('.side-head .avatar').textContent()).trim(), 'B');
    // The same chat in the other language on each screen.
    for (const [P, lang, name] of [[A.page, 'zh', 'desktop-zh-attachments'], [B.page, 'en', 'phone-en-attachments']]) {
      await P.evaluate((l) => localStorage.setItem('jim.lang', l), lang);
      await P.goto(`${server.url}/#/chat/1/${P === A.page ? bob.id : ann.id}`);
      await P.reload();
      await P.locator('#messages .location').last().waitFor();
      await P.locator('#messages video.video').last().waitFor();
      await shot(P, name);
    }
    for (const who of [A, B]) {
      assert.deepEqual(who.problems, []);
      assert.deepEqual(who.dialogs, []);
    }
  } catch (err) {
    await failed('attachments', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
