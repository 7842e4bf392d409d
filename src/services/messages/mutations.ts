import { bucketForMessage } from '../../domain/buckets.js';
import { AppError } from '../../domain/errors.js';
import { ulidTime } from '../../domain/ids.js';
import { reactionLimitProblem } from '../../domain/reactions.js';
import type { Message, StoredMessage } from '../../domain/types.js';
import type { GroupRepository } from '../../store/groups.js';
import type { ChangeKind } from '../../store/message-changes.js';
import type { MessageKey, MessageMutationRepository } from '../../store/message-mutations.js';
import type { MessageRepository } from '../../store/messages.js';
import type { ThreadRepository } from '../../store/threads.js';
import type { ConversationEvents } from '../ports.js';
import type { SendAttempt, SendGuard } from '../sync/index.js';
import { type ConversationAccess, fanOutIds } from './access.js';
import type { ChangeStream } from './change-stream.js';
import type { Conversation, RecentMessagesCache } from './types.js';

/** Roles whose members may delete anyone's message in their group. */
const MODERATOR_ROLES: ReadonlySet<string> = new Set(['owner', 'admin']);

/**
 * Changes to existing messages: edit, delete for everyone, reactions (issue 16). Each one reads
 * the message (authorization and its current state), mints a change id in flight with the sync
 * guard, writes the message row, a message_changes row and the conversation's last_change_id
 * together (change-stream.ts, guard.storeChange: the id holds the stable position until all three are in, so a
 * catch-up page never passes a change it could miss), then drops the cached window and publishes
 * the event, both best effort. A request that changes nothing (the same reaction again, a second
 * delete) writes nothing and publishes nothing: it answers the message as it is.
 */
export function createMutationService(deps: {
  access: ConversationAccess;
  messages: Pick<MessageRepository, 'findById'>;
  threads: Pick<ThreadRepository, 'rootOf' | 'findById'>;
  mutations: MessageMutationRepository;
  changeStream: ChangeStream;
  groups: Pick<GroupRepository, 'findMember'>;
  guard: SendGuard;
  bucketMs: number;
  events?: ConversationEvents | undefined;
  recent?: RecentMessagesCache | undefined;
}) {
  const { access, guard } = deps;

  /**
   * The message and where its row is: the main history first (one read by primary key), else a
   * thread reply (thread_reply_roots names its root, then one read in thread_messages). Without
   * the second step an edit of a thread reply answered 404 although the reply was on screen.
   */
  async function locate(callerId: string, conversationId: string, messageId: string) {
    const conversation = await access.conversationById(callerId, conversationId);
    const id = conversation.ref.id;
    const likely = bucketForMessage(messageId, deps.bucketMs);
    const main = await deps.messages.findById(id, messageId, likely);
    if (main) return { conversation, message: main, key: { conversationId: id, bucket: likely, messageId } };
    const rootId = await deps.threads.rootOf(id, messageId);
    const reply = rootId === undefined ? undefined : await deps.threads.findById(id, rootId, messageId, likely);
    if (!reply) throw new AppError('NOT_FOUND', `Message ${messageId} does not exist in this conversation`);
    const key: MessageKey = { conversationId: id, bucket: likely, messageId, rootId };
    return { conversation, message: reply, key };
  }

  /** The message as the caller sees it (status from the receipts). */
  async function answer(conversation: Conversation, message: StoredMessage): Promise<Message> {
    const [withStatus] = await access.withStatus(conversation, [message]);
    return withStatus ?? { ...message, status: 'sent' };
  }

  /** Writes one change under a fresh change id (see the service's comment), then drops the window. */
  async function change(
    conversation: Conversation,
    message: StoredMessage,
    kind: ChangeKind,
    applyRow: (attempt: SendAttempt) => Promise<void>,
    attempt: SendAttempt = guard.begin(),
  ): Promise<void> {
    await deps.changeStream.record(conversation.ref.id, message.id, kind, applyRow, attempt);
    // The cached window holds the main history only: a thread reply's change leaves it as it is.
    if (!message.threadId) await deps.recent?.forget(conversation.ref.id);
  }

  return {
    /** Only the sender; same content rules as a send (checked at the edge); 409 once deleted. */
    async edit(callerId: string, conversationId: string, messageId: string, content: string): Promise<Message> {
      const { conversation, message, key } = await locate(callerId, conversationId, messageId);
      if (message.senderId !== callerId) throw new AppError('FORBIDDEN', 'Only the sender can edit a message');
      if (message.deletedAt != null) {
        throw new AppError('CONFLICT', 'This message was deleted for everyone and can no longer be edited');
      }
      if (message.content === content) return answer(conversation, message);
      const attempt = guard.begin();
      const editedAt = ulidTime(attempt.id);
      await change(
        conversation,
        message,
        'edited',
        (a) => deps.mutations.edit(key, content, editedAt, a.writeTs),
        attempt,
      );
      const edited = await answer(conversation, { ...message, content, editedAt });
      await deps.events?.messageChanged('updated', edited, fanOutIds(conversation)).catch(() => {});
      return edited;
    },

    /**
     * The sender, or in a group a member whose role is owner or admin. Idempotent: a deleted
     * message answers its tombstone again.
     */
    async deleteForEveryone(callerId: string, conversationId: string, messageId: string): Promise<Message> {
      const { conversation, message, key } = await locate(callerId, conversationId, messageId);
      if (message.senderId !== callerId) {
        const member = message.groupId ? await deps.groups.findMember(message.groupId, callerId) : undefined;
        if (!member || !MODERATOR_ROLES.has(member.role)) {
          throw new AppError('FORBIDDEN', 'Only the sender, or a group owner or admin, can delete this message');
        }
      }
      if (message.deletedAt != null) return answer(conversation, message);
      const attempt = guard.begin();
      const deletedAt = ulidTime(attempt.id);
      await change(conversation, message, 'deleted', () => deps.mutations.deleteForEveryone(key, deletedAt), attempt);
      const { editedAt: _edited, reactions: _reactions, ...kept } = message;
      const tombstone = await answer(conversation, { ...kept, content: null, deletedAt });
      await deps.events?.messageChanged('deleted', tombstone, fanOutIds(conversation)).catch(() => {});
      return tombstone;
    },

    /** Any participant; one reaction per user per emoji; giving it again changes nothing. */
    async react(callerId: string, conversationId: string, messageId: string, emoji: string): Promise<Message> {
      const { conversation, message, key } = await locate(callerId, conversationId, messageId);
      if (message.deletedAt != null) {
        throw new AppError('CONFLICT', 'This message was deleted for everyone; it takes no reactions');
      }
      const reactions = message.reactions ?? [];
      if (reactions.some((r) => r.emoji === emoji && r.userId === callerId)) return answer(conversation, message);
      const problem = reactionLimitProblem(reactions, emoji);
      if (problem) throw new AppError('CONFLICT', problem);
      const attempt = guard.begin();
      await change(
        conversation,
        message,
        'reaction',
        (a) => deps.mutations.addReaction(key, emoji, callerId, a.id, a.writeTs),
        attempt,
      );
      const after = [...reactions, { emoji, userId: callerId, at: attempt.id }];
      return published(conversation, { ...message, reactions: after }, emoji, callerId, true);
    },

    /** Takes the caller's reaction back; idempotent (nothing to take back answers the message). */
    async unreact(callerId: string, conversationId: string, messageId: string, emoji: string): Promise<Message> {
      const { conversation, message, key } = await locate(callerId, conversationId, messageId);
      const reactions = message.reactions ?? [];
      if (!reactions.some((r) => r.emoji === emoji && r.userId === callerId)) return answer(conversation, message);
      await change(conversation, message, 'reaction', (a) =>
        deps.mutations.removeReaction(key, emoji, callerId, a.writeTs),
      );
      const after = reactions.filter((r) => !(r.emoji === emoji && r.userId === callerId));
      return published(conversation, { ...message, reactions: after }, emoji, callerId, false);
    },
  };

  /** The reacted message for the caller, after `reaction.updated` went out (best effort). */
  async function published(
    conversation: Conversation,
    message: StoredMessage,
    emoji: string,
    userId: string,
    added: boolean,
  ): Promise<Message> {
    const count = (message.reactions ?? []).filter((r) => r.emoji === emoji).length;
    const update = {
      conversationId: conversation.ref.id,
      messageId: message.id,
      threadId: message.threadId ?? null,
      emoji,
      count,
      userId,
      added,
    };
    await deps.events?.reactionUpdated(update, message.groupId, fanOutIds(conversation)).catch(() => {});
    return answer(conversation, message);
  }
}

export type MutationService = ReturnType<typeof createMutationService>;
