// What a message shows inside its bubble, by type: text with links, photos (thumbnail, full
// size on click), voice notes, videos (the browser's player, seekable: the server answers
// ranges), files (name, size, a download link), locations (coordinates and a map link), and
// tombstones. Media come from signed URLs (media.js `urlsOf`); user content goes in as text.

import { h, linkify, safeLink } from '../dom.js';
import { KIND } from '../format.js';
import { locale, t } from '../i18n.js';
import { fit, urlsOf } from '../media.js';

const PHOTO_EDGE = 240;

/** A picture of a known size; `src` is set when known (a blob: preview or a signed URL). */
export function picture(width, height, src) {
  const size = fit(width, height, PHOTO_EDGE);
  const img = h('img', { class: 'photo', alt: t('msg.image'), width: size.width, height: size.height });
  if (src) img.src = src;
  return img;
}

/** The full-size photo over the page; closed by a click, the button or Escape. */
export function lightbox(url) {
  const img = h('img', { class: 'lightbox-img', alt: t('msg.image') });
  img.src = url;
  const close = () => {
    box.remove();
    document.removeEventListener('keydown', onKey);
  };
  const onKey = (ev) => { if (ev.key === 'Escape') close(); };
  const box = h('div', { class: 'lightbox', role: 'dialog', 'aria-modal': 'true', onclick: close },
    img, h('button', { type: 'button', class: 'lightbox-close', 'aria-label': t('chat.close') }, '×'));
  document.addEventListener('keydown', onKey);
  document.body.append(box);
}

/** "0:07" for a length in seconds. */
export function seconds(s) {
  const n = Math.max(0, Math.round(Number(s) || 0));
  return `${Math.floor(n / 60)}:${String(n % 60).padStart(2, '0')}`;
}

/** "820 B", "12 KB", "3.4 MB": a file's size for people. */
export function bytes(n) {
  const v = Number(n);
  if (!(v >= 0)) return '';
  if (v < 1024) return `${v} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let x = v / 1024;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i += 1;
  }
  const digits = x < 10 ? 1 : 0;
  return `${new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(x)} ${units[i]}`;
}

/** An upload's signed URLs, or the words saying it is gone in place of `el`'s content. */
function withUrls(mediaId, el, goneKey, use) {
  if (typeof mediaId !== 'string') return;
  urlsOf(mediaId).then((urls) => {
    if (!urls) el.replaceChildren(h('em', { class: 'tombstone' }, t(goneKey)));
    else use(urls);
  });
}

function photoOf(m) {
  const b = m.body || {};
  const img = picture(b.width, b.height);
  const button = h('button', { type: 'button', class: 'photo-button', 'aria-label': t('chat.openPhoto') }, img);
  if (typeof b.media_id !== 'string') {
    button.disabled = true;
    return button;
  }
  withUrls(b.media_id, button, 'chat.photoUnavailable', (urls) => {
    img.src = urls.thumbnail_url || urls.url;
    button.addEventListener('click', () => lightbox(urls.url));
  });
  return button;
}

/** A voice note: the browser's player on a signed URL, with the length the sender measured. */
function voiceOf(m) {
  const b = m.body || {};
  const audio = h('audio', { class: 'voice-audio', controls: true, preload: 'metadata' });
  const el = h('span', { class: 'voice' }, audio,
    b.duration ? h('span', { class: 'voice-length small' }, seconds(b.duration)) : null);
  withUrls(b.media_id, el, 'chat.voiceUnavailable', (urls) => { audio.src = urls.url; });
  return el;
}

/**
 * A video: the browser's player on a signed URL (it asks for ranges as it seeks), its first
 * frame standing as the poster until it plays (or the server's thumbnail when there is one),
 * with its length and size underneath.
 */
function videoOf(m) {
  const b = m.body || {};
  const video = h('video', { class: 'video', controls: true, preload: 'metadata', playsinline: true,
    'aria-label': t('msg.video') });
  const facts = [b.duration ? seconds(b.duration) : null, b.size ? bytes(b.size) : null].filter(Boolean);
  const el = h('div', { class: 'video-box' }, video,
    facts.length ? h('span', { class: 'video-facts small' }, facts.join(' · ')) : null);
  withUrls(b.media_id, el, 'chat.videoUnavailable', (urls) => {
    if (urls.thumbnail_url) video.poster = urls.thumbnail_url;
    video.src = urls.url;
  });
  return el;
}

/** A file: its name and size, and a link that downloads it under the server's name for it. */
function fileOf(m) {
  const b = m.body || {};
  const name = String(b.name || t('msg.file'));
  const label = h('span', { class: 'file-name' }, name);
  const link = h('a', { class: 'file-link', download: '', title: t('chat.download') },
    h('span', { class: 'file-icon', 'aria-hidden': 'true' }, '📄'),
    h('span', { class: 'file-text' }, label, h('span', { class: 'file-size small' },
      [b.size != null ? bytes(b.size) : null, t('chat.download')].filter(Boolean).join(' · '))));
  const el = h('div', { class: 'file' }, link);
  if (typeof b.media_id !== 'string') {
    // A file another client sent by address (http/https only) opens there.
    const outside = typeof b.src === 'string' ? safeLink(b.src) : null;
    if (outside) {
      link.href = outside.href;
      link.target = '_blank';
      link.rel = 'noopener noreferrer nofollow';
      link.removeAttribute('download');
    }
    return el;
  }
  withUrls(b.media_id, el, 'chat.fileUnavailable', (urls) => { link.href = urls.url; });
  return el;
}

/** Coordinates as people read them: 5 decimals (about a metre). */
function coordinate(v) {
  return new Intl.NumberFormat(locale(), { minimumFractionDigits: 5, maximumFractionDigits: 5 }).format(v);
}

/** An openstreetmap.org page centred on a point. */
export function mapUrl(lat, lon, zoom = 16) {
  const z = Math.round(Math.min(19, Math.max(1, Number(zoom) || 16)));
  return `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=${z}/${lat}/${lon}`;
}

/** A shared location: its label when given, the coordinates, and a link to the map. */
export function placeOf(lat, lon, label, zoom) {
  const coords = `${coordinate(lat)}, ${coordinate(lon)}`;
  return h('div', { class: 'location' },
    h('span', { class: 'location-pin', 'aria-hidden': 'true' }, '📍'),
    h('span', { class: 'location-text' },
      label ? h('strong', { class: 'location-label' }, label) : null,
      h('span', { class: 'location-coords' }, coords),
      safeLink(mapUrl(lat, lon, zoom), t('chat.openMap'))));
}

function locationOf(m) {
  const b = m.body || {};
  const lat = Number(b.latitude);
  const lon = Number(b.longitude);
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return h('em', null, t('msg.location'));
  return placeOf(lat, lon, typeof b.location_label === 'string' ? b.location_label : '', b.scale);
}

/** What a stored message shows in its bubble. */
export function bodyOf(m) {
  if (m.status === 3) return h('em', { class: 'tombstone' }, t('msg.recalled'));
  if (m.status === 2) return h('em', { class: 'tombstone' }, t('msg.deleted'));
  if (m.type === 1) return linkify(String((m.body && m.body.text) || ''));
  if (m.type === 2) return photoOf(m);
  if (m.type === 3) return voiceOf(m);
  if (m.type === 4) return videoOf(m);
  if (m.type === 5) return locationOf(m);
  if (m.type === 6) return fileOf(m);
  return h('em', null, t(KIND[m.type] || 'msg.unknown'));
}

/** The bubble's classes for a stored message (media sit on no background). */
export function bubbleClass(m) {
  const live = m.status === 1;
  return `bubble${live ? '' : ' gone'}${live && (m.type === 2 || m.type === 4) ? ' media' : ''}`
    + `${m.type === 3 ? ' voice-bubble' : ''}${live && m.type === 6 ? ' file-bubble' : ''}`;
}

/** What a send not yet confirmed shows: the photo or video from the file, else its words. */
export function pendingBody(p) {
  if (p.kind === 'image') return h('div', { class: 'bubble media' }, picture(p.width, p.height, p.previewUrl));
  if (p.kind === 'voice') return h('div', { class: 'bubble voice-bubble' }, `🎤 ${t('msg.voice')} ${seconds(p.duration)}`);
  if (p.kind === 'video') {
    const video = h('video', { class: 'video', muted: true, preload: 'metadata', 'aria-label': t('msg.video') });
    if (p.previewUrl) video.src = p.previewUrl;
    return h('div', { class: 'bubble media' }, h('div', { class: 'video-box' }, video,
      h('span', { class: 'video-facts small' }, bytes(p.file && p.file.size))));
  }
  if (p.kind === 'file') {
    return h('div', { class: 'bubble file-bubble' }, h('div', { class: 'file' },
      h('span', { class: 'file-link' }, h('span', { class: 'file-icon', 'aria-hidden': 'true' }, '📄'),
        h('span', { class: 'file-text' }, h('span', { class: 'file-name' }, p.file ? p.file.name : ''),
          h('span', { class: 'file-size small' }, bytes(p.file && p.file.size))))));
  }
  if (p.kind === 'location') return h('div', { class: 'bubble' }, placeOf(p.latitude, p.longitude, ''));
  return h('div', { class: 'bubble' }, linkify(p.text));
}
