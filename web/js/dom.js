// Building elements. User content only ever goes in as text: h() turns strings into text
// nodes and has no way to set innerHTML; links are made by safeLink() (http/https only).

import { avatarMediaId, urlsOf } from './media.js';

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'href' && /^#\//.test(v)) el.setAttribute('href', v); // routes in this page
    else if (k === 'innerHTML' || k === 'outerHTML' || k === 'href' || k === 'src' || k === 'style') {
      throw new Error(`h(): set ${k} explicitly`);
    } else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An <a> to an http(s) URL, opened in a new tab without giving it this page; else null. */
export function safeLink(raw, label) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  const a = document.createElement('a');
  a.href = url.href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer nofollow';
  a.textContent = label ?? raw;
  return a;
}

const URL_RE = /\bhttps?:\/\/[^\s<>"'\u3000-\u303f\uff01-\uff5e]+/gi;

/** Text as nodes, with http(s) URLs as links (trailing punctuation stays text). */
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0];
    const trail = url.match(/[.,;:!?)\]}]+$/);
    if (trail) url = url.slice(0, -trail[0].length);
    const link = safeLink(url);
    if (!link) continue;
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    out.push(link);
    last = m.index + url.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/**
 * A round badge with the first letter of a name, coloured by id; when `picture` is an avatar
 * uploaded here, the picture covers it once its signed URL is known (the letter stays when
 * there is none, or it fails to load). Pictures elsewhere are not fetched: the page's
 * Content-Security-Policy keeps images to this server.
 */
export function avatar(name, id, size, picture) {
  const letter = (Array.from((name || '?').trim())[0] || '?').toUpperCase();
  const hue = (Number(id) * 137) % 360;
  const el = h('span', {
    class: `avatar${size ? ` avatar-${size}` : ''}`,
    'aria-hidden': 'true',
    dataset: { hue: String(Math.floor(hue / 30)) },
  }, letter);
  const mediaId = avatarMediaId(picture);
  if (mediaId) {
    urlsOf(mediaId).then((urls) => {
      if (!urls) return;
      const img = h('img', { class: 'avatar-img', alt: '' });
      img.addEventListener('error', () => img.remove());
      img.src = urls.url;
      el.append(img);
      el.classList.add('has-picture');
    });
  }
  return el;
}
