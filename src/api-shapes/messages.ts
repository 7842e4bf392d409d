import { type ReactionSummary, summarizeReactions } from '../domain/reactions.js';
import type { Message, Receipt, ThreadSummary } from '../domain/types.js';

/**
 * The JSON shapes of messages and receipts, exactly as GET /api/v1/messages and the receipts
 * routes answer them and as the WebSocket frames carry them. One definition, so a REST page and
 * a live `message.created` frame of the same message are byte-for-byte the same object.
 */

const iso = (ms: number) => new Date(ms).toISOString();

/** A thread root's summary as clients see it. */
export interface ThreadSummaryJson {
  replyCount: number;
  lastReplyAt: string;
  lastReplyId: string;
}

/**
 * A message as clients see it: the stored fields, with times as ISO-8601 strings, and its
 * reactions summed up per emoji (`me`: the viewer gave it). `editedAt`, `deletedAt`,
 * `reactions`, `replyToId`, `threadId` and `thread` are always present (null / []).
 */
export type MessageJson = Omit<
  Message,
  'createdAt' | 'clientTimestamp' | 'editedAt' | 'deletedAt' | 'reactions' | 'replyToId' | 'threadId' | 'thread'
> & {
  createdAt: string;
  clientTimestamp: string | null;
  editedAt: string | null;
  deletedAt: string | null;
  reactions: ReactionSummary[];
  replyToId: string | null;
  threadId: string | null;
  thread: ThreadSummaryJson | null;
};

const toThreadJson = (thread: ThreadSummary): ThreadSummaryJson => ({
  replyCount: thread.replyCount,
  lastReplyAt: iso(thread.lastReplyAt),
  lastReplyId: thread.lastReplyId,
});

/**
 * `viewerId`: whose `me` the reactions carry. A live frame of a group is one publish for every
 * member, so frames are built with none (`me` false throughout; reaction.updated says who).
 */
export const toMessageJson = (message: Message, viewerId: string | null = null): MessageJson => ({
  id: message.id,
  conversationId: message.conversationId,
  senderId: message.senderId,
  receiverId: message.receiverId,
  groupId: message.groupId,
  content: message.content,
  createdAt: iso(message.createdAt),
  clientTimestamp: message.clientTimestamp == null ? null : iso(message.clientTimestamp),
  status: message.status,
  editedAt: message.editedAt == null ? null : iso(message.editedAt),
  deletedAt: message.deletedAt == null ? null : iso(message.deletedAt),
  reactions: summarizeReactions(message.reactions ?? [], viewerId),
  replyToId: message.replyToId ?? null,
  threadId: message.threadId ?? null,
  thread: message.thread ? toThreadJson(message.thread) : null,
});

/** A participant's watermarks: everything up to `deliveredUpTo` / `readUpTo` (message ids) is delivered / read. */
export interface ReceiptJson {
  conversationId: string;
  userId: string;
  deliveredUpTo: string | null;
  readUpTo: string | null;
}

export const toReceiptJson = (receipt: Receipt): ReceiptJson => ({
  conversationId: receipt.conversationId,
  userId: receipt.userId,
  deliveredUpTo: receipt.deliveredUpTo,
  readUpTo: receipt.readUpTo,
});
