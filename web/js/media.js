// Media in the page: uploads, and signed URLs for <img> (a browser cannot put the token on
// an image request; the server signs short-lived URLs for the caller). Requests for URLs are
// gathered for a moment and asked for together; answers are kept until shortly before they
// expire.

import * as api from './api.js';

const KEEP_MS = 45 * 60 * 1000; // the server's default lifetime is an hour
const signed = new Map(); // id -> {at, urls: {url, thumbnail_url}} | {at, promise}
let waiting = new Map(); // id -> [resolve]
let timer = 0;

/** {url, thumbnail_url} of an upload for this person, or null when they may not see it. */
export function urlsOf(id) {
  const hit = signed.get(id);
  if (hit && Date.now() - hit.at < KEEP_MS) return hit.promise;
  const promise = new Promise((resolve) => {
    if (!waiting.has(id)) waiting.set(id, []);
    waiting.get(id).push(resolve);
    clearTimeout(timer);
    timer = setTimeout(flush, 30);
  });
  signed.set(id, { at: Date.now(), promise });
  return promise;
}

async function flush() {
  const batch = waiting;
  waiting = new Map();
  const ids = [...batch.keys()];
  for (let i = 0; i < ids.length; i += 100) {
    const chunk = ids.slice(i, i + 100);
    let answer = {};
    try {
      answer = await api.media.sign(chunk);
    } catch {
      for (const id of chunk) signed.delete(id); // asked again next time
    }
    for (const id of chunk) for (const resolve of batch.get(id)) resolve(answer[id] || null);
  }
}

/** Upload a photo; resolves to the server's description of it (id, urls, size…). */
export function uploadPhoto(file) {
  return api.media.upload(file, 'image');
}

/** Upload a recorded voice note (a Blob from MediaRecorder); resolves like uploadPhoto. */
export function uploadVoice(blob) {
  const ext = /mp4/.test(blob.type) ? 'm4a' : /ogg/.test(blob.type) ? 'ogg' : 'webm';
  return api.media.upload(new File([blob], `voice.${ext}`, { type: blob.type }), 'voice');
}

/** Upload a video as it is (the server reads its type from the bytes). */
export function uploadVideo(file) {
  return api.media.upload(file, 'video');
}

/** Upload any file; it is downloaded under its (made safe) name. */
export function uploadFile(file) {
  return api.media.upload(file, 'file');
}

/** Upload a picture to be my avatar (the server crops it to a square). */
export function uploadAvatar(file) {
  return api.media.upload(file, 'avatar');
}

/** The upload id in an avatar stored as one of ours ("/api/v1/media/<id>"), else null. */
export function avatarMediaId(avatar) {
  const m = /^\/api\/v1\/media\/([0-9a-f]{32})$/.exec(String(avatar || ''));
  return m ? m[1] : null;
}

/** Width and height to show a picture at, within `max` pixels, keeping its shape. */
export function fit(width, height, max) {
  if (!(width > 0 && height > 0)) return { width: max, height: Math.round(max * 0.75) };
  const scale = Math.min(1, max / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}
