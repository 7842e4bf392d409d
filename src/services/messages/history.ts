import { bucketForMessage } from '../../domain/buckets.js';
import { idBefore, incrementId, maxUlidAt, minUlidAt } from '../../domain/ids.js';
import type { StoredMessage } from '../../domain/types.js';
import type { MessageChangeRepository } from '../../store/message-changes.js';
import type { MessageRepository } from '../../store/messages.js';
import type { StablePosition } from '../ports.js';
import type { ConversationAccess } from './access.js';
import type { HistoryAfter, HistoryPage, HistoryQuery, RecentMessagesCache } from './types.js';

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
  messages: Pick<MessageRepository, 'page' | 'findMany'>;
  changes: Pick<MessageChangeRepository, 'between'>;
  position: StablePosition;
  bucketMs: number;
  recent?: RecentMessagesCache | undefined;
}) {
  const { access, messages } = deps;
  const { requireConversation, conversationById, directRef, requirePeerExists, withStatus } = access;

  /**
   * The changes of (cursor, upTo] (edits, deletes, reactions of any message: the change stream,
   * cql/0014), at most `limit`. When there are more, the page must end at the last one returned
   * (`cut`): a page of 100 messages could otherwise carry a million reactions' worth of updates.
   */
  async function changesOf(conversationId: string, after: HistoryAfter, upTo: string, limit: number) {
    const low = 'id' in after ? incrementId(after.id) : after.below;
    if (low > upTo) return { messageIds: [], cut: undefined };
    const changes = await deps.changes.between(conversationId, low, upTo, limit + 1);
    const kept = changes.slice(0, limit);
    return {
      messageIds: kept.map((change) => change.messageId),
      cut: changes.length > limit ? kept[kept.length - 1]?.changeId : undefined,
    };
  }

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
      /**
       * The catch-up position after this page: the caller then holds every message, and every
       * change, below it. `end`: the page's last id (message or change) when it was cut short.
       */
      const positionAfter = (end: string | undefined, hasMore: boolean): string | null => {
        if (!ascending) return isFirstPage ? stable : null;
        let below = hasMore && end ? incrementId(end) : stable;
        if (!hasMore && requestedHigh < stable) below = incrementId(requestedHigh);
        // A cursor never moves back (another node's S may trail the one that issued it).
        if ('below' in after && after.below > below) below = after.below;
        return below;
      };

      if (lowId > highId) {
        return { messages: [], updates: [], nextCursor: null, syncPosition: positionAfter(undefined, false) };
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
      let hasMore = stored.length > query.limit;
      let page = stored.slice(0, query.limit);
      let updates: StoredMessage[] = [];
      /** Where the page ends (inclusive) when it is cut short: its last message, or its last change. */
      let end = hasMore ? page[page.length - 1]?.id : undefined;
      if (after !== undefined) {
        const changed = await changesOf(conversationId, after, end ?? highId, query.limit);
        if (changed.cut !== undefined) {
          const cut = changed.cut;
          page = page.filter((message) => message.id <= cut);
          hasMore = true;
          end = cut;
        }
        const onPage = new Set(page.map((message) => message.id));
        const ids = [...new Set(changed.messageIds)].filter((id) => !onPage.has(id));
        const found = await messages.findMany(conversationId, ids, (id) => bucketForMessage(id, deps.bucketMs));
        const from = query.from ?? 0;
        const to = query.to ?? Number.POSITIVE_INFINITY;
        updates = found.filter((message) => message.createdAt >= from && message.createdAt <= to);
      }
      // Nobody can have written to a user who does not exist, so only an empty page needs to ask.
      if (page.length === 0 && updates.length === 0) await requirePeerExists(callerId, conversation.ref);
      const [withStatusPage, withStatusUpdates] = await Promise.all([
        withStatus(conversation, page),
        withStatus(conversation, updates),
      ]);
      return {
        messages: withStatusPage,
        updates: withStatusUpdates,
        nextCursor: hasMore && end ? end : null,
        syncPosition: positionAfter(end, hasMore),
      };
    },
  };
}
