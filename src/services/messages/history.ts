import { idBefore, incrementId, maxUlidAt, minUlidAt } from '../../domain/ids.js';
import type { StoredMessage } from '../../domain/types.js';
import type { MessageRepository } from '../../store/messages.js';
import type { StablePosition } from '../ports.js';
import type { ConversationAccess } from './access.js';
import type { HistoryPage, HistoryQuery, RecentMessagesCache } from './types.js';

const MIN_ID = '00000000000000000000000000';
const MAX_ID = '7ZZZZZZZZZZZZZZZZZZZZZZZZZ';

/**
 * Reading a conversation's history: a page by cursor (`before` newest first, `after` oldest
 * first) and time bounds, the first page from the recent-messages cache when it can answer.
 * Catch-up pages (`after`) return only ids below the stable position S, read before the page:
 * below S every send has settled for good, so what the page does not return now can never
 * appear below its cursor later (src/services/sync/README.md).
 */
export function createHistoryService(deps: {
  access: ConversationAccess;
  messages: Pick<MessageRepository, 'page'>;
  position: StablePosition;
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

      // Before the page read: a message that settles after this read of S is above S.
      const stable = await deps.position.current();
      const after = query.after;
      const ascending = after !== undefined;
      let lowId = query.from === undefined ? MIN_ID : minUlidAt(query.from);
      const requestedHigh = query.to === undefined ? MAX_ID : maxUlidAt(query.to);
      let highId = requestedHigh;
      let exclude: string | undefined;
      if (after !== undefined) {
        if ('id' in after) {
          if (after.id >= lowId) {
            lowId = after.id;
            exclude = after.id;
          }
        } else if (after.below > lowId) {
          lowId = after.below;
        }
        const settled = idBefore(stable);
        if (settled < highId) highId = settled;
      }
      if (query.before !== undefined && query.before <= highId) {
        highId = query.before;
        exclude = query.before;
      }

      const isFirstPage = !ascending && query.before === undefined && query.to === undefined;
      /** The catch-up position after this page: the caller then holds every message below it. */
      const positionAfter = (page: StoredMessage[], hasMore: boolean): string | null => {
        if (!ascending) return isFirstPage ? stable : null;
        const last = page[page.length - 1];
        let below = hasMore && last ? incrementId(last.id) : stable;
        if (!hasMore && requestedHigh < stable) below = incrementId(requestedHigh);
        // A cursor never moves back (another node's S may trail the one that issued it).
        if ('below' in after && after.below > below) below = after.below;
        return below;
      };

      if (lowId > highId) {
        return { messages: [], nextCursor: null, syncPosition: positionAfter([], false) };
      }

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
        syncPosition: positionAfter(page, hasMore),
      };
    },
  };
}
