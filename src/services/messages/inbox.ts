import { parseConversationId } from '../../domain/conversations.js';
import {
  changeBounds,
  changedSince,
  type InboxEntry,
  type InboxPosition,
  inboxPage,
  leftSince,
  UNREAD_EXACT_UP_TO,
  unreadCount,
} from '../../domain/inbox.js';
import { encodePageCursor, encodeSyncCursor, type PageCursor } from '../../domain/inbox-cursors.js';
import type { Message, StoredMessage } from '../../domain/types.js';
import type { ConversationRepository } from '../../store/conversations.js';
import type { GroupRepository } from '../../store/groups.js';
import type { InboxRepository } from '../../store/inbox.js';
import type { MessageRepository } from '../../store/messages.js';
import type { ReceiptRepository } from '../../store/receipts.js';
import type { StablePosition } from '../ports.js';
import type { ConversationAccess } from './access.js';
import type { ThreadSummaries } from './thread-summaries.js';

const MIN_ID = '00000000000000000000000000';
const MAX_ID = '7ZZZZZZZZZZZZZZZZZZZZZZZZZ';

/**
 * The unread scan reads newest first in chunks of this many rows: one more than the exact range
 * of a count (99) plus one, so a conversation where nobody else wrote more than 99 unread
 * messages is settled by the first chunk.
 */
const UNREAD_CHUNK = 101;
/**
 * The most rows one unread count reads. Without a bound, a caller who wrote thousands of messages
 * since their read watermark (a bot, a bulk import) makes every inbox read scan all of them;
 * past it the count is "at least" (unreadCountCapped).
 */
const UNREAD_SCAN_ROWS = 1000;
/** Page items are resolved this many at a time (each is a few reads): a page of 100 must not take the whole pool. */
const DETAIL_CONCURRENCY = 16;

export interface InboxQuery {
  limit: number;
  /** A decoded nextCursor: the listing it continues (its sync position and changedSince) and where. */
  cursor?: PageCursor | undefined;
  /** A decoded syncCursor: only conversations that changed since. */
  changedSince?: string | undefined;
}

export interface InboxItem {
  conversationId: string;
  kind: 'direct' | 'group';
  peerId: string | null;
  groupId: string | null;
  name: string | null;
  memberCount: number | null;
  lastMessage: Message | null;
  unreadCount: number;
  unreadCountCapped: boolean;
  deliveredUpTo: string | null;
  readUpTo: string | null;
}

export interface InboxPage {
  conversations: InboxItem[];
  /** With changedSince (first page only): groups the caller left since, to drop. */
  left: string[];
  nextCursor: string | null;
  syncCursor: string;
}

/**
 * The inbox (GET /conversations): the caller's conversations by last activity with their last
 * message, unread count and watermarks, and `changedSince` for a reconnecting client. Cost and
 * argument in docs/data-model.md ("The inbox").
 */
export function createInboxService(deps: {
  access: Pick<ConversationAccess, 'withStatus'>;
  conversations: Pick<ConversationRepository, 'listDirect'>;
  groups: Pick<GroupRepository, 'listGroupIdsOfUser' | 'findById' | 'countMembers'>;
  inbox: Pick<InboxRepository, 'activity' | 'changesOf'>;
  messages: Pick<MessageRepository, 'page'>;
  receipts: Pick<ReceiptRepository, 'find'>;
  position: StablePosition;
  ownChangeMarginMs: number;
  summaries: ThreadSummaries;
}) {
  const { messages } = deps;

  /** The caller's conversations (two partition reads), their activity and the caller's own changes. */
  async function entriesOf(callerId: string) {
    const [direct, groupIds, changes] = await Promise.all([
      deps.conversations.listDirect(callerId),
      deps.groups.listGroupIdsOfUser(callerId),
      deps.inbox.changesOf(callerId),
    ]);
    const ids = [...direct.map((entry) => entry.conversationId), ...groupIds];
    const activity = await deps.inbox.activity(ids);
    const entry = (conversationId: string, fields: Pick<InboxEntry, 'kind' | 'peerId' | 'groupId'>): InboxEntry => ({
      conversationId,
      ...fields,
      lastMessageId: activity.get(conversationId)?.lastMessageId,
      lastChangeId: activity.get(conversationId)?.lastChangeId,
      ownChange: changes.get(conversationId),
    });
    const entries = [
      ...direct.map((row) => entry(row.conversationId, { kind: 'direct', peerId: row.peerId, groupId: null })),
      ...groupIds.map((groupId) => entry(groupId, { kind: 'group', peerId: null, groupId })),
    ];
    return { entries, changes, groupIds: new Set(groupIds) };
  }

  /**
   * The messages of others after the caller's read watermark, counted newest first in chunks,
   * and the newest message after it (the conversation's last message, when there is one).
   */
  async function unreadAfter(conversationId: string, callerId: string, readUpTo: string | null) {
    let newest: StoredMessage | undefined;
    let others = 0;
    let scanned = 0;
    let highId = MAX_ID;
    let exclude: string | undefined;
    for (;;) {
      const rows = await messages.page({
        conversationId,
        lowId: readUpTo ?? MIN_ID,
        highId,
        exclude,
        order: 'desc',
        limit: UNREAD_CHUNK,
      });
      // The range is inclusive: the watermark's own message is read, not unread.
      const unread = readUpTo === null ? rows : rows.filter((message) => message.id > readUpTo);
      newest ??= unread[0];
      for (const message of unread) {
        if (message.senderId !== callerId) others++;
        // One past the exact range decides "capped": no need to read further.
        if (others > UNREAD_EXACT_UP_TO) return { newest, ...unreadCount(others, true) };
      }
      scanned += unread.length;
      const last = rows[rows.length - 1];
      const complete = rows.length < UNREAD_CHUNK || unread.length < rows.length || !last;
      if (complete || scanned >= UNREAD_SCAN_ROWS) return { newest, ...unreadCount(others, complete) };
      highId = last.id;
      exclude = last.id;
    }
  }

  async function newestMessage(conversationId: string): Promise<StoredMessage | undefined> {
    const [newest] = await messages.page({
      conversationId,
      lowId: MIN_ID,
      highId: MAX_ID,
      exclude: undefined,
      order: 'desc',
      limit: 1,
    });
    return newest;
  }

  /** One page item: the caller's watermarks, the unread count, the last message with its status, group facts. */
  async function detail(callerId: string, entry: InboxEntry): Promise<InboxItem> {
    const group = entry.groupId;
    const [receipt, record, memberCount] = await Promise.all([
      deps.receipts.find(entry.conversationId, callerId),
      group ? deps.groups.findById(group) : undefined,
      group ? deps.groups.countMembers(group) : null,
    ]);
    const unread = await unreadAfter(entry.conversationId, callerId, receipt.readUpTo);
    // Nothing after the watermark: the last message is at or before it (or there is none).
    const newest = unread.newest ?? (await newestMessage(entry.conversationId));
    const ref = parseConversationId(entry.conversationId);
    const withStatus =
      newest && ref
        ? await deps.access.withStatus({ ref, participantIds: ref.kind === 'direct' ? [...ref.userIds] : undefined }, [
            newest,
          ])
        : [];
    // A root's thread summary, as on history pages (one read, only when there is a last message).
    const [lastMessage] = await deps.summaries.attach(entry.conversationId, withStatus);
    return {
      conversationId: entry.conversationId,
      kind: entry.kind,
      peerId: entry.peerId,
      groupId: entry.groupId,
      name: record?.name ?? null,
      memberCount,
      lastMessage: lastMessage ?? null,
      unreadCount: unread.unreadCount,
      unreadCountCapped: unread.unreadCountCapped,
      deliveredUpTo: receipt.deliveredUpTo,
      readUpTo: receipt.readUpTo,
    };
  }

  async function details(callerId: string, page: InboxEntry[]): Promise<InboxItem[]> {
    const items: InboxItem[] = [];
    for (let i = 0; i < page.length; i += DETAIL_CONCURRENCY) {
      items.push(...(await Promise.all(page.slice(i, i + DETAIL_CONCURRENCY).map((entry) => detail(callerId, entry)))));
    }
    return items;
  }

  return {
    async inbox(callerId: string, query: InboxQuery): Promise<InboxPage> {
      // The sync position is read before anything else: a change the reads below miss is then at
      // or above it, and the next changedSince reports it. Later pages keep the first page's.
      const sync = query.cursor?.sync ?? (await deps.position.current());
      const since = query.cursor ? query.cursor.changedSince : query.changedSince;
      const { entries, changes, groupIds } = await entriesOf(callerId);
      const bounds = since === undefined ? undefined : changeBounds(since, deps.ownChangeMarginMs);
      const listed = bounds ? entries.filter((entry) => changedSince(entry, bounds)) : entries;
      const after: InboxPosition | undefined = query.cursor?.after;
      const { page, next } = inboxPage(listed, after, query.limit);
      const isGroup = (id: string) => parseConversationId(id)?.kind === 'group';
      return {
        conversations: await details(callerId, page),
        left: bounds && !query.cursor ? leftSince(changes, groupIds, bounds, isGroup) : [],
        nextCursor: next ? encodePageCursor({ sync, changedSince: since, after: next }) : null,
        syncCursor: encodeSyncCursor(sync),
      };
    },
  };
}

export type InboxService = ReturnType<typeof createInboxService>;
