import { createHash } from 'node:crypto';
import { createBoundedSet } from '../domain/bounded-set.js';
import { bucketForMessage } from '../domain/buckets.js';
import { type ConversationRef, directConversationId, parseConversationId } from '../domain/conversations.js';
import { AppError } from '../domain/errors.js';
import { maxUlidAt, minUlidAt, newId, ulidTime } from '../domain/ids.js';
import { messageStatus } from '../domain/status.js';
import type { Message, Receipt, StoredMessage } from '../domain/types.js';
import type { ConversationRepository } from '../store/conversations.js';
import type { GroupRepository } from '../store/groups.js';
import type { IdempotencyRepository } from '../store/idempotency.js';
import type { MessageRepository } from '../store/messages.js';
import type { ReceiptRepository } from '../store/receipts.js';
import type { UserRepository } from '../store/users.js';
import type { ConversationEvents } from './ports.js';

/** Resolve a group conversation by checking the caller's membership only (one row). */
const MEMBERSHIP_ONLY = { participants: false } as const;

const MIN_ID = '00000000000000000000000000';
const MAX_ID = '7ZZZZZZZZZZZZZZZZZZZZZZZZZ';

/** Where a message goes: exactly one of a user (one-to-one) or a group. */
export type SendTarget = { receiverId: string } | { groupId: string };

export interface SendInput {
  target: SendTarget;
  content: string;
  clientTimestamp: number | null;
  idempotencyKey: string | undefined;
}

export type HistoryTarget = { peerId: string } | { groupId: string } | { conversationId: string };

export interface HistoryQuery {
  target: HistoryTarget;
  limit: number;
  before?: string | undefined;
  after?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
}

export interface HistoryPage {
  messages: Message[];
  nextCursor: string | null;
}

/** A conversation the caller takes part in, with everyone in it. */
export interface Conversation {
  ref: ConversationRef;
  /**
   * Everyone in it. Always known for one-to-one conversations; for a group only when resolved
   * with `participants: true` (undefined when only the caller's membership was checked).
   */
  participantIds: string[] | undefined;
}

/**
 * The read-through caches (Redis), see src/cache/README.md for what they guarantee. Every method
 * is best effort: it never rejects because of Redis (only when `load`, i.e. Cassandra, does), and
 * concurrent misses of one key share one `load`.
 */
export interface RecentMessagesCache {
  /** The most messages `newest` may be asked for (N + 1). */
  readonly capacity: number;
  /** The newest `count` messages, newest first; on a miss `load(limit)` reads Cassandra's newest. */
  newest(
    conversationId: string,
    count: number,
    load: (limit: number) => Promise<StoredMessage[]>,
  ): Promise<StoredMessage[]>;
  /** Write-through after the message is durable in Cassandra. */
  append(message: StoredMessage): Promise<void>;
}

/** Receipts cache: the watermarks of a conversation's participants. */
export interface ReceiptsCache {
  getOrLoad(conversationId: string, load: () => Promise<Receipt[]>): Promise<Receipt[]>;
  /** Write-through after a watermark moved in Cassandra. */
  advance(conversationId: string, userId: string, messageId: string, status: 'delivered' | 'read'): Promise<void>;
}

/** Members cache: the user ids of a group (undefined: no members, i.e. no such group; not cached). */
export interface MembersCache {
  getOrLoad(groupId: string, load: () => Promise<string[] | undefined>): Promise<string[] | undefined>;
}

/** What an idempotency key is bound to: the same key with another payload is a conflict. */
export const requestHash = (target: SendTarget, content: string, clientTimestamp: number | null) =>
  createHash('sha256')
    .update(JSON.stringify([target, content, clientTimestamp]))
    .digest('hex');

/** Sending, reading history and moving delivery/read watermarks. */
export function createMessagingService(deps: {
  messages: MessageRepository;
  receipts: ReceiptRepository;
  groups: GroupRepository;
  users: UserRepository;
  idempotency: IdempotencyRepository;
  conversations: ConversationRepository;
  bucketMs: number;
  events?: ConversationEvents;
  recent?: RecentMessagesCache;
  receiptsCache?: ReceiptsCache;
  membersCache?: MembersCache;
}) {
  const { messages, receipts, groups, users, idempotency } = deps;
  const knownUsers = createBoundedSet(100_000);
  // One-to-one conversations this process has already recorded in both users' lists.
  const recordedDirect = createBoundedSet(100_000);

  async function groupMemberIds(groupId: string): Promise<string[] | undefined> {
    const load = async () => {
      const members = await groups.listMembers(groupId);
      return members.length === 0 ? undefined : members.map((member) => member.userId);
    };
    return deps.membersCache ? deps.membersCache.getOrLoad(groupId, load) : load();
  }

  /**
   * Resolves a conversation and checks the caller takes part in it. Unknown groups answer 404;
   * conversations the caller is not in answer 403 (one-to-one ids name their participants, so
   * there is nothing to hide by answering 404). `participants: false` skips loading a group's
   * member list when only the caller's membership matters (send, receipts, typing): one row
   * instead of up to GROUP_MAX_MEMBERS.
   */
  async function requireConversation(
    callerId: string,
    ref: ConversationRef,
    options: { participants: boolean } = { participants: true },
  ): Promise<Conversation> {
    if (ref.kind === 'direct') {
      if (!ref.userIds.includes(callerId)) throw new AppError('FORBIDDEN', 'You are not part of this conversation');
      return { ref, participantIds: [...ref.userIds] };
    }
    if (!options.participants) {
      if (await groups.findMember(ref.groupId, callerId)) return { ref, participantIds: undefined };
      if (!(await groups.findById(ref.groupId))) throw new AppError('NOT_FOUND', `Group ${ref.groupId} does not exist`);
      throw new AppError('FORBIDDEN', 'You are not a member of this group');
    }
    const memberIds = await groupMemberIds(ref.groupId);
    if (!memberIds) {
      if (!(await groups.findById(ref.groupId))) throw new AppError('NOT_FOUND', `Group ${ref.groupId} does not exist`);
      throw new AppError('FORBIDDEN', 'You are not a member of this group');
    }
    if (!memberIds.includes(callerId)) {
      throw new AppError('FORBIDDEN', 'You are not a member of this group');
    }
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
    const load = () => receipts.listForConversation(conversationId);
    return deps.receiptsCache ? deps.receiptsCache.getOrLoad(conversationId, load) : load();
  }

  async function withStatus(conversation: Conversation, stored: StoredMessage[]): Promise<Message[]> {
    if (stored.length === 0) return [];
    const participantIds = conversation.participantIds ?? (await groupMemberIds(conversation.ref.id)) ?? [];
    const byUser = new Map((await receiptsOf(conversation.ref.id)).map((receipt) => [receipt.userId, receipt]));
    return stored.map((message) => ({ ...message, status: messageStatus(message, participantIds, byUser) }));
  }

  /**
   * The recipients list fan-out needs: one-to-one events go to each participant's channel; group
   * events are published once on the group's channel, so no member list is needed for them.
   */
  const fanOutIds = (conversation: Conversation): readonly string[] => conversation.participantIds ?? [];

  const bucketOf = (message: { id: string }) => bucketForMessage(message.id, deps.bucketMs);

  async function store(message: StoredMessage): Promise<void> {
    // Before the message itself, so a stored message's conversation is always listed for both
    // users (GET /conversations); once per conversation per process, not per message.
    if (message.receiverId && !recordedDirect.has(message.conversationId)) {
      await deps.conversations.addDirect(message.conversationId, message.senderId, message.receiverId);
      recordedDirect.add(message.conversationId);
    }
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
    conversationById,

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
            // Its first write-through may never have happened (the attempt died or Redis was away).
            await deps.recent?.append(claim.message);
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
      await receipts.advance(conversation.ref.id, callerId, input.messageId, input.status);
      await deps.receiptsCache?.advance(conversation.ref.id, callerId, input.messageId, input.status);
      const receipt = await receipts.find(conversation.ref.id, callerId);
      await deps.events?.receiptUpdated({ before, after: receipt }, fanOutIds(conversation)).catch(() => {});
      return receipt;
    },

    /** The caller's one-to-one conversations (groups are listed by the group service). */
    async listDirectConversations(callerId: string) {
      return deps.conversations.listDirect(callerId);
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

export type MessagingService = ReturnType<typeof createMessagingService>;
