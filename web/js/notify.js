// Browser notifications for new messages while the tab is hidden, once the person allowed
// them (asked from the menu: browsers only ask after a click). Their text is text.

export function supported() {
  return 'Notification' in window;
}

export function permission() {
  return supported() ? Notification.permission : 'denied';
}

export async function ask() {
  if (!supported()) return 'denied';
  try {
    return await Notification.requestPermission();
  } catch {
    return Notification.permission;
  }
}

/** Show one notification (a newer one of the same conversation replaces it). */
export function show(title, body, tag, open) {
  if (permission() !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag });
    n.onclick = () => {
      window.focus();
      open();
      n.close();
    };
  } catch { /* some browsers allow notifications only from a service worker */ }
}
