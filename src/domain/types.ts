/** Domain shapes shared by services, HTTP and WebSocket layers. Times are epoch milliseconds. */

export interface User {
  id: string;
  username: string;
  displayName: string;
  createdAt: number;
}

export interface Group {
  id: string;
  name: string;
  ownerId: string;
  /** Free text set by the owner or an admin; null until set (and after it is cleared). */
  description: string | null;
  createdAt: number;
  memberCount: number;
}

/** owner: exactly one per group; admin: manages members and settings; member: reads, sends, leaves. */
export type MemberRole = 'owner' | 'admin' | 'member';

export interface GroupMember {
  groupId: string;
  userId: string;
  role: MemberRole;
  joinedAt: number;
}

export type MessageStatus = 'sent' | 'delivered' | 'read';

/**
 * One user's reaction to a message, as stored (one map cell each): `at` is the change id that
 * added it, so a message lists its emoji in the order they were first given.
 */
export interface StoredReaction {
  emoji: string;
  userId: string;
  at: string;
}

/**
 * A stored message. `createdAt` is the time inside its ULID id. The mutation fields (issue 16)
 * are optional so that code building a fresh message need not spell them: undefined reads as
 * "never edited, not deleted, no reactions". A message deleted for everyone has `deletedAt` and
 * `content: null`.
 */
export interface StoredMessage {
  id: string;
  conversationId: string;
  senderId: string;
  receiverId: string | null;
  groupId: string | null;
  content: string | null;
  createdAt: number;
  clientTimestamp: number | null;
  editedAt?: number | null;
  deletedAt?: number | null;
  reactions?: StoredReaction[];
  /**
   * The message this one answers (same conversation, same timeline: main history or the same
   * thread). Optional so fixtures and rows of earlier releases need not spell it: unset = null.
   */
  replyToId?: string | null;
  /** The root of the thread this message is a reply in; unset or null for main-history messages. */
  threadId?: string | null;
}

/** A thread root's replies at a glance (src/services/messages/threads.ts). */
export interface ThreadSummary {
  replyCount: number;
  /** Epoch ms: the time inside lastReplyId. */
  lastReplyAt: number;
  lastReplyId: string;
}

export interface Message extends StoredMessage {
  status: MessageStatus;
  /** The thread under this message, when it has replies; unset or null when it has none. */
  thread?: ThreadSummary | null;
}

/** A participant's position in a conversation: everything up to these ids is delivered / read. */
export interface Receipt {
  conversationId: string;
  userId: string;
  deliveredUpTo: string | null;
  readUpTo: string | null;
}

/** A user's presence: online while one of their connections is live on some node. */
export interface Presence {
  userId: string;
  status: 'online' | 'offline';
  /** Epoch ms; null while online or when never seen. */
  lastSeenAt: number | null;
}
