import { notAMemberError, requireDirectParticipant } from '../../domain/access.js';
import { createBoundedSet } from '../../domain/bounded-set.js';
import { type ConversationRef, directConversationId, parseConversationId } from '../../domain/conversations.js';
import { AppError } from '../../domain/errors.js';
import { messageStatus } from '../../domain/status.js';
import type { Message, Receipt, StoredMessage } from '../../domain/types.js';
import type { GroupRepository } from '../../store/groups.js';
import type { ReceiptRepository } from '../../store/receipts.js';
import type { UserRepository } from '../../store/users.js';
import type { Conversation, MembersCache, ReceiptsCache } from './types.js';

/** Resolve a group conversation by checking the caller's membership only (one row). */
export const MEMBERSHIP_ONLY = { participants: false } as const;

/**
 * Who takes part in a conversation, and what its messages' status is: the reads every messaging
 * use case starts with (send, history, receipts), in one place.
 */
export function createConversationAccess(deps: {
  groups: Pick<GroupRepository, 'findById' | 'findMember' | 'listMembers'>;
  users: Pick<UserRepository, 'findById'>;
  receipts: Pick<ReceiptRepository, 'listForConversation'>;
  receiptsCache?: ReceiptsCache | undefined;
  membersCache?: MembersCache | undefined;
}) {
  const { groups, users } = deps;
  const knownUsers = createBoundedSet(100_000);

  async function groupMemberIds(groupId: string): Promise<string[] | undefined> {
    const load = async () => {
      const members = await groups.listMembers(groupId);
      return members.length === 0 ? undefined : members.map((member) => member.userId);
    };
    return deps.membersCache ? deps.membersCache.getOrLoad(groupId, load) : load();
  }

  /**
   * Resolves a conversation and checks the caller takes part in it (domain/access.ts: unknown
   * groups 404, conversations the caller is not in 403). `participants: false` skips loading a
   * group's member list when only the caller's membership matters (send, receipts, typing): one
   * row instead of up to GROUP_MAX_MEMBERS.
   */
  async function requireConversation(
    callerId: string,
    ref: ConversationRef,
    options: { participants: boolean } = { participants: true },
  ): Promise<Conversation> {
    if (ref.kind === 'direct') {
      requireDirectParticipant(ref, callerId);
      return { ref, participantIds: [...ref.userIds] };
    }
    if (!options.participants) {
      if (await groups.findMember(ref.groupId, callerId)) return { ref, participantIds: undefined };
      throw notAMemberError(ref.groupId, (await groups.findById(ref.groupId)) !== undefined);
    }
    const memberIds = await groupMemberIds(ref.groupId);
    if (!memberIds) throw notAMemberError(ref.groupId, (await groups.findById(ref.groupId)) !== undefined);
    if (!memberIds.includes(callerId)) throw notAMemberError(ref.groupId, true);
    return { ref, participantIds: memberIds };
  }

  async function conversationById(
    callerId: string,
    conversationId: string,
    options: { participants: boolean } = { participants: true },
  ): Promise<Conversation> {
    const ref = parseConversationId(conversationId);
    if (!ref) throw new AppError('NOT_FOUND', `Conversation ${conversationId} does not exist`);
    return requireConversation(callerId, ref, options);
  }

  function directRef(callerId: string, peerId: string): ConversationRef {
    if (peerId === callerId) {
      throw new AppError('VALIDATION_FAILED', 'A one-to-one conversation needs another user', {
        issues: [{ path: 'peerId', message: 'must be another user than the caller' }],
      });
    }
    const ref = parseConversationId(directConversationId(callerId, peerId));
    if (!ref) throw new AppError('VALIDATION_FAILED', 'Invalid user id');
    return ref;
  }

  /**
   * 404 unless the user exists. Users are never deleted, so an id seen to exist is remembered:
   * a send to a known user costs no lookup.
   */
  async function requireUserExists(userId: string): Promise<void> {
    if (knownUsers.has(userId)) return;
    if (!(await users.findById(userId))) throw new AppError('NOT_FOUND', `User ${userId} does not exist`);
    knownUsers.add(userId);
  }

  /** A one-to-one conversation with a user who does not exist is unknown (404), not empty. */
  async function requirePeerExists(callerId: string, ref: ConversationRef): Promise<void> {
    if (ref.kind !== 'direct') return;
    await requireUserExists(ref.userIds[0] === callerId ? ref.userIds[1] : ref.userIds[0]);
  }

  async function receiptsOf(conversationId: string): Promise<Receipt[]> {
    const load = () => deps.receipts.listForConversation(conversationId);
    return deps.receiptsCache ? deps.receiptsCache.getOrLoad(conversationId, load) : load();
  }

  async function withStatus(conversation: Conversation, stored: StoredMessage[]): Promise<Message[]> {
    if (stored.length === 0) return [];
    const participantIds = conversation.participantIds ?? (await groupMemberIds(conversation.ref.id)) ?? [];
    const byUser = new Map((await receiptsOf(conversation.ref.id)).map((receipt) => [receipt.userId, receipt]));
    return stored.map((message) => ({ ...message, status: messageStatus(message, participantIds, byUser) }));
  }

  return {
    requireConversation,
    conversationById,
    directRef,
    requireUserExists,
    requirePeerExists,
    receiptsOf,
    withStatus,
  };
}

export type ConversationAccess = ReturnType<typeof createConversationAccess>;

/**
 * The recipients list fan-out needs: one-to-one events go to each participant's channel; group
 * events are published once on the group's channel, so no member list is needed for them.
 */
export const fanOutIds = (conversation: Conversation): readonly string[] => conversation.participantIds ?? [];
