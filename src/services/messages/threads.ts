import { bucketForMessage } from '../../domain/buckets.js';
import { AppError } from '../../domain/errors.js';
import type { Message, StoredMessage } from '../../domain/types.js';
import type { MessageChangeRepository } from '../../store/message-changes.js';
import type { MessageRepository } from '../../store/messages.js';
import type { ThreadRepository } from '../../store/threads.js';
import type { ConversationEvents, StablePosition } from '../ports.js';
import { type ConversationAccess, fanOutIds } from './access.js';
import { type ChangeStream, changesOfConversation } from './change-stream.js';
import { type CursorQuery, cursorPage } from './paging.js';
import type { ThreadSummaries } from './thread-summaries.js';
import { createTrailingRuns } from './trailing-runs.js';
import type { Conversation } from './types.js';

export interface ThreadQuery extends CursorQuery {
  conversationId: string;
  rootId: string;
}

export interface ThreadPage {
  root: Message;
  messages: Message[];
  /** On `after` pages: replies of this thread below the page's position changed since the cursor. */
  updates: Message[];
  nextCursor: string | null;
  /** As HistoryPage.syncPosition: where to catch up on this thread from next. */
  syncPosition: string | null;
}

/** What a send names: the message it answers and the thread it goes in, both optional. */
export interface ReplyTargets {
  replyToId: string | null;
  threadId: string | null;
}

/**
 * Replies and threads. A reply names a message of its own timeline (`replyToId`: the main history
 * for a main-history message, the root or a reply of the same thread for a thread reply); a
 * thread reply names a root (`threadId`: a main-history message of the same conversation).
 * Replies are stored in thread_messages only, so the main history (pages, the cached window, the
 * inbox's last message and unread count) never shows them; each reply rewrites its root's summary.
 *
 * Checking a target costs one read by primary key (its bucket comes from the id's time); only a
 * refused target costs more (the lookup that explains the refusal).
 */
export function createThreadService(deps: {
  access: Pick<ConversationAccess, 'conversationById' | 'withStatus'>;
  messages: Pick<MessageRepository, 'findById'>;
  threads: Pick<
    ThreadRepository,
    'findById' | 'findMany' | 'page' | 'countReplies' | 'writeReplyCount' | 'writeLastReply' | 'rootOf'
  >;
  changes: Pick<MessageChangeRepository, 'between'>;
  summaries: ThreadSummaries;
  position: StablePosition;
  bucketMs: number;
  changeStream: Pick<ChangeStream, 'record'>;
  events?: ConversationEvents | undefined;
}) {
  const { messages, threads } = deps;
  /** Per root: recounts coalesced so that each reply is counted by one that started after it landed. */
  const recounts = createTrailingRuns<void>();
  const bucketOf = (id: string) => bucketForMessage(id, deps.bucketMs);
  const mainMessage = (conversationId: string, id: string) => messages.findById(conversationId, id, bucketOf(id));

  /** A message of the main history, else the error that says why not (a thread reply, or unknown). */
  async function requireMainMessage(conversationId: string, id: string, role: 'threadId' | 'replyToId') {
    const found = await mainMessage(conversationId, id);
    if (found) return found;
    const root = await threads.rootOf(conversationId, id);
    if (root !== undefined && (await threads.findById(conversationId, root, id, bucketOf(id)))) {
      throw new AppError(
        'CONFLICT',
        role === 'threadId'
          ? `Message ${id} is itself a reply in thread ${root}; threads do not nest: send with threadId ${root}`
          : `Message ${id} is a reply in thread ${root}; answer it in that thread (threadId ${root})`,
      );
    }
    throw new AppError('NOT_FOUND', `Message ${id} does not exist in this conversation`);
  }

  /** The root, or the root's reply, that a thread reply answers; else the error that says why not. */
  async function requireThreadMessage(conversationId: string, rootId: string, id: string): Promise<void> {
    if (id === rootId || (await threads.findById(conversationId, rootId, id, bucketOf(id)))) return;
    const other = await threads.rootOf(conversationId, id);
    const elsewhere =
      other !== undefined ? `thread ${other}` : (await mainMessage(conversationId, id)) && 'the main history';
    if (elsewhere) {
      throw new AppError(
        'CONFLICT',
        `Message ${id} is in ${elsewhere}, not in thread ${rootId}: a thread reply answers messages of its own thread`,
      );
    }
    throw new AppError('NOT_FOUND', `Message ${id} does not exist in this conversation`);
  }

  return {
    /**
     * Checks a send's targets in its conversation (a message of another conversation is not
     * found there: 404, never telling that it exists) and returns the thread's root, if any.
     */
    async resolveTargets(conversationId: string, targets: ReplyTargets): Promise<StoredMessage | undefined> {
      const root =
        targets.threadId === null ? undefined : await requireMainMessage(conversationId, targets.threadId, 'threadId');
      if (targets.replyToId !== null) {
        if (root) await requireThreadMessage(conversationId, root.id, targets.replyToId);
        else await requireMainMessage(conversationId, targets.replyToId, 'replyToId');
      }
      return root;
    },

    /**
     * A reply was stored under `root`: recount the thread, rewrite the root's summary and tell
     * every participant (`message.updated` with the root). Called after the reply is durable;
     * best effort (never fails the send): a summary write that is lost is repaired by the next
     * reply's recount, which counts the whole thread.
     */
    async rootChanged(conversation: Conversation, root: StoredMessage, reply: StoredMessage): Promise<void> {
      const conversationId = conversation.ref.id;
      try {
        const recount = recounts(`${conversationId} ${root.id}`, async () => {
          const replyCount = await threads.countReplies(conversationId, root.id);
          await threads.writeReplyCount(conversationId, root.id, replyCount);
        });
        // The summary writes are the change: in the change stream, so a reconnecting client's
        // after= page of the main history returns the root in `updates` with its new summary.
        await deps.changeStream.record(conversationId, root.id, 'thread', async () => {
          await Promise.all([recount, threads.writeLastReply(conversationId, root.id, reply.id)]);
        });
        // Read back: concurrent replies may have written a higher count than this recount saw.
        const [updated] = await deps.summaries.attach(
          conversationId,
          await deps.access.withStatus(conversation, [root]),
          { fresh: true },
        );
        if (updated) await deps.events?.messageChanged('updated', updated, fanOutIds(conversation)).catch(() => {});
      } catch {
        // Cassandra answered the reply's insert but not this: the next reply's recount repairs it.
      }
    },

    /**
     * A page of a thread's replies, with the same cursor rules as history (paging.ts), and its
     * root with the current summary. Readable by exactly those who may read the conversation.
     */
    async thread(callerId: string, query: ThreadQuery): Promise<ThreadPage> {
      const conversation = await deps.access.conversationById(callerId, query.conversationId);
      const conversationId = conversation.ref.id;
      const root = await mainMessage(conversationId, query.rootId);
      if (!root)
        throw new AppError('NOT_FOUND', `Message ${query.rootId} is not a message of this conversation's main history`);
      const stable = await deps.position.current();
      const { page, changedIds, nextCursor, syncPosition } = await cursorPage(
        query,
        stable,
        (range) => threads.page({ conversationId, rootId: root.id, ...range }),
        { changesOf: changesOfConversation(deps.changes, conversationId) },
      );
      // The change stream is the conversation's: only ids that are replies of this root stay.
      const changed = await threads.findMany(conversationId, root.id, changedIds);
      const from = query.from ?? 0;
      const to = query.to ?? Number.POSITIVE_INFINITY;
      const inRange = changed.filter((reply) => reply.createdAt >= from && reply.createdAt <= to);
      const [[withRoot, ...replies], updates] = await Promise.all([
        deps.access.withStatus(conversation, [root, ...page]),
        deps.access.withStatus(conversation, inRange),
      ]);
      // Fresh, not cached: a client catching up on the thread sees the summary its page matches.
      const [summarized] = withRoot ? await deps.summaries.attach(conversationId, [withRoot], { fresh: true }) : [];
      if (!summarized) throw new AppError('INTERNAL', 'The root vanished while reading its thread');
      return {
        root: summarized,
        messages: replies.map((reply) => ({ ...reply, thread: null })),
        updates: updates.map((reply) => ({ ...reply, thread: null })),
        nextCursor,
        syncPosition,
      };
    },
  };
}

export type ThreadService = ReturnType<typeof createThreadService>;
