import type { ConversationRef } from '../../domain/conversations.js';
import type { Message, Receipt, StoredMessage } from '../../domain/types.js';

/** Where a message goes: exactly one of a user (one-to-one) or a group. */
export type SendTarget = { receiverId: string } | { groupId: string };

export interface SendInput {
  target: SendTarget;
  content: string;
  clientTimestamp: number | null;
  idempotencyKey: string | undefined;
}

export type HistoryTarget = { peerId: string } | { groupId: string } | { conversationId: string };

export interface HistoryQuery {
  target: HistoryTarget;
  limit: number;
  before?: string | undefined;
  after?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
}

export interface HistoryPage {
  messages: Message[];
  nextCursor: string | null;
}

/** A conversation the caller takes part in, with everyone in it. */
export interface Conversation {
  ref: ConversationRef;
  /**
   * Everyone in it. Always known for one-to-one conversations; for a group only when resolved
   * with `participants: true` (undefined when only the caller's membership was checked).
   */
  participantIds: string[] | undefined;
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
}

/** Receipts cache: the watermarks of a conversation's participants. */
export interface ReceiptsCache {
  getOrLoad(conversationId: string, load: () => Promise<Receipt[]>): Promise<Receipt[]>;
  /** Write-through after a watermark moved in Cassandra. */
  advance(conversationId: string, userId: string, messageId: string, status: 'delivered' | 'read'): Promise<void>;
}

/** Members cache: the user ids of a group (undefined: no members, i.e. no such group; not cached). */
export interface MembersCache {
  getOrLoad(groupId: string, load: () => Promise<string[] | undefined>): Promise<string[] | undefined>;
}
