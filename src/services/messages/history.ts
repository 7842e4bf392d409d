import { maxUlidAt, minUlidAt } from '../../domain/ids.js';
import type { StoredMessage } from '../../domain/types.js';
import type { MessageRepository } from '../../store/messages.js';
import type { ConversationAccess } from './access.js';
import type { HistoryPage, HistoryQuery, RecentMessagesCache } from './types.js';

const MIN_ID = '00000000000000000000000000';
const MAX_ID = '7ZZZZZZZZZZZZZZZZZZZZZZZZZ';

/**
 * Reading a conversation's history: a page by cursor (`before` newest first, `after` oldest
 * first) and time bounds, the first page from the recent-messages cache when it can answer.
 */
export function createHistoryService(deps: {
  access: ConversationAccess;
  messages: Pick<MessageRepository, 'page'>;
  recent?: RecentMessagesCache | undefined;
}) {
  const { access, messages } = deps;
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

      const ascending = query.after !== undefined;
      let lowId = query.from === undefined ? MIN_ID : minUlidAt(query.from);
      let highId = query.to === undefined ? MAX_ID : maxUlidAt(query.to);
      let exclude: string | undefined;
      if (query.after !== undefined && query.after >= lowId) {
        lowId = query.after;
        exclude = query.after;
      }
      if (query.before !== undefined && query.before <= highId) {
        highId = query.before;
        exclude = query.before;
      }
      if (lowId > highId) return { messages: [], nextCursor: null };

      const isFirstPage = !ascending && query.before === undefined && query.to === undefined;
      const conversationId = conversation.ref.id;
      let stored: StoredMessage[];
      if (isFirstPage && deps.recent && query.limit + 1 <= deps.recent.capacity) {
        // The window holds the newest N + 1: the page (plus one to know whether more exist) is
        // its newest, with any `from` bound applied to it exactly as Cassandra would.
        const newest = await deps.recent.newest(conversationId, query.limit + 1, (limit) =>
          messages.page({ conversationId, lowId: MIN_ID, highId: MAX_ID, exclude: undefined, order: 'desc', limit }),
        );
        stored = newest.filter((message) => message.id >= lowId);
      } else {
        stored = await messages.page({
          conversationId,
          lowId,
          highId,
          exclude,
          order: ascending ? 'asc' : 'desc',
          limit: query.limit + 1,
        });
      }
      const hasMore = stored.length > query.limit;
      const page = stored.slice(0, query.limit);
      const last = page[page.length - 1];
      // Nobody can have written to a user who does not exist, so only an empty page needs to ask.
      if (page.length === 0) await requirePeerExists(callerId, conversation.ref);
      return {
        messages: await withStatus(conversation, page),
        nextCursor: hasMore && last ? last.id : null,
      };
    },
  };
}
