import type { ConversationRef } from '../../domain/conversations.js';
import type { Message } from '../../domain/types.js';

export type { MembersCache, ReceiptsCache, RecentMessagesCache } from '../ports.js';

/** Where a message goes: exactly one of a user (one-to-one) or a group. */
export type SendTarget = { receiverId: string } | { groupId: string };

export interface SendInput {
  target: SendTarget;
  content: string;
  clientTimestamp: number | null;
  idempotencyKey: string | undefined;
  /** The message this one answers (services/messages/threads.ts says which may be named). */
  replyToId: string | null;
  /** The root of the thread this message goes in; null: the main history. */
  threadId: string | null;
}

export type HistoryTarget = { peerId: string } | { groupId: string } | { conversationId: string };

export interface HistoryQuery {
  target: HistoryTarget;
  limit: number;
  before?: string | undefined;
  /** A message id (exclusive) or a sync cursor (the caller holds every message below its position). */
  after?: HistoryAfter | undefined;
  from?: number | undefined;
  to?: number | undefined;
}

export type HistoryAfter = { id: string } | { below: string };

export interface HistoryPage {
  messages: Message[];
  /**
   * On `after` pages: the current state of messages edited, deleted or reacted to between the
   * cursor and where this page ends, that `messages` does not hold (the change stream). Empty
   * on other pages.
   */
  updates: Message[];
  nextCursor: string | null;
  /**
   * Where to catch up from next (the position, see src/services/sync/): on `after` pages and the
   * newest-first first page; null on other pages.
   */
  syncPosition: string | null;
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
