// "read by N" under my messages in a group, from how far each other member has read (the
// room's `readers`, kept current by state.js). It decorates whatever message elements the
// list holds, whenever they change, so it needs nothing from the list's own drawing.

import { h } from '../dom.js';
import { t } from '../i18n.js';

/** How many of the ascending `positions` are at or past `id`. */
function atOrPast(positions, id) {
  let lo = 0;
  let hi = positions.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (positions[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return positions.length - lo;
}

/** Keep "read by N" on my messages in `list`; `roomOf()` gives the open room. */
export function readMarks(list, roomOf) {
  let frame = 0;
  const update = () => {
    frame = 0;
    const room = roomOf();
    if (!room || !room.readers) return;
    const positions = [...room.readers.values()].sort((a, b) => a - b);
    for (const el of list.querySelectorAll('.msg.mine[data-id]')) {
      const meta = el.querySelector(':scope > .meta');
      if (!meta) continue;
      const live = !el.querySelector(':scope > .bubble.gone');
      const n = live ? atOrPast(positions, Number(el.dataset.id)) : 0;
      let mark = meta.querySelector(':scope > .read-by');
      if (!n) {
        if (mark) mark.remove();
        continue;
      }
      const text = t('chat.readBy', { n });
      if (!mark) {
        mark = h('span', { class: 'read-by' });
        meta.append(mark);
      }
      if (mark.textContent !== text) mark.textContent = text;
    }
  };
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(update);
  };
  const observer = new MutationObserver(schedule);
  observer.observe(list, { childList: true, subtree: true });
  schedule();
  return {
    update: schedule,
    destroy() {
      observer.disconnect();
      cancelAnimationFrame(frame);
    },
  };
}
