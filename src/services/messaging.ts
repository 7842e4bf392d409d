import type { ConversationRepository } from '../store/conversations.js';
import type { GroupRepository } from '../store/groups.js';
import type { IdempotencyRepository } from '../store/idempotency.js';
import type { InboxRepository } from '../store/inbox.js';
import type { MessageChangeRepository } from '../store/message-changes.js';
import type { MessageMutationRepository } from '../store/message-mutations.js';
import type { MessageRepository } from '../store/messages.js';
import type { ReceiptRepository } from '../store/receipts.js';
import { messageRows, type ThreadRepository } from '../store/threads.js';
import type { UserRepository } from '../store/users.js';
import { createConversationAccess } from './messages/access.js';
import { createChangeStream } from './messages/change-stream.js';
import { createHistoryService } from './messages/history.js';
import { createInboxService } from './messages/inbox.js';
import { createMutationService } from './messages/mutations.js';
import { createReceiptService } from './messages/receipts.js';
import { createSendService } from './messages/send.js';
import { createThreadSummaries } from './messages/thread-summaries.js';
import { createThreadService } from './messages/threads.js';
import type { MembersCache, ReceiptsCache, RecentMessagesCache } from './messages/types.js';
import type { BlockChecks, ConversationEvents, StablePosition, ThreadSummariesCache } from './ports.js';
import type { SendGuard } from './sync/index.js';

export type { InboxItem, InboxPage, InboxQuery } from './messages/inbox.js';
export { requestHash } from './messages/send.js';
export type { ThreadPage, ThreadQuery } from './messages/threads.js';
export type * from './messages/types.js';

/**
 * Messaging: sending (messages/send.ts), editing, deleting and reacting (messages/mutations.ts),
 * replies and threads (messages/threads.ts), reading history (messages/history.ts), moving
 * delivery/read watermarks (messages/receipts.ts) and the inbox (messages/inbox.ts), over one
 * conversation-access part (messages/access.ts). The edges see one service; each use case lives
 * in its own module.
 */
export function createMessagingService(deps: {
  messages: MessageRepository;
  threads: ThreadRepository;
  /** Edits, deletes and reactions (messages/mutations.ts) and the change stream catch-up pages read. */
  mutations: MessageMutationRepository;
  changes: MessageChangeRepository;
  receipts: ReceiptRepository;
  groups: GroupRepository;
  users: UserRepository;
  idempotency: IdempotencyRepository;
  conversations: ConversationRepository;
  inbox: InboxRepository;
  /** How far before a syncCursor the caller's own changes count (INBOX_OWN_CHANGE_MARGIN_MS). */
  ownChangeMarginMs: number;
  /** Sync cursors (src/services/sync/): the send path's guard and the stable position catch-up reads and the inbox's syncCursor stop at. */
  guard: SendGuard;
  position: StablePosition;
  bucketMs: number;
  events?: ConversationEvents;
  recent?: RecentMessagesCache;
  receiptsCache?: ReceiptsCache;
  membersCache?: MembersCache;
  threadsCache?: ThreadSummariesCache;
  blocks?: Pick<BlockChecks, 'hasBlocked'>;
}) {
  const access = createConversationAccess(deps);
  const summaries = createThreadSummaries(deps);
  const changeStream = createChangeStream(deps);
  const replies = createThreadService({ ...deps, access, summaries, changeStream });
  const rows = messageRows(deps.messages, deps.threads);
  const sending = createSendService({ ...deps, access, replies, summaries, rows });
  const history = createHistoryService({ ...deps, access, summaries });
  const receipts = createReceiptService({ ...deps, access });
  const inbox = createInboxService({ ...deps, access, summaries });
  const mutations = createMutationService({ ...deps, access, changeStream });
  return {
    conversationById: access.conversationById,
    send: sending.send,
    history: history.history,
    thread: replies.thread,
    updateReceipt: receipts.updateReceipt,
    listReceipts: receipts.listReceipts,
    inbox: inbox.inbox,
    editMessage: mutations.edit,
    deleteMessage: mutations.deleteForEveryone,
    react: mutations.react,
    unreact: mutations.unreact,
  };
}

export type MessagingService = ReturnType<typeof createMessagingService>;
