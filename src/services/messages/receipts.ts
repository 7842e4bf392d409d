import { bucketForMessage } from '../../domain/buckets.js';
import { AppError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import type { Receipt } from '../../domain/types.js';
import type { InboxRepository } from '../../store/inbox.js';
import type { MessageRepository } from '../../store/messages.js';
import type { ReceiptRepository } from '../../store/receipts.js';
import type { ConversationEvents } from '../ports.js';
import { type ConversationAccess, fanOutIds, MEMBERSHIP_ONLY } from './access.js';
import type { ReceiptsCache } from './types.js';

/**
 * Delivery and read watermarks: moving the caller's (never backwards: Cassandra keeps the
 * highest id) and listing every participant's.
 */
export function createReceiptService(deps: {
  access: ConversationAccess;
  messages: Pick<MessageRepository, 'findById'>;
  receipts: Pick<ReceiptRepository, 'find' | 'advance'>;
  inbox: Pick<InboxRepository, 'recordChange'>;
  bucketMs: number;
  events?: ConversationEvents | undefined;
  receiptsCache?: ReceiptsCache | undefined;
}) {
  const { access, messages, receipts } = deps;
  const { conversationById, requirePeerExists, receiptsOf } = access;
  const bucketOf = (message: { id: string }) => bucketForMessage(message.id, deps.bucketMs);

  return {
    async updateReceipt(
      callerId: string,
      conversationId: string,
      input: { messageId: string; status: 'delivered' | 'read' },
    ): Promise<Receipt> {
      const conversation = await conversationById(callerId, conversationId, MEMBERSHIP_ONLY);
      const message = await messages.findById(conversation.ref.id, input.messageId, bucketOf({ id: input.messageId }));
      if (!message) throw new AppError('NOT_FOUND', `Message ${input.messageId} is not in this conversation`);
      // A group receipt is addressed by what it moves (realtime/fanout.ts): the watermark before the write.
      const before =
        deps.events && conversation.ref.kind === 'group'
          ? await receipts.find(conversation.ref.id, callerId).catch(() => undefined)
          : undefined;
      // The caller's inbox change first (their other devices learn of it through changedSince):
      // were it written after, a move that landed and a change write that failed would leave
      // those devices with a stale unread count until the conversation's next message.
      await deps.inbox.recordChange(callerId, conversation.ref.id, newId());
      await receipts.advance(conversation.ref.id, callerId, input.messageId, input.status);
      await deps.receiptsCache?.advance(conversation.ref.id, callerId, input.messageId, input.status);
      const receipt = await receipts.find(conversation.ref.id, callerId);
      await deps.events?.receiptUpdated({ before, after: receipt }, fanOutIds(conversation)).catch(() => {});
      return receipt;
    },

    async listReceipts(callerId: string, conversationId: string): Promise<Receipt[]> {
      const conversation = await conversationById(callerId, conversationId);
      const participantIds = conversation.participantIds ?? [];
      const byUser = new Map((await receiptsOf(conversation.ref.id)).map((receipt) => [receipt.userId, receipt]));
      // A peer with a receipt exists; one without may not.
      if (participantIds.some((userId) => !byUser.has(userId))) {
        await requirePeerExists(callerId, conversation.ref);
      }
      return participantIds.map(
        (userId) =>
          byUser.get(userId) ?? { conversationId: conversation.ref.id, userId, deliveredUpTo: null, readUpTo: null },
      );
    },
  };
}
