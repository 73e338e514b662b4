// Strings in English and Simplified Chinese. The language comes from the person's choice
// (kept in localStorage), else from the browser; `t(key, vars)` looks a string up and fills
// `{name}` placeholders (values are inserted as text by the callers, never as HTML).

const en = {
  'app.name': 'JIM',
  'app.tagline': 'Chat with your friends',
  'lang.label': 'Language',
  'login.title': 'Sign in',
  'login.submit': 'Sign in',
  'login.toRegister': 'No account yet? Create one',
  'login.captchaNeeded': 'Several attempts failed: type the code in the picture too.',
  'login.failures': 'Wrong user name or password ({n} failed attempts).',
  'register.title': 'Create an account',
  'register.submit': 'Create account',
  'register.toLogin': 'Already have an account? Sign in',
  'register.rules': '3–32 letters, digits, “_”, “.” or “-”, starting with a letter or digit.',
  'register.passwordRules': 'At least 8 characters, with a letter and a digit.',
  'field.username': 'User name',
  'field.password': 'Password',
  'field.confirm': 'Repeat the password',
  'field.nickname': 'Nickname (optional)',
  'field.captcha': 'Code in the picture',
  'captcha.refresh': 'Show another code',
  'captcha.alt': 'Verification code',
  'session.revoked': 'You were signed out: this session was ended.',
  'session.expired': 'Your session has expired. Please sign in again.',
  'tabs.chats': 'Chats',
  'tabs.friends': 'Friends',
  'menu.open': 'Menu',
  'menu.logout': 'Sign out',
  'notify.ask': 'Notify me of new messages',
  'notify.on': 'Notifications are on',
  'notify.off': 'Notifications are off (browser settings)',
  'menu.me': 'Signed in as {name} (ID {id})',
  'conn.online': 'Connected',
  'conn.connecting': 'Connecting…',
  'conn.offline': 'Offline, reconnecting…',
  'chats.empty': 'No conversations yet. Add a friend to start chatting.',
  'chat.placeholder': 'Choose a conversation to start chatting.',
  'chat.compose': 'Write a message',
  'chat.send': 'Send',
  'chat.sending': 'Sending…',
  'chat.failed': 'Not sent',
  'chat.retry': 'Retry',
  'chat.loadingOlder': 'Loading earlier messages…',
  'chat.start': 'This is the beginning of your conversation.',
  'chat.typing': 'typing…',
  'chat.back': 'Back',
  'chat.attach': 'Send a photo',
  'chat.sendPhoto': 'Send photo',
  'chat.cancel': 'Cancel',
  'chat.close': 'Close',
  'chat.photoUnavailable': 'Photo unavailable',
  'chat.openPhoto': 'Open the photo',
  'chat.group': 'Group {id}',
  'chat.world': 'World channel',
  'chat.user': 'User {id}',
  'day.today': 'Today',
  'day.yesterday': 'Yesterday',
  'msg.image': '[Photo]',
  'msg.voice': '[Voice message]',
  'msg.video': '[Video]',
  'msg.location': '[Location]',
  'msg.file': '[File]',
  'msg.sticker': '[Sticker]',
  'msg.unknown': '[Message]',
  'msg.recalled': 'This message was recalled.',
  'msg.deleted': 'This message was deleted.',
  'msg.you': 'You: ',
  'msg.more': 'More',
  'msg.recall': 'Recall',
  'msg.delete': 'Delete for me',
  'friends.search': 'ID or nickname',
  'friends.searchButton': 'Search',
  'friends.results': 'Search results',
  'friends.noResults': 'Nobody found.',
  'friends.add': 'Add',
  'friends.note': 'Say hello (optional)',
  'friends.inviteSend': 'Send invitation',
  'friends.cancel': 'Cancel',
  'friends.invited': 'Invitation sent.',
  'friends.nowFriends': 'You are now friends.',
  'friends.isFriend': 'Friend',
  'friends.received': 'Invitations received',
  'friends.sent': 'Invitations sent',
  'friends.accept': 'Accept',
  'friends.reject': 'Decline',
  'friends.status.0': 'Waiting for an answer',
  'friends.status.1': 'Accepted',
  'friends.status.2': 'Declined',
  'friends.list': 'Friends',
  'groups.new': 'New group',
  'groups.name': 'Group name (optional)',
  'groups.pick': 'Choose friends to invite',
  'groups.create': 'Create group',
  'groups.needFriends': 'Add friends first: a group starts with friends.',
  'groups.members': '{n} members',
  'friends.none': 'No friends yet. Search above to add someone.',
  'friends.noInvites': 'None.',
  'friends.chat': 'Message',
  'friends.note.label': 'Note: {note}',
  'friends.reply.label': 'Reply: {reply}',
  'presence.0': 'offline',
  'presence.1': 'online',
  'presence.2': 'away',
  'presence.3': 'busy',
  'err.generic': 'Something went wrong. Please try again.',
  'err.NETWORK': 'The server cannot be reached. Check your connection.',
  'err.WRONG_CREDENTIALS': 'Wrong user name or password.',
  'err.TOO_MANY_LOGIN_FAILURES': 'Too many failed attempts: this account is locked for a few minutes. Try again later.',
  'err.RATE_LIMITED': 'Too many attempts. Wait a minute and try again.',
  'err.CAPTCHA_ID_EMPTY': 'Type the code in the picture.',
  'err.CAPTCHA_EMPTY': 'Type the code in the picture.',
  'err.CAPTCHA_INVALID': 'The code did not match. Here is a new picture.',
  'err.ACCOUNT_EXISTS': 'This user name is taken.',
  'err.ACCOUNT_DISABLED': 'This account is disabled.',
  'err.ACCOUNT_DELETED': 'This account was deleted.',
  'err.INVALID_USERNAME': 'This user name is not allowed: 3–32 letters, digits, “_”, “.” or “-”.',
  'err.INVALID_PASSWORD': 'The password needs at least 8 characters, with a letter and a digit.',
  'err.CONFIRM_PASSWORD_MISMATCH': 'The two passwords differ.',
  'err.INVALID_NICKNAME': 'This nickname is not allowed.',
  'err.REGISTRATION_CLOSED': 'Registration is closed on this server.',
  'err.NOT_FRIENDS': 'You can only write to friends.',
  'err.ALREADY_FRIENDS': 'You are already friends.',
  'err.INVITE_ALREADY_PENDING': 'An invitation is already waiting for an answer.',
  'err.BLOCKED_BY_TARGET': 'This person does not accept invitations from you.',
  'err.TARGET_BLOCKED': 'You blocked this person.',
  'err.FIND_NICKNAME_TOO_SHORT': 'Type at least 2 characters.',
  'err.INVALID_BODY': 'This message cannot be sent.',
  'err.UNAVAILABLE': 'The server is busy. Please try again.',
  'err.GROUP_MEMBERS_EMPTY': 'Choose at least one friend.',
  'err.RECALL_FAILED': 'This message can no longer be recalled.',
  'err.GROUP_NAME_TOO_LONG': 'The group name is too long.',
  'err.NOT_GROUP_MEMBER': 'You are not a member of this group.',
  'err.GROUP_ALL_MUTED': 'Only admins can write in this group right now.',
  'err.MEMBER_MUTED': 'You are muted in this group.',
  'err.MEDIA_TOO_LARGE': 'This file is too large.',
  'err.MEDIA_TYPE_REFUSED': 'This kind of file cannot be sent here.',
  'err.MEDIA_IMAGE_CORRUPT': 'This picture cannot be read.',
  'err.MEDIA_QUOTA_EXCEEDED': 'Your storage is full.',
};

const zh = {
  'app.name': 'JIM',
  'app.tagline': '和朋友聊天',
  'lang.label': '语言',
  'login.title': '登录',
  'login.submit': '登录',
  'login.toRegister': '还没有账号？注册一个',
  'login.captchaNeeded': '多次登录失败：请同时输入图片中的验证码。',
  'login.failures': '用户名或密码错误（已失败 {n} 次）。',
  'register.title': '注册账号',
  'register.submit': '注册',
  'register.toLogin': '已有账号？去登录',
  'register.rules': '3–32 个字母、数字、“_”、“.”或“-”，以字母或数字开头。',
  'register.passwordRules': '至少 8 个字符，需包含字母和数字。',
  'field.username': '用户名',
  'field.password': '密码',
  'field.confirm': '再次输入密码',
  'field.nickname': '昵称（可选）',
  'field.captcha': '图片中的验证码',
  'captcha.refresh': '换一张',
  'captcha.alt': '验证码',
  'session.revoked': '你已退出登录：此会话已被结束。',
  'session.expired': '登录已过期，请重新登录。',
  'tabs.chats': '消息',
  'tabs.friends': '好友',
  'menu.open': '菜单',
  'menu.logout': '退出登录',
  'notify.ask': '有新消息时通知我',
  'notify.on': '通知已开启',
  'notify.off': '通知已关闭（浏览器设置）',
  'menu.me': '当前账号：{name}（ID {id}）',
  'conn.online': '已连接',
  'conn.connecting': '连接中…',
  'conn.offline': '已离线，正在重连…',
  'chats.empty': '还没有会话。添加好友后开始聊天。',
  'chat.placeholder': '选择一个会话开始聊天。',
  'chat.compose': '输入消息',
  'chat.send': '发送',
  'chat.sending': '发送中…',
  'chat.failed': '发送失败',
  'chat.retry': '重试',
  'chat.loadingOlder': '正在加载更早的消息…',
  'chat.start': '这是你们聊天的开始。',
  'chat.typing': '正在输入…',
  'chat.back': '返回',
  'chat.attach': '发送图片',
  'chat.sendPhoto': '发送图片',
  'chat.cancel': '取消',
  'chat.close': '关闭',
  'chat.photoUnavailable': '图片不可用',
  'chat.openPhoto': '查看大图',
  'chat.group': '群 {id}',
  'chat.world': '世界频道',
  'chat.user': '用户 {id}',
  'day.today': '今天',
  'day.yesterday': '昨天',
  'msg.image': '[图片]',
  'msg.voice': '[语音]',
  'msg.video': '[视频]',
  'msg.location': '[位置]',
  'msg.file': '[文件]',
  'msg.sticker': '[表情]',
  'msg.unknown': '[消息]',
  'msg.recalled': '此消息已撤回。',
  'msg.deleted': '此消息已删除。',
  'msg.you': '我：',
  'msg.more': '更多',
  'msg.recall': '撤回',
  'msg.delete': '仅为我删除',
  'friends.search': 'ID 或昵称',
  'friends.searchButton': '搜索',
  'friends.results': '搜索结果',
  'friends.noResults': '没有找到。',
  'friends.add': '添加',
  'friends.note': '打个招呼（可选）',
  'friends.inviteSend': '发送邀请',
  'friends.cancel': '取消',
  'friends.invited': '邀请已发送。',
  'friends.nowFriends': '你们已经是好友了。',
  'friends.isFriend': '好友',
  'friends.received': '收到的邀请',
  'friends.sent': '发出的邀请',
  'friends.accept': '接受',
  'friends.reject': '拒绝',
  'friends.status.0': '等待回复',
  'friends.status.1': '已接受',
  'friends.status.2': '已拒绝',
  'friends.list': '好友',
  'groups.new': '发起群聊',
  'groups.name': '群名称（可选）',
  'groups.pick': '选择要邀请的好友',
  'groups.create': '创建群聊',
  'groups.needFriends': '先添加好友：群聊从好友开始。',
  'groups.members': '{n} 位成员',
  'friends.none': '还没有好友。在上面搜索并添加。',
  'friends.noInvites': '暂无。',
  'friends.chat': '发消息',
  'friends.note.label': '留言：{note}',
  'friends.reply.label': '回复：{reply}',
  'presence.0': '离线',
  'presence.1': '在线',
  'presence.2': '离开',
  'presence.3': '忙碌',
  'err.generic': '出错了，请重试。',
  'err.NETWORK': '无法连接服务器，请检查网络。',
  'err.WRONG_CREDENTIALS': '用户名或密码错误。',
  'err.TOO_MANY_LOGIN_FAILURES': '失败次数过多：此账号已被锁定几分钟，请稍后再试。',
  'err.RATE_LIMITED': '尝试次数过多，请一分钟后再试。',
  'err.CAPTCHA_ID_EMPTY': '请输入图片中的验证码。',
  'err.CAPTCHA_EMPTY': '请输入图片中的验证码。',
  'err.CAPTCHA_INVALID': '验证码不正确，已换一张新图片。',
  'err.ACCOUNT_EXISTS': '该用户名已被占用。',
  'err.ACCOUNT_DISABLED': '该账号已被停用。',
  'err.ACCOUNT_DELETED': '该账号已被删除。',
  'err.INVALID_USERNAME': '用户名不符合要求：3–32 个字母、数字、“_”、“.”或“-”。',
  'err.INVALID_PASSWORD': '密码至少 8 个字符，需包含字母和数字。',
  'err.CONFIRM_PASSWORD_MISMATCH': '两次输入的密码不一致。',
  'err.INVALID_NICKNAME': '该昵称不可用。',
  'err.REGISTRATION_CLOSED': '本服务器已关闭注册。',
  'err.NOT_FRIENDS': '只能给好友发消息。',
  'err.ALREADY_FRIENDS': '你们已经是好友了。',
  'err.INVITE_ALREADY_PENDING': '已有一条邀请在等待回复。',
  'err.BLOCKED_BY_TARGET': '对方不接受你的邀请。',
  'err.TARGET_BLOCKED': '你已屏蔽此人。',
  'err.FIND_NICKNAME_TOO_SHORT': '请至少输入 2 个字符。',
  'err.INVALID_BODY': '此消息无法发送。',
  'err.UNAVAILABLE': '服务器繁忙，请重试。',
  'err.GROUP_MEMBERS_EMPTY': '请至少选择一位好友。',
  'err.RECALL_FAILED': '此消息已无法撤回。',
  'err.GROUP_NAME_TOO_LONG': '群名称太长。',
  'err.NOT_GROUP_MEMBER': '你不是该群成员。',
  'err.GROUP_ALL_MUTED': '本群当前仅管理员可发言。',
  'err.MEMBER_MUTED': '你在本群已被禁言。',
  'err.MEDIA_TOO_LARGE': '文件太大。',
  'err.MEDIA_TYPE_REFUSED': '不能发送这种文件。',
  'err.MEDIA_IMAGE_CORRUPT': '无法读取这张图片。',
  'err.MEDIA_QUOTA_EXCEEDED': '你的存储空间已满。',
};

export const LANGUAGES = [['en', 'English'], ['zh', '简体中文']];
const DICTS = { en, zh };
const KEY = 'jim.lang';
const listeners = new Set();

function fromBrowser() {
  for (const l of navigator.languages || [navigator.language || 'en']) {
    if (/^zh\b/i.test(l)) return 'zh';
    if (/^en\b/i.test(l)) return 'en';
  }
  return 'en';
}

function stored() {
  try {
    const v = localStorage.getItem(KEY);
    return v in DICTS ? v : null;
  } catch {
    return null;
  }
}

let lang = stored() || fromBrowser();

function apply() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}
apply();

export function getLang() {
  return lang;
}

/** The BCP 47 tag for Intl formatting. */
export function locale() {
  return lang === 'zh' ? 'zh-CN' : 'en';
}

export function setLang(next) {
  if (!(next in DICTS) || next === lang) return;
  lang = next;
  try {
    localStorage.setItem(KEY, next);
  } catch { /* private mode: the choice lasts for this page */ }
  apply();
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function t(key, vars) {
  let s = DICTS[lang][key] ?? en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

/** What to tell a person about a failed request: our words for known codes, else the server's. */
export function errorText(err) {
  const code = err && err.code;
  if (code && `err.${code}` in en) return t(`err.${code}`);
  return (err && err.message) || t('err.generic');
}
