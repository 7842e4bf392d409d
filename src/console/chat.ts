import type {
  ConnectionState,
  Conversation,
  GroupMember,
  Message,
  Presence,
  Receipt,
  SwitchboardClient,
  User,
} from '../client/index.js';
import { SwitchboardError } from '../client/index.js';
import { applyReaction, directConversationId, mergeMessages, type ReactionChange } from './timeline.js';

/**
 * The console's view model: what the views show, filled from the SDK's REST calls and its sync
 * loop's events, and the actions the views call. One mutable object and a change signal: the
 * app is small enough that re-rendering it all on each change costs nothing noticeable.
 */
export interface ChatState {
  me: User | undefined;
  connection: ConnectionState;
  conversations: Conversation[];
  /** Main-history messages per conversation, oldest first. */
  messages: Record<string, Message[]>;
  /** The `before` cursor for older messages; null: no more; absent: nothing loaded yet. */
  older: Record<string, string | null>;
  /** The oldest message id history paging reached (what is shown starts there). */
  shownFrom: Record<string, string>;
  /** Replies per thread root, oldest first (loaded when the thread is opened). */
  threads: Record<string, Message[]>;
  /** Others' watermarks per conversation (receipts REST call, then message.status frames). */
  receipts: Record<string, Map<string, Receipt>>;
  members: Record<string, GroupMember[]>;
  presence: Record<string, Presence>;
  /** Who is typing where, until when (epoch ms). */
  typing: Record<string, Record<string, number>>;
  names: Record<string, string>;
  openId: string | undefined;
  threadRootId: string | undefined;
  /** Resuming a stored session (a reload): not yet known whether it is still good. */
  starting: boolean;
  /** The last failure, shown in an alert (cleared by the next action). */
  error: string | undefined;
}

/** How long a `typing` event shows (the protocol has no "stopped typing"). */
const TYPING_SHOWS_MS = 4_000;
/** At most one typing frame this often (the gateway refuses more than one a second). */
const TYPING_EVERY_MS = 1_500;
const PAGE = 30;
/** A user id as the API mints them (ULID); anything else typed into a "who" field is a username. */
const USER_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const fresh = (): ChatState => ({
  me: undefined,
  connection: 'stopped',
  conversations: [],
  messages: {},
  older: {},
  shownFrom: {},
  threads: {},
  receipts: {},
  members: {},
  presence: {},
  typing: {},
  names: {},
  openId: undefined,
  threadRootId: undefined,
  starting: false,
  error: undefined,
});

export function createChat(client: SwitchboardClient) {
  let state = fresh();
  let syncCursor: string | undefined;
  let lastTyping = 0;
  const loadingOlder = new Set<string>();
  const listeners = new Set<() => void>();
  const unsubscribe: Array<() => void> = [];
  const changed = () => {
    for (const listener of listeners) listener();
  };

  /** Runs an action; a failure becomes the alert instead of an unhandled rejection. */
  async function attempt<T>(action: () => Promise<T>): Promise<T | undefined> {
    try {
      state.error = undefined;
      return await action();
    } catch (error) {
      state.error = error instanceof SwitchboardError ? `${error.detail} (${error.code})` : String(error);
      return undefined;
    } finally {
      changed();
    }
  }

  const conversation = (id: string | undefined) => state.conversations.find((c) => c.id === id);
  const myId = () => state.me?.id;

  function upsertConversation(next: Conversation) {
    const rest = state.conversations.filter((c) => c.id !== next.id);
    state.conversations = [next, ...rest].sort((a, b) => activity(b).localeCompare(activity(a)));
  }
  const activity = (c: Conversation) => c.lastMessage?.id ?? '';

  async function ensureName(userId: string) {
    if (state.names[userId]) return;
    state.names[userId] = '…';
    try {
      const { user, presence } = await client.accounts.user(userId);
      state.names[userId] = user.displayName || user.username;
      if (presence) state.presence[userId] = { userId, ...presence };
    } catch {
      state.names[userId] = userId.slice(-6);
    }
    changed();
  }

  /** The inbox: all of it the first time, then only what changed (`changedSince`). */
  async function refreshInbox() {
    const page = await client.conversations.inbox(syncCursor ? { changedSince: syncCursor } : { limit: 100 });
    syncCursor = page.syncCursor;
    state.conversations = state.conversations.filter((c) => !page.left.includes(c.id));
    for (const c of page.conversations) upsertConversation(c);
    const peers = page.conversations.flatMap((c) => (c.peerId ? [c.peerId] : []));
    for (const peer of peers) void ensureName(peer);
    if (peers.length > 0) client.sync.subscribePresence(peers);
    changed();
  }

  function onMessage(message: Message) {
    if (message.threadId) {
      const replies = state.threads[message.threadId];
      if (replies) state.threads[message.threadId] = mergeMessages(replies, [message]);
      changed();
      return;
    }
    const id = message.conversationId;
    state.messages[id] = mergeMessages(state.messages[id] ?? [], [message]);
    void ensureName(message.senderId);
    const known = conversation(id);
    if (!known) {
      void attempt(refreshInbox);
      return;
    }
    const fromOther = message.senderId !== myId();
    const newer = !known.lastMessage || known.lastMessage.id < message.id;
    if (newer) {
      upsertConversation({
        ...known,
        lastMessage: message as Conversation['lastMessage'],
        unreadCount: known.unreadCount + (fromOther && state.openId !== id ? 1 : 0),
      });
    }
    if (fromOther && state.openId === id) void markRead(id);
    changed();
  }

  function onChanged(message: Message) {
    const lists = message.threadId ? state.threads : state.messages;
    const key = message.threadId ?? message.conversationId;
    const list = lists[key];
    if (list) lists[key] = mergeMessages(list, [message]);
    const c = conversation(message.conversationId);
    if (c?.lastMessage?.id === message.id)
      upsertConversation({ ...c, lastMessage: message as Conversation['lastMessage'] });
    changed();
  }

  function onReaction(change: ReactionChange & { conversationId: string }) {
    for (const lists of [state.messages, state.threads]) {
      for (const [key, list] of Object.entries(lists)) {
        if (list.some((m) => m.id === change.messageId)) {
          lists[key] = list.map((m) => (m.id === change.messageId ? applyReaction(m, change, myId()) : m));
        }
      }
    }
    changed();
  }

  function onReceipt(receipt: Receipt) {
    if (receipt.userId === myId()) {
      // Our own read on another device: the badge goes.
      const c = conversation(receipt.conversationId);
      if (c) upsertConversation({ ...c, readUpTo: receipt.readUpTo, unreadCount: 0 });
    } else {
      const map = state.receipts[receipt.conversationId] ?? new Map<string, Receipt>();
      map.set(receipt.userId, receipt);
      state.receipts[receipt.conversationId] = map;
    }
    changed();
  }

  function onTyping(conversationId: string, userId: string) {
    const until = Date.now() + TYPING_SHOWS_MS;
    state.typing[conversationId] = { ...(state.typing[conversationId] ?? {}), [userId]: until };
    setTimeout(changed, TYPING_SHOWS_MS + 50);
    changed();
  }

  function onFrame(type: string, data: unknown) {
    if (type === 'reaction.updated') onReaction(data as ReactionChange & { conversationId: string });
    if (type.startsWith('member.') || type === 'group.updated') {
      const groupId =
        (data as { groupId?: string; group?: { id: string } }).groupId ?? (data as { group: { id: string } }).group.id;
      if (state.members[groupId]) void loadMembers(groupId);
      void attempt(refreshInbox);
    }
  }

  function listen() {
    const sync = client.sync;
    unsubscribe.push(
      sync.on('message', onMessage),
      sync.on('changed', onChanged),
      sync.on('status', onReceipt),
      sync.on('presence', (p) => {
        state.presence[p.userId] = p;
        changed();
      }),
      sync.on('typing', (t) => onTyping(t.conversationId, t.userId)),
      sync.on('event', (frame) => onFrame(frame.type, frame.data)),
      sync.on('connection', (next) => {
        state.connection = next;
        if (next === 'live') void attempt(refreshInbox);
        if (next === 'signed-out') void signOut();
        changed();
      }),
    );
  }

  async function start() {
    const { user } = await client.accounts.me();
    state.me = user;
    state.names[user.id] = user.displayName || user.username;
    listen();
    client.sync.start();
    await refreshInbox();
  }

  async function signOut() {
    for (const off of unsubscribe.splice(0)) off();
    client.sync.stop();
    try {
      await client.accounts.logout();
    } catch {
      // Signed out locally whatever the server says: the tokens are forgotten either way.
    }
    state = fresh();
    syncCursor = undefined;
    changed();
  }

  async function loadOlder(conversationId: string) {
    const before = state.older[conversationId];
    // One page at a time: scroll events fire many times while the first request is out.
    if (before === null || loadingOlder.has(conversationId)) return;
    loadingOlder.add(conversationId);
    try {
      const page = await client.messages.history({ conversationId, limit: PAGE, ...(before ? { before } : {}) });
      state.messages[conversationId] = mergeMessages(state.messages[conversationId] ?? [], page.messages);
      state.older[conversationId] = page.nextCursor;
      const oldest = page.messages.at(-1)?.id; // newest first
      if (oldest) state.shownFrom[conversationId] = oldest;
      for (const m of page.messages) void ensureName(m.senderId);
    } finally {
      loadingOlder.delete(conversationId);
    }
  }

  /** A user by what a person typed: a 26-character id, or else a username. */
  async function findUser(who: string) {
    const { user } = USER_ID.test(who) ? await client.accounts.user(who) : await client.accounts.byUsername(who);
    state.names[user.id] = user.displayName || user.username;
    return user;
  }

  async function loadReceipts(conversationId: string) {
    const { receipts } = await client.conversations.receipts(conversationId);
    state.receipts[conversationId] = new Map(receipts.filter((r) => r.userId !== myId()).map((r) => [r.userId, r]));
  }

  async function loadMembers(groupId: string) {
    const { members } = await client.groups.members(groupId);
    state.members[groupId] = members;
    for (const m of members) void ensureName(m.userId);
    client.sync.subscribePresence(members.map((m) => m.userId).filter((id) => id !== myId()));
    changed();
  }

  /** Moves our read watermark to the newest message of others in the open conversation. */
  async function markRead(conversationId: string) {
    const c = conversation(conversationId);
    const last = [...(state.messages[conversationId] ?? [])].reverse().find((m) => m.senderId !== myId());
    if (!c || !last || (c.readUpTo && c.readUpTo >= last.id)) return;
    upsertConversation({ ...c, readUpTo: last.id, unreadCount: 0 });
    changed();
    await client.sync.markRead(conversationId, last.id);
  }

  async function open(conversationId: string | undefined) {
    state.openId = conversationId;
    state.threadRootId = undefined;
    changed();
    const c = conversation(conversationId);
    if (!conversationId || !c) return;
    if (!(conversationId in state.older)) await loadOlder(conversationId);
    await loadReceipts(conversationId);
    if (c.groupId) await loadMembers(c.groupId);
    await markRead(conversationId);
  }

  /** Where a send to a conversation goes: its peer or its group. */
  function target(conversationId: string) {
    const c = conversation(conversationId);
    if (!c) throw new Error('unknown conversation');
    return c.groupId ? { groupId: c.groupId } : { receiverId: c.peerId ?? '' };
  }

  async function send(
    conversationId: string,
    content: string,
    options: { replyToId?: string; threadId?: string } = {},
  ) {
    const to = target(conversationId);
    const { message } = await client.messages.send({ ...to, content, ...options });
    onMessage(message);
    // Presence is visible only between users who share a conversation (PRESENCE_VISIBILITY=shared):
    // a subscription made before the first message was refused, so ask again now that one exists.
    const peer = 'receiverId' in to ? to.receiverId : undefined;
    if (peer && !state.presence[peer]) client.sync.subscribePresence([peer]);
  }

  const messagePath = (m: Message) => ({ conversationId: m.conversationId, messageId: m.id });

  /** A placeholder inbox row for a conversation the inbox does not list yet (no message in it). */
  function placeholder(id: string, fields: Partial<Conversation>): Conversation {
    return {
      id,
      kind: 'direct',
      groupId: null,
      peerId: null,
      name: null,
      memberCount: null,
      lastMessage: null,
      unreadCount: 0,
      unreadCountCapped: false,
      readUpTo: null,
      deliveredUpTo: null,
      ...fields,
    } as Conversation;
  }

  return {
    get state() {
      return state;
    },
    subscribe(listener: () => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    /** Resumes a stored session. */
    async start() {
      state.starting = true;
      await attempt(start);
      state.starting = false;
      changed();
    },
    signOut,
    async register(username: string, password: string, displayName?: string) {
      await client.accounts.register({ username, password, ...(displayName ? { displayName } : {}) });
      await start();
      changed();
    },
    async login(username: string, password: string) {
      await client.accounts.login({ username, password });
      await start();
      changed();
    },
    open: (id: string | undefined) => attempt(() => open(id)),
    loadOlder: (id: string) => attempt(() => loadOlder(id)),
    send: (id: string, content: string, options?: { replyToId?: string; threadId?: string }) =>
      attempt(() => send(id, content, options)),
    edit: (m: Message, content: string) =>
      attempt(async () => {
        const { message } = await client.call('patch', '/conversations/{conversationId}/messages/{messageId}', {
          path: messagePath(m),
          body: { content },
        });
        onChanged(message);
      }),
    remove: (m: Message) =>
      attempt(async () => {
        const { message } = await client.call('delete', '/conversations/{conversationId}/messages/{messageId}', {
          path: messagePath(m),
        });
        onChanged(message);
      }),
    /** Gives the emoji, or takes it back when we already gave it. */
    react: (m: Message, emoji: string) =>
      attempt(async () => {
        const mine = m.reactions.some((r) => r.emoji === emoji && r.me);
        const path = { ...messagePath(m), emoji };
        const route = '/conversations/{conversationId}/messages/{messageId}/reactions/{emoji}';
        const { message } = mine
          ? await client.call('delete', route, { path })
          : await client.call('put', route, { path });
        onChanged(message);
      }),
    openThread: (root: Message | undefined) =>
      attempt(async () => {
        state.threadRootId = root?.id;
        if (!root) return;
        const page = await client.call('get', '/conversations/{conversationId}/messages/{rootId}/thread', {
          path: { conversationId: root.conversationId, rootId: root.id },
          query: { limit: 100 },
        });
        state.threads[root.id] = mergeMessages([], page.messages);
        onChanged(page.root);
      }),
    typing(conversationId: string) {
      if (Date.now() - lastTyping < TYPING_EVERY_MS) return;
      lastTyping = Date.now();
      client.sync.typing(conversationId);
    },
    /** Opens the one-to-one conversation with a user, by username or id. */
    startDirect: (who: string) =>
      attempt(async () => {
        const me = myId();
        if (!me) return;
        const user = await findUser(who);
        state.names[user.id] = user.displayName || user.username;
        const id = directConversationId(me, user.id);
        if (!conversation(id)) upsertConversation(placeholder(id, { peerId: user.id }));
        client.sync.subscribePresence([user.id]);
        await open(id);
      }),
    createGroup: (name: string, members: string[]) =>
      attempt(async () => {
        const memberIds = await Promise.all(members.map(async (who) => (await findUser(who)).id));
        const { group } = await client.groups.create({ name, memberIds });
        if (!conversation(group.id)) {
          upsertConversation(
            placeholder(group.id, {
              kind: 'group',
              groupId: group.id,
              name: group.name,
              memberCount: group.memberCount,
            }),
          );
        }
        await open(group.id);
      }),
    addMember: (groupId: string, who: string) =>
      attempt(async () => {
        await client.groups.addMember(groupId, (await findUser(who)).id);
        await loadMembers(groupId);
      }),
    removeMember: (groupId: string, userId: string) =>
      attempt(async () => {
        await client.groups.removeMember(groupId, userId);
        await loadMembers(groupId);
      }),
    setRole: (groupId: string, userId: string, role: GroupMember['role']) =>
      attempt(async () => {
        await client.call('patch', '/groups/{groupId}/members/{userId}', { path: { groupId, userId }, body: { role } });
        await loadMembers(groupId);
      }),
    /**
     * The messages to show: from the oldest that history paging reached. The sync loop's
     * catch-up also hands over older ones (a first sync pulls all history); showing them would
     * leave a hole between them and the pages, so they wait until scrolling up reaches them.
     * Before the first page is in, the newest page's worth of what arrived live: all of it made
     * a conversation opened after a burst show its whole burst, then shrink to one page.
     */
    shown(conversationId: string): Message[] {
      const all = state.messages[conversationId] ?? [];
      const from = state.shownFrom[conversationId];
      if (state.older[conversationId] === null) return all;
      return from ? all.filter((m) => m.id >= from) : all.slice(-PAGE);
    },
    /** Who is typing in a conversation now (not us). */
    typingIn(conversationId: string): string[] {
      const now = Date.now();
      return Object.entries(state.typing[conversationId] ?? {})
        .filter(([userId, until]) => until > now && userId !== myId())
        .map(([userId]) => userId);
    },
  };
}

export type Chat = ReturnType<typeof createChat>;
