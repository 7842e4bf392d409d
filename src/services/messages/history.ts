import { bucketForMessage } from '../../domain/buckets.js';
import type { MessageChangeRepository } from '../../store/message-changes.js';
import type { MessageRepository } from '../../store/messages.js';
import type { StablePosition } from '../ports.js';
import type { ConversationAccess } from './access.js';
import { changesOfConversation } from './change-stream.js';
import { cursorPage, MAX_ID, MIN_ID } from './paging.js';
import type { ThreadSummaries } from './thread-summaries.js';
import type { HistoryPage, HistoryQuery, RecentMessagesCache } from './types.js';

/**
 * Reading a conversation's history: a page by cursor (`before` newest first, `after` oldest
 * first) and time bounds (the rules in paging.ts), the first page from the recent-messages cache
 * when it can answer. Catch-up pages also carry `updates`: the messages below the page's position
 * that changed since the cursor (the change stream, cql/0014). Thread replies are not in it (they
 * live in their thread, threads.ts); the roots on a page carry their thread summary.
 */
export function createHistoryService(deps: {
  access: ConversationAccess;
  messages: Pick<MessageRepository, 'page' | 'findMany'>;
  changes: Pick<MessageChangeRepository, 'between'>;
  position: StablePosition;
  summaries: ThreadSummaries;
  bucketMs: number;
  recent?: RecentMessagesCache | undefined;
}) {
  const { access, messages, recent } = deps;
  const { requireConversation, conversationById, directRef, requirePeerExists, withStatus } = access;

  return {
    async history(callerId: string, query: HistoryQuery): Promise<HistoryPage> {
      const target = query.target;
      const conversation =
        'peerId' in target
          ? await requireConversation(callerId, directRef(callerId, target.peerId))
          : 'groupId' in target
            ? await requireConversation(callerId, { kind: 'group', id: target.groupId, groupId: target.groupId })
            : await conversationById(callerId, target.conversationId);

      // Before the page read: a message (or change) that settles after this read of S is above S.
      const stable = await deps.position.current();
      const conversationId = conversation.ref.id;
      // The window holds the newest N + 1: a first page (plus one) is its newest.
      const firstPage =
        recent && query.limit + 1 <= recent.capacity
          ? (count: number) =>
              recent.newest(conversationId, count, (limit) =>
                messages.page({
                  conversationId,
                  lowId: MIN_ID,
                  highId: MAX_ID,
                  exclude: undefined,
                  order: 'desc',
                  limit,
                }),
              )
          : undefined;
      const { page, changedIds, nextCursor, syncPosition } = await cursorPage(
        query,
        stable,
        (range) => messages.page({ conversationId, ...range }),
        { firstPage, changesOf: changesOfConversation(deps.changes, conversationId) },
      );
      // Main-history rows only: a changed thread reply is not in `messages`, so it is left out
      // here and returned by its thread's catch-up page instead (threads.ts).
      const found = await messages.findMany(conversationId, changedIds, (id) => bucketForMessage(id, deps.bucketMs));
      const from = query.from ?? 0;
      const to = query.to ?? Number.POSITIVE_INFINITY;
      const updates = found.filter((message) => message.createdAt >= from && message.createdAt <= to);
      // Nobody can have written to a user who does not exist, so only an empty page needs to ask.
      if (page.length === 0 && updates.length === 0) await requirePeerExists(callerId, conversation.ref);
      // Page and updates together: one receipts read and one summaries read, not one each.
      const all = await deps.summaries.attach(conversationId, await withStatus(conversation, [...page, ...updates]));
      return { messages: all.slice(0, page.length), updates: all.slice(page.length), nextCursor, syncPosition };
    },
  };
}
