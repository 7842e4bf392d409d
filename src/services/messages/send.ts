import { createHash } from 'node:crypto';
import { createBoundedSet } from '../../domain/bounded-set.js';
import { bucketForMessage } from '../../domain/buckets.js';
import { AppError } from '../../domain/errors.js';
import { ulidTime } from '../../domain/ids.js';
import type { Message, StoredMessage } from '../../domain/types.js';
import type { ConversationRepository } from '../../store/conversations.js';
import type { IdempotencyRepository } from '../../store/idempotency.js';
import type { InboxRepository } from '../../store/inbox.js';
import type { MessageRepository } from '../../store/messages.js';
import type { MessageRows, ThreadRepository } from '../../store/threads.js';
import type { BlockChecks, ConversationEvents } from '../ports.js';
import type { SendAttempt, SendGuard } from '../sync/index.js';
import { type ConversationAccess, fanOutIds, MEMBERSHIP_ONLY } from './access.js';
import type { ThreadSummaries } from './thread-summaries.js';
import type { ReplyTargets, ThreadService } from './threads.js';
import type { Conversation, RecentMessagesCache, SendInput, SendTarget } from './types.js';

/**
 * What an idempotency key is bound to: the same key with another payload (another reply target or
 * thread included) is a conflict. Without reply targets the hash is the one claims were made with
 * before replies existed, so a retry across the upgrade still finds its claim.
 */
export const requestHash = (
  target: SendTarget,
  content: string,
  clientTimestamp: number | null,
  targets: ReplyTargets = { replyToId: null, threadId: null },
) => {
  const fields: unknown[] = [target, content, clientTimestamp];
  if (targets.replyToId !== null || targets.threadId !== null) fields.push(targets.replyToId, targets.threadId);
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
};

/**
 * Sending a message: authorize, store in Cassandra (the only step that must succeed), then write
 * through to the cache and fan out, both best effort. Idempotent with a key. The id is minted in
 * flight by the sync guard, which records the pending send, bounds the insert by the send deadline
 * and aborts what cannot finish (src/services/sync/README.md).
 */
export function createSendService(deps: {
  access: ConversationAccess;
  messages: Pick<MessageRepository, 'insert'>;
  /** Thread replies' rows and the reply → root index (store/threads.ts). */
  threads: Pick<ThreadRepository, 'insert' | 'recordReplyRoot'>;
  /** A message's row wherever it lives (messages or its thread): for retries' look-ups and aborts. */
  rows: Pick<MessageRows, 'findById' | 'abort'>;
  replies: Pick<ThreadService, 'resolveTargets' | 'rootChanged'>;
  summaries: ThreadSummaries;
  idempotency: IdempotencyRepository;
  guard: SendGuard;
  conversations: Pick<ConversationRepository, 'addDirect'>;
  inbox: Pick<InboxRepository, 'recordMessage'>;
  bucketMs: number;
  events?: ConversationEvents | undefined;
  recent?: RecentMessagesCache | undefined;
  /** One-to-one sends to someone who blocked the sender are refused (services/blocks.ts). */
  blocks?: Pick<BlockChecks, 'hasBlocked'> | undefined;
}) {
  const { access, messages, idempotency, guard } = deps;
  const { requireConversation, directRef, requireUserExists, withStatus } = access;
  // One-to-one conversations this process has already recorded in both users' lists.
  const recordedDirect = createBoundedSet(100_000);
  const bucketOf = (message: { id: string }) => bucketForMessage(message.id, deps.bucketMs);

  async function store(message: StoredMessage, writeTs: bigint, activity: Promise<void>): Promise<void> {
    // Before the message itself, so a stored message's conversation is always listed for both
    // users (GET /conversations); once per conversation per process, not per message.
    if (message.receiverId && !recordedDirect.has(message.conversationId)) {
      await deps.conversations.addDirect(message.conversationId, message.senderId, message.receiverId);
      recordedDirect.add(message.conversationId);
    }
    // Before the message too, so a stored message is never newer than its conversation's
    // activity row: an inbox read that sees the message also sees the conversation as changed.
    // (Written alongside the pending row, see guardedStore: one round trip, not two.)
    await activity;
    if (!message.threadId) await messages.insert(message, bucketOf(message), writeTs);
    else await deps.threads.insert(message, bucketOf(message), writeTs);
  }

  /** Stores under the guard (pending row, deadline, lease); `idempotencyKey` adds the claim's flip. */
  function guardedStore(attempt: SendAttempt, message: StoredMessage, idempotencyKey?: string): Promise<void> {
    const pending = {
      messageId: message.id,
      conversationId: message.conversationId,
      bucketStart: bucketOf(message).start,
      writeTs: attempt.writeTs,
      senderId: message.senderId,
      idempotencyKey: idempotencyKey ?? null,
      rootId: message.threadId ?? null,
    };
    const confirm = idempotencyKey
      ? () => idempotency.markStored(message.senderId, idempotencyKey, message.id)
      : undefined;
    // The activity row does not depend on the pending row (a conversation reported as changed
    // for a send that then failed costs a client one extra pull), so both go at once. A thread
    // reply records activity too: changedSince must report its conversation (its root changed),
    // and its reply → root row, so a stored reply is always known as one (an id named later as
    // a threadId gets "threads do not nest", not "unknown").
    const rootId = message.threadId;
    const activity = !rootId
      ? deps.inbox.recordMessage(message)
      : Promise.all([
          deps.inbox.recordMessage(message),
          deps.threads.recordReplyRoot(message.conversationId, message.id, rootId),
        ]).then(() => {});
    activity.catch(() => {}); // awaited by store(); a failure there aborts the send
    return guard.store(attempt, pending, () => store(message, attempt.writeTs, activity), confirm);
  }

  /**
   * Post-commit side effects: cache write-through and fan-out, both best effort (bounded, never
   * rejecting): the message is durable, so the send succeeds whatever Redis does.
   */
  async function afterStored(message: Message, conversation: Conversation, root: StoredMessage | undefined) {
    await Promise.all([
      // The recent window is the main history's: a thread reply never goes in it.
      root ? undefined : deps.recent?.append(message),
      liveAudience(message, conversation)
        .then((ids) => deps.events?.messageCreated(message, ids))
        .catch(() => {}),
      root ? deps.replies.rootChanged(conversation, root, message) : undefined,
    ]);
  }

  /**
   * Who gets the message live. A one-to-one send checked before a block and stored after it (the
   * block landed while the insert was in flight) is stored and answered 201, but the receiver,
   * who has just blocked the sender, is not handed it live: checked again here, from the cache
   * the block itself updated on this node (within BLOCK_CHECK_CACHE_MS on the others). It stays
   * in history, like every message from before the block.
   */
  async function liveAudience(message: Message, conversation: Conversation): Promise<readonly string[]> {
    const ids = fanOutIds(conversation);
    const { receiverId } = message;
    if (!receiverId || !deps.blocks) return ids;
    const blocked = await deps.blocks.hasBlocked(receiverId, message.senderId).catch(() => false);
    return blocked ? ids.filter((id) => id !== receiverId) : ids;
  }

  /** 403 when the receiver blocked the sender; the answer says no more than "not accepted". */
  async function requireNotBlocked(senderId: string, receiverId: string): Promise<void> {
    if (await deps.blocks?.hasBlocked(receiverId, senderId)) {
      throw new AppError('FORBIDDEN', 'This user does not accept messages from you');
    }
  }

  /**
   * One claim per key (src/store/idempotency.ts): the first attempt stores under its id and flips
   * the claim to stored; a retry answers 200 with a stored claim's message, or takes a pending
   * claim over under its own fresh id (aborting the old id, never re-inserting it: that id may be
   * below every client's cursor by now) and stores that.
   */
  async function sendIdempotent(
    firstAttempt: SendAttempt,
    message: StoredMessage,
    key: string,
    hash: string,
    conversation: Conversation,
    root: StoredMessage | undefined,
  ): Promise<{ message: Message; created: boolean }> {
    let attempt = firstAttempt;
    let stored = message;
    let claim: Awaited<ReturnType<IdempotencyRepository['claim']>>;
    try {
      claim = await idempotency.claim(key, hash, stored, attempt.writeTs);
    } catch (error) {
      // Nothing inserted under this id; a claim that did land is taken over by the next retry.
      guard.abandon(attempt);
      throw error;
    }
    if (claim.kind === 'claimed') {
      await guardedStore(attempt, stored, key);
      const message: Message = { ...stored, status: 'sent' };
      await afterStored(message, conversation, root);
      return { message, created: true };
    }
    // A pending claim younger than D may still be completed by its attempt (two identical sends
    // at once): wait for it rather than supersede it. Older ones are taken over. A few rounds:
    // concurrent retries may move the claim between our read and our take-over.
    const waitUntil = Date.now() + guard.deadlineMs;
    for (let round = 0; round < 3 && claim.kind === 'existing'; round++) {
      if (claim.requestHash !== hash) {
        guard.abandon(attempt);
        throw new AppError('CONFLICT', 'This idempotency key was used for a different message');
      }
      const original = claim.message;
      const legacyFound =
        claim.state === 'legacy' &&
        (await deps.rows.findById(original.conversationId, original.id, bucketOf(original), original.threadId));
      if (claim.state === 'stored' || legacyFound) {
        guard.abandon(attempt);
        // Its first write-through and publish may never have happened (the attempt died, or
        // Redis was away): do both again. A recipient that already has it drops it by id.
        await afterStored({ ...original, status: 'sent' }, conversation, root);
        // The original message as it stands now: its status may have moved since the first send.
        const [message] = await deps.summaries.attach(conversation.ref.id, await withStatus(conversation, [original]));
        return { message: message ?? { ...original, status: 'sent' }, created: false };
      }
      const claimedAt = claim.writeTs === null ? 0 : Number(claim.writeTs / 1000n);
      if (claim.state === 'pending' && Date.now() - claimedAt < guard.deadlineMs && Date.now() < waitUntil) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        claim = await idempotency.claim(key, hash, stored, attempt.writeTs);
        round--;
        continue;
      }
      // A fresh id now: the wait may have used up this attempt's deadline.
      guard.abandon(attempt);
      attempt = guard.begin();
      stored = { ...stored, id: attempt.id, createdAt: ulidTime(attempt.id) };
      const from = { id: original.id, state: claim.state };
      if (await idempotency.takeOver(stored.senderId, key, from, { id: stored.id, writeTs: attempt.writeTs })) {
        try {
          // Legacy claims carry no timestamp: "now" beats their insert, which is older.
          const oldTs = claim.writeTs ?? BigInt(Date.now()) * 1000n;
          const bucketStart = bucketOf(original).start;
          await deps.rows.abort(original.conversationId, bucketStart, original.id, oldTs, original.threadId);
        } catch (error) {
          guard.abandon(attempt);
          throw error;
        }
        await guardedStore(attempt, stored, key);
        const message: Message = { ...stored, status: 'sent' };
        // This retry is the one that stores it: write through and fan out as a first send would.
        await afterStored(message, conversation, root);
        return { message, created: false };
      }
      claim = await idempotency.claim(key, hash, stored, attempt.writeTs);
    }
    guard.abandon(attempt);
    throw new AppError('UNAVAILABLE', 'Another attempt with this idempotency key is in progress; retry');
  }

  return {
    async send(callerId: string, input: SendInput): Promise<{ message: Message; created: boolean }> {
      let conversation: Conversation;
      if ('receiverId' in input.target) {
        const ref = directRef(callerId, input.target.receiverId);
        // In parallel: an unknown user has blocked nobody, so only the 404 can come of it.
        await Promise.all([
          requireUserExists(input.target.receiverId),
          requireNotBlocked(callerId, input.target.receiverId),
        ]);
        conversation = await requireConversation(callerId, ref);
      } else {
        const { groupId } = input.target;
        conversation = await requireConversation(callerId, { kind: 'group', id: groupId, groupId }, MEMBERSHIP_ONLY);
      }
      const targets: ReplyTargets = { replyToId: input.replyToId, threadId: input.threadId };
      // Before minting: a refused target stores nothing and holds no position back.
      const root = await deps.replies.resolveTargets(conversation.ref.id, targets);
      const attempt = guard.begin();
      const id = attempt.id;
      const stored: StoredMessage = {
        id,
        conversationId: conversation.ref.id,
        senderId: callerId,
        receiverId: 'receiverId' in input.target ? input.target.receiverId : null,
        groupId: 'groupId' in input.target ? input.target.groupId : null,
        content: input.content,
        createdAt: ulidTime(id),
        clientTimestamp: input.clientTimestamp,
        replyToId: input.replyToId,
        threadId: input.threadId,
      };
      if (input.idempotencyKey) {
        const hash = requestHash(input.target, input.content, input.clientTimestamp, targets);
        return sendIdempotent(attempt, stored, input.idempotencyKey, hash, conversation, root);
      }
      await guardedStore(attempt, stored);
      const message: Message = { ...stored, status: 'sent' };
      await afterStored(message, conversation, root);
      return { message, created: true };
    },
  };
}
