import type { ConversationRef } from '../domain/conversations.js';
import type { Group, GroupMember, Message, Presence, Receipt, StoredMessage, ThreadSummary } from '../domain/types.js';
import type { ReactionUpdate } from '../realtime/events.js';
import type { RealtimeConnection } from '../realtime/hub.js';

/**
 * The contracts between the services, the edges (http, ws), the caches and the real-time layer,
 * in one place. The real-time layer (src/realtime/index.ts) and the caches (src/cache/layer.ts)
 * implement them; the composition root wires them in.
 */

export type { Presence, ReactionUpdate, RealtimeConnection };

/** A watermark move: the participant's receipt before the write (when read) and after it. */
export interface ReceiptChange {
  /** Read before the write; undefined when not read (one-to-one) or the read failed. */
  before: Receipt | undefined;
  after: Receipt;
}

/** Real-time fan-out of what happened in a conversation. Best effort: never fails a request. */
export interface ConversationEvents {
  /**
   * A stored message. `participantIds`: everyone in a one-to-one conversation; empty for a group
   * (a group message is one publish on the group's channel, whatever its size).
   */
  messageCreated(message: Message, participantIds: readonly string[]): Promise<void>;
  /**
   * An existing message changed: edited or deleted for everyone, or (`updated`) a thread root's
   * summary moved (`message` as it now is).
   */
  messageChanged(kind: 'updated' | 'deleted', message: Message, participantIds: readonly string[]): Promise<void>;
  /** A reaction was given or taken back. `groupId`: the message's group, null for one-to-one. */
  reactionUpdated(update: ReactionUpdate, groupId: string | null, participantIds: readonly string[]): Promise<void>;
  /** A participant's watermark moved. `participantIds` as for messageCreated. */
  receiptUpdated(change: ReceiptChange, participantIds: readonly string[]): Promise<void>;
}

/** `written`: the Cassandra write succeeded; `uncertain`: it failed or timed out and may have landed. */
export type MembershipOutcome = 'written' | 'uncertain';

/**
 * Told when membership changes, so real-time subscriptions and caches can follow; told after a
 * failed write too (`uncertain`), so that what landed anyway is still followed.
 */
export interface MembershipListener {
  membershipChanged(
    groupId: string,
    userId: string,
    change: 'joined' | 'left',
    outcome: MembershipOutcome,
  ): Promise<void>;
}

/**
 * Real-time events of a group's settings and members, on the group's channel (and, for member
 * events, the member's own channel: see realtime/fanout.ts). Best effort: never fails a request.
 */
export interface GroupEvents {
  groupUpdated(group: Group): Promise<void>;
  memberAdded(member: GroupMember): Promise<void>;
  memberRemoved(member: GroupMember): Promise<void>;
  memberUpdated(member: GroupMember): Promise<void>;
}

/** Told when a user blocks another, so live presence watches of the blocker end on every node. */
export interface BlockListener {
  blocked(blockerId: string, blockedId: string): Promise<void>;
}

/**
 * Told when a session ends (logout, a reused refresh token) or all of a user's do (log out
 * everywhere: `sessionId` null), so every node re-checks that user's open sockets at once.
 */
export interface SessionListener {
  sessionEnded(userId: string, sessionId: string | null): Promise<void>;
}

/**
 * When the gateway re-checks sockets' sessions: a session of a user ended (`ended`, `sessionId`
 * null for all of them; the node's cached checks of it are stale), or these users' channels had a
 * gap, so such a notice may have been lost (`gap`, possibly every user on the node; cached checks
 * stay: they are at most AUTH_CHECK_CACHE_MS old).
 */
export interface SessionRecheck {
  ended(userId: string, sessionId: string | null): void;
  gap(userIds: ReadonlySet<string>): void;
}

/** Who blocked whom, as the other services ask it (services/blocks.ts answers). */
export interface BlockChecks {
  /** Whether `blockerId` has blocked `blockedId` (cached for at most BLOCK_CHECK_CACHE_MS). */
  hasBlocked(blockerId: string, blockedId: string): Promise<boolean>;
  /** Those of `candidates` who have blocked `userId` (read fresh: one partition, bounded by the list). */
  blockersAmong(userId: string, candidates: readonly string[]): Promise<Set<string>>;
}

/** Reads presence for the HTTP API. */
export interface PresenceReader {
  /** Rejects with UNAVAILABLE when Redis cannot answer. */
  presenceOf(userIds: readonly string[]): Promise<Presence[]>;
}

/** What the WebSocket gateway needs of the real-time layer. */
export interface RealtimeGateway {
  /**
   * Adds a connection: subscribes what its user needs and marks them online. Resolves once the
   * subscriptions are live, so a client told `ready` afterwards misses nothing newer. Rejects
   * when the user's groups cannot be read (the caller closes the connection).
   */
  register(connection: RealtimeConnection): Promise<void>;
  /** Removes a connection (idempotent); the user goes offline if it was their last. */
  unregister(connection: RealtimeConnection): Promise<void>;
  /** Relays "typing" to the conversation's other participants. The caller checked membership. */
  typing(conversation: ConversationRef, userId: string): Promise<void>;
  /** Starts presence events of these users for the connection (current state first). */
  watchPresence(connection: RealtimeConnection, userIds: readonly string[]): Promise<void>;
  /** Stops presence events of these users for the connection. */
  unwatchPresence(connection: RealtimeConnection, userIds: readonly string[]): void;
  /** Live connections of a user on every node (rejects when Redis does). */
  liveConnections(userId: string): Promise<number>;
  /** Calls `recheck` whenever a user's sockets here must verify their session again. */
  onSessionRecheck(recheck: SessionRecheck): void;
}

/**
 * The read-through caches (Redis), see src/cache/README.md for what they guarantee. Every method
 * is best effort: it never rejects because of Redis (only when `load`, i.e. Cassandra, does), and
 * concurrent misses of one key share one `load`.
 */
export interface RecentMessagesCache {
  /** The most messages `newest` may be asked for (N + 1). */
  readonly capacity: number;
  /** The newest `count` messages, newest first; on a miss `load(limit)` reads Cassandra's newest. */
  newest(
    conversationId: string,
    count: number,
    load: (limit: number) => Promise<StoredMessage[]>,
  ): Promise<StoredMessage[]>;
  /** Write-through after the message is durable in Cassandra. */
  append(message: StoredMessage): Promise<void>;
  /** After a change to an existing message is durable: drop the conversation's window. */
  forget(conversationId: string): Promise<void>;
}

/** Receipts cache: the watermarks of a conversation's participants. */
export interface ReceiptsCache {
  getOrLoad(conversationId: string, load: () => Promise<Receipt[]>): Promise<Receipt[]>;
  /** Write-through after a watermark moved in Cassandra. */
  advance(conversationId: string, userId: string, messageId: string, status: 'delivered' | 'read'): Promise<void>;
}

/** Thread summaries of a conversation's fixed window (domain/threads.ts): every root there with replies. */
export interface ThreadSummariesCache {
  getOrLoad(
    conversationId: string,
    window: number,
    load: () => Promise<Map<string, ThreadSummary>>,
  ): Promise<Map<string, ThreadSummary>>;
}

/** Members cache: the user ids of a group (undefined: no members, i.e. no such group; not cached). */
export interface MembersCache {
  getOrLoad(groupId: string, load: () => Promise<string[] | undefined>): Promise<string[] | undefined>;
}

/**
 * The stable position of the message stream (issue #13's sync cursors): an id S such that every
 * message whose id sorts below S has settled for good, stored or aborted, on every live node, and
 * no message will ever again be stored with an id below S. Catch-up pages (`after=`) return only
 * ids below it, so a client that stores a cursor at S and later asks from there misses nothing.
 * Implemented in src/services/sync/ (see its README for the argument).
 */
export interface StablePosition {
  /** The current S on this node (monotonic: never lower than an S it answered before). */
  current(): Promise<string>;
}
