import type { MessageRepository } from '../../store/messages.js';
import type { StablePosition } from '../ports.js';
import type { ConversationAccess } from './access.js';
import { cursorPage, MAX_ID, MIN_ID } from './paging.js';
import type { ThreadSummaries } from './thread-summaries.js';
import type { HistoryPage, HistoryQuery, RecentMessagesCache } from './types.js';

/**
 * Reading a conversation's history: a page by cursor (`before` newest first, `after` oldest
 * first) and time bounds (the rules in paging.ts), the first page from the recent-messages cache
 * when it can answer. Thread replies are not in it (they live in their thread, threads.ts); the
 * roots on a page carry their thread summary.
 */
export function createHistoryService(deps: {
  access: ConversationAccess;
  messages: Pick<MessageRepository, 'page'>;
  position: StablePosition;
  summaries: ThreadSummaries;
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

      // Before the page read: a message that settles after this read of S is above S.
      const stable = await deps.position.current();
      const conversationId = conversation.ref.id;
      // The window holds the newest N + 1: a first page (plus one) is its newest.
      const fromCache =
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
      const { page, nextCursor, syncPosition } = await cursorPage(
        query,
        stable,
        (range) => messages.page({ conversationId, ...range }),
        fromCache,
      );
      // Nobody can have written to a user who does not exist, so only an empty page needs to ask.
      if (page.length === 0) await requirePeerExists(callerId, conversation.ref);
      return {
        messages: await deps.summaries.attach(conversationId, await withStatus(conversation, page)),
        nextCursor,
        syncPosition,
      };
    },
  };
}
