// Times and message previews, in the person's language.

import { locale, t } from './i18n.js';

function startOfDay(ms) {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

const DAY = 86400000;

/** "Today", "Yesterday" or a date: the label of a day separator. */
export function dayLabel(ms) {
  const today = startOfDay(Date.now());
  const day = startOfDay(ms);
  if (day === today) return t('day.today');
  if (day === today - DAY) return t('day.yesterday');
  const sameYear = new Date(ms).getFullYear() === new Date().getFullYear();
  return new Intl.DateTimeFormat(locale(), {
    year: sameYear ? undefined : 'numeric', month: 'long', day: 'numeric', weekday: 'short',
  }).format(ms);
}

export function sameDay(a, b) {
  return startOfDay(a) === startOfDay(b);
}

export function clock(ms) {
  return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit' }).format(ms);
}

/** The time of a conversation's last message: the hour today, else a short date. */
export function listTime(ms) {
  if (!ms) return '';
  const today = startOfDay(Date.now());
  if (ms >= today) return clock(ms);
  if (ms >= today - DAY) return t('day.yesterday');
  return new Intl.DateTimeFormat(locale(), { month: 'numeric', day: 'numeric' }).format(ms);
}

/** The words standing for a message that is not text, by message type. */
export const KIND = { 2: 'msg.image', 3: 'msg.voice', 4: 'msg.video', 5: 'msg.location', 6: 'msg.file', 7: 'msg.sticker' };

/** One line of text standing for a message (conversation list, notifications). */
export function preview(m) {
  if (!m) return '';
  if (m.status === 3) return t('msg.recalled');
  if (m.status === 2) return t('msg.deleted');
  if (m.type === 1) return String((m.body && m.body.text) || '').replace(/\s+/g, ' ');
  return t(KIND[m.type] || 'msg.unknown');
}
