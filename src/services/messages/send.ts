import { createHash } from 'node:crypto';
import { createBoundedSet } from '../../domain/bounded-set.js';
import { bucketForMessage } from '../../domain/buckets.js';
import { AppError } from '../../domain/errors.js';
import { newId, ulidTime } from '../../domain/ids.js';
import type { Message, StoredMessage } from '../../domain/types.js';
import type { ConversationRepository } from '../../store/conversations.js';
import type { IdempotencyRepository } from '../../store/idempotency.js';
import type { InboxRepository } from '../../store/inbox.js';
import type { MessageRepository } from '../../store/messages.js';
import type { ConversationEvents } from '../ports.js';
import { type ConversationAccess, fanOutIds, MEMBERSHIP_ONLY } from './access.js';
import type { Conversation, RecentMessagesCache, SendInput, SendTarget } from './types.js';

/** What an idempotency key is bound to: the same key with another payload is a conflict. */
export const requestHash = (target: SendTarget, content: string, clientTimestamp: number | null) =>
  createHash('sha256')
    .update(JSON.stringify([target, content, clientTimestamp]))
    .digest('hex');

/**
 * Sending a message: authorize, store in Cassandra (the only step that must succeed), then write
 * through to the cache and fan out, both best effort. Idempotent with a key.
 */
export function createSendService(deps: {
  access: ConversationAccess;
  messages: Pick<MessageRepository, 'insert' | 'findById'>;
  idempotency: IdempotencyRepository;
  conversations: Pick<ConversationRepository, 'addDirect'>;
  inbox: Pick<InboxRepository, 'recordMessage'>;
  bucketMs: number;
  events?: ConversationEvents | undefined;
  recent?: RecentMessagesCache | undefined;
}) {
  const { access, messages, idempotency } = deps;
  const { requireConversation, directRef, requireUserExists, withStatus } = access;
  // One-to-one conversations this process has already recorded in both users' lists.
  const recordedDirect = createBoundedSet(100_000);
  const bucketOf = (message: { id: string }) => bucketForMessage(message.id, deps.bucketMs);

  async function store(message: StoredMessage): Promise<void> {
    // Before the message itself, so a stored message's conversation is always listed for both
    // users (GET /conversations); once per conversation per process, not per message.
    if (message.receiverId && !recordedDirect.has(message.conversationId)) {
      await deps.conversations.addDirect(message.conversationId, message.senderId, message.receiverId);
      recordedDirect.add(message.conversationId);
    }
    // Before the message too, so a stored message is never newer than its conversation's
    // activity row: an inbox read that sees the message also sees the conversation as changed.
    await deps.inbox.recordMessage(message);
    await messages.insert(message, bucketOf(message));
  }

  /**
   * Post-commit side effects: cache write-through and fan-out, both best effort (bounded, never
   * rejecting): the message is durable, so the send succeeds whatever Redis does.
   */
  async function afterStored(message: Message, conversation: Conversation) {
    await Promise.all([
      deps.recent?.append(message),
      deps.events?.messageCreated(message, fanOutIds(conversation)).catch(() => {}),
    ]);
  }

  return {
    async send(callerId: string, input: SendInput): Promise<{ message: Message; created: boolean }> {
      let conversation: Conversation;
      if ('receiverId' in input.target) {
        const ref = directRef(callerId, input.target.receiverId);
        await requireUserExists(input.target.receiverId);
        conversation = await requireConversation(callerId, ref);
      } else {
        const { groupId } = input.target;
        conversation = await requireConversation(callerId, { kind: 'group', id: groupId, groupId }, MEMBERSHIP_ONLY);
      }
      const id = newId();
      const stored: StoredMessage = {
        id,
        conversationId: conversation.ref.id,
        senderId: callerId,
        receiverId: 'receiverId' in input.target ? input.target.receiverId : null,
        groupId: 'groupId' in input.target ? input.target.groupId : null,
        content: input.content,
        createdAt: ulidTime(id),
        clientTimestamp: input.clientTimestamp,
      };

      if (input.idempotencyKey) {
        const hash = requestHash(input.target, input.content, input.clientTimestamp);
        const claim = await idempotency.claim(input.idempotencyKey, hash, stored);
        if (claim.kind === 'existing') {
          if (claim.requestHash !== hash) {
            throw new AppError('CONFLICT', 'This idempotency key was used for a different message');
          }
          // The first attempt may have died between claim and write: make sure the message exists.
          const existing = await messages.findById(
            claim.message.conversationId,
            claim.message.id,
            bucketOf(claim.message),
          );
          if (!existing) {
            // This retry is the one that stores it: write through and fan out as a first send would.
            await store(claim.message);
            await afterStored({ ...claim.message, status: 'sent' }, conversation);
          } else {
            // Its first write-through and publish may never have happened (the attempt died, or
            // Redis was away): do both again. A recipient that already has it drops it by id.
            await afterStored({ ...claim.message, status: 'sent' }, conversation);
          }
          // The original message as it stands now: its status may have moved since the first send.
          const [message] = await withStatus(conversation, [claim.message]);
          return { message: message ?? { ...claim.message, status: 'sent' }, created: false };
        }
      }

      await store(stored);
      const message: Message = { ...stored, status: 'sent' };
      await afterStored(message, conversation);
      return { message, created: true };
    },
  };
}
