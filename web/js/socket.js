// The one WebSocket of this tab. It connects with `?catch_up=1` and sends `catch_up` (the
// last message id it has of every conversation) as its first frame, so the server sends what
// was missed, in order, before anything newer. It reconnects by itself with a growing,
// jittered delay (at once when the browser comes back online), and notices a dead link by
// the silence after its own pings.

import { getToken } from './api.js';

const PING_EVERY = 20000;
const SILENCE_LIMIT = 45000;
const MAX_ITEMS = 500; // conversations per catch_up frame (the server's bound)

let ws = null;
let running = false;
let attempt = 0;
let retryTimer = 0;
let pingTimer = 0;
let lastFrameAt = 0;
let everOpened = false;
let hooks = {
  catchUpItems: () => [],
  frame: () => {},
  status: () => {},
  opened: () => {},
  kicked: () => {},
  refused: () => {},
};

export function configure(h) {
  hooks = { ...hooks, ...h };
}

export function start() {
  if (running) return;
  running = true;
  attempt = 0;
  open();
}

export function stop() {
  running = false;
  clearTimeout(retryTimer);
  clearInterval(pingTimer);
  if (ws) {
    const old = ws;
    ws = null;
    old.onclose = null;
    old.close(1000);
  }
  hooks.status('offline');
}

export function isOpen() {
  return !!ws && ws.readyState === WebSocket.OPEN;
}

/** Send a frame now; false when there is no open socket (the caller falls back to REST). */
export function send(type, data) {
  if (!isOpen()) return false;
  ws.send(JSON.stringify({ type, data }));
  return true;
}

/** Ask for what follows `items` [{session_type, target_id, last_message_id}]. */
export function catchUp(items) {
  if (!isOpen()) return false;
  for (let i = 0; i < items.length || i === 0; i += MAX_ITEMS) {
    send('catch_up', { conversations: items.slice(i, i + MAX_ITEMS) });
  }
  return true;
}

function open() {
  clearTimeout(retryTimer);
  const token = getToken();
  if (!running || !token) return;
  const url = new URL('/api/v1/ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('token', token);
  url.searchParams.set('catch_up', '1');
  hooks.status('connecting');
  let opened = false;
  const sock = new WebSocket(url);
  ws = sock;
  sock.onopen = () => {
    if (ws !== sock) return;
    opened = true;
    everOpened = true;
    lastFrameAt = Date.now();
    // The promised first frame: live pushes wait until it is answered.
    catchUp(hooks.catchUpItems());
    hooks.status('online');
    clearInterval(pingTimer);
    pingTimer = setInterval(heartbeat, PING_EVERY / 4);
    hooks.opened();
  };
  sock.onmessage = (ev) => {
    if (ws !== sock) return;
    lastFrameAt = Date.now();
    attempt = 0;
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (frame && typeof frame.type === 'string') hooks.frame(frame);
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    ws = null;
    clearInterval(pingTimer);
    if (ev.code === 4001) {
      running = false;
      hooks.kicked();
      return;
    }
    hooks.status('offline');
    // Never upgraded: the token may be refused (401 before the upgrade looks like a network
    // failure to a page); let the owner check it over HTTP.
    if (!opened) hooks.refused(everOpened);
    schedule();
  };
}

let lastPingAt = 0;
function heartbeat() {
  if (!isOpen()) return;
  const now = Date.now();
  if (now - lastFrameAt > SILENCE_LIMIT) {
    ws.close(4000, 'silent');
    return;
  }
  if (now - lastPingAt >= PING_EVERY) {
    lastPingAt = now;
    send('ping', {});
  }
}

function schedule() {
  if (!running) return;
  clearTimeout(retryTimer);
  const base = Math.min(15000, 500 * 2 ** attempt);
  attempt = Math.min(attempt + 1, 10);
  const delay = navigator.onLine === false ? 30000 : base / 2 + Math.random() * (base / 2);
  retryTimer = setTimeout(open, delay);
}

window.addEventListener('online', () => {
  if (running && !ws) {
    attempt = 0;
    open();
  }
});
window.addEventListener('offline', () => {
  // The old link may linger without telling; start over once the network is back.
  if (ws) ws.close(4000, 'offline');
});
