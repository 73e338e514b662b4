// Voice notes: recorded in the browser (Chromium's fake microphone, a beeping tone), uploaded
// as kind=voice, sent with the length measured while recording, and playable on the other
// side (the <audio> loads its metadata from a signed URL, and the bytes decode to sound of
// about the recorded length). Both ways: desktop in English, phone in Chinese.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failed, DESKTOP, PHONE, launch, openConversation, scene, shot, startServer,
} from './lib.mjs';

/** Record about `ms` on page P, in the open chat, and send it. */
async function recordAndSend(P, ms) {
  await P.click('#record');
  await P.locator('#voice-recorder').waitFor();
  await P.waitForTimeout(ms);
  await P.locator('#voice-clock').filter({ hasText: /^0:0[1-9]$/ }).waitFor();
}

/** The newest voice note from the other side, once its player has loaded: what it knows. */
async function heard(P) {
  const audio = P.locator('#messages .msg.theirs audio.voice-audio').last();
  await audio.waitFor();
  await P.waitForFunction((el) => el && el.readyState >= 1, await audio.elementHandle());
  return audio.evaluate(async (el) => {
    // Chromium's recorded WebM carries no length (the player says Infinity): decode it too.
    const bytes = await (await fetch(el.currentSrc)).arrayBuffer();
    const ctx = new OfflineAudioContext(1, 1, 48000);
    const decoded = await ctx.decodeAudioData(bytes);
    const samples = decoded.getChannelData(0);
    let peak = 0;
    for (let i = 0; i < samples.length; i += 16) peak = Math.max(peak, Math.abs(samples[i]));
    return { readyState: el.readyState, duration: el.duration, decoded: decoded.duration, peak,
      src: el.currentSrc };
  });
}

test('a voice note records on one side and plays on the other, both ways', async () => {
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

    // Ann records and sends: Bob's page plays it.
    await recordAndSend(A.page, 2200);
    await shot(A.page, 'desktop-en-voice-recording');
    await A.page.click('#voice-send');
    await A.page.locator('#voice-recorder').waitFor({ state: 'hidden' });
    await A.page.locator('#messages .msg.mine:not(.pending) audio.voice-audio').waitFor();
    const got = await heard(B.page);
    assert.ok(got.readyState >= 1, 'metadata loaded');
    assert.ok(got.duration > 0, `duration ${got.duration}`);
    assert.ok(got.decoded > 1.5 && got.decoded < 6, `decoded ${got.decoded} s`);
    assert.ok(got.peak > 0.05, `not silence (peak ${got.peak})`);
    assert.match(got.src, /^http:\/\/127\.0\.0\.1:\d+\//);
    const length = await B.page.locator('#messages .msg.theirs .voice-length').last().textContent();
    assert.match(length, /^0:0[2-4]$/, `length shown: ${length}`);
    await shot(B.page, 'phone-zh-voice-received');

    // Cancel sends nothing.
    const before = await A.page.locator('#messages .msg').count();
    await recordAndSend(A.page, 1200);
    await A.page.click('#voice-cancel');
    await A.page.waitForTimeout(800);
    assert.equal(await A.page.locator('#messages .msg').count(), before);

    // Bob answers with a voice note from the phone.
    await recordAndSend(B.page, 1500);
    await shot(B.page, 'phone-zh-voice-recording');
    await B.page.click('#voice-send');
    const back = await heard(A.page);
    assert.ok(back.readyState >= 1 && back.duration > 0 && back.decoded > 1, JSON.stringify(back));
    await shot(A.page, 'desktop-en-voice-received');
    for (const who of [A, B]) {
      assert.deepEqual(who.problems, []);
      assert.deepEqual(who.dialogs, []);
    }
  } catch (err) {
    await failed('voice', err);
  } finally {
    await browser.close();
    await server.stop();
  }
});
