import { createBoundedSet } from '../domain/bounded-set.js';
import type { Bucket } from '../domain/buckets.js';
import { ulidTime } from '../domain/ids.js';
import { parseReactionKey } from '../domain/reactions.js';
import type { StoredMessage, StoredReaction } from '../domain/types.js';
import { findInBuckets, type IdRange, walkBuckets } from './bucket-walk.js';
import { type Db, fromDate, optionalText, orUnset, type Row, toDate } from './client.js';

const INSERT_MESSAGE =
  'INSERT INTO messages (conversation_id, bucket, message_id, sender_id, receiver_id, group_id, content, client_ts, reply_to_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
const INSERT_BUCKET = 'INSERT INTO conversation_buckets (conversation_id, bucket, bucket_ms) VALUES (?, ?, ?)';
const SELECT_BUCKETS = 'SELECT bucket, bucket_ms FROM conversation_buckets WHERE conversation_id = ?';
const SELECT_BUCKETS_UP_TO =
  'SELECT bucket, bucket_ms FROM conversation_buckets WHERE conversation_id = ? AND bucket <= ?';
const MESSAGE_COLUMNS =
  'message_id, conversation_id, sender_id, receiver_id, group_id, content, client_ts, reply_to_id, edited_at, deleted_at, reactions';
const SELECT_RANGE_DESC = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id >= ? AND message_id <= ? ORDER BY message_id DESC LIMIT ?`;
const SELECT_RANGE_ASC = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id >= ? AND message_id <= ? ORDER BY message_id ASC LIMIT ?`;
const DELETE_MESSAGE = 'DELETE FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id = ?';
const SELECT_ONE = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id = ?`;
const SELECT_SOME = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id IN ?`;

/**
 * A row with the message columns (messages, thread_messages, message_idempotency) → the domain
 * message. thread_messages rows carry the thread as `root_id`, idempotency claims as `thread_id`.
 * The optional fields (reply, thread, edit, delete, reactions) are set only when present, so a
 * message with none reads back equal to the object its send built.
 */
export const toMessage = (row: Row): StoredMessage => {
  const message: StoredMessage = {
    id: row.message_id,
    conversationId: row.conversation_id,
    senderId: row.sender_id,
    receiverId: optionalText(row.receiver_id),
    groupId: optionalText(row.group_id),
    content: row.content ?? null,
    createdAt: ulidTime(row.message_id),
    clientTimestamp: row.client_ts == null ? null : fromDate(row.client_ts),
  };
  const replyToId = optionalText(row.reply_to_id);
  const threadId = optionalText(row.root_id ?? row.thread_id);
  if (replyToId !== null) message.replyToId = replyToId;
  if (threadId !== null) message.threadId = threadId;
  if (row.edited_at != null) message.editedAt = fromDate(row.edited_at);
  if (row.deleted_at != null) message.deletedAt = fromDate(row.deleted_at);
  const reactions = toReactions(row.reactions);
  if (reactions.length > 0) message.reactions = reactions;
  return message;
};

function toReactions(cells: unknown): StoredReaction[] {
  if (cells == null || typeof cells !== 'object') return [];
  const reactions: StoredReaction[] = [];
  for (const [key, at] of Object.entries(cells as Record<string, string>)) {
    const reaction = parseReactionKey(key, at);
    if (reaction) reactions.push(reaction);
  }
  return reactions;
}

/**
 * Whether a row is a message: its send's insert wrote sender_id. An edit, reaction or delete is
 * an upsert, so one that lands on a message whose send was then aborted (its insert deleted at
 * insert + 1, after a reader had already seen it) leaves a row with only those cells: not a
 * message, and never shown. The same holds for thread_messages (store/threads.ts).
 */
export const isMessageRow = (row: Row) => row.sender_id != null;

/**
 * The bound values of a message row after its partition key, in the column order both message
 * tables use (messages, thread_messages): id, sender, receiver, group, content, client time, reply.
 */
export const messageValues = (message: StoredMessage): unknown[] => [
  message.id,
  message.senderId,
  orUnset(message.receiverId),
  orUnset(message.groupId),
  message.content,
  orUnset(message.clientTimestamp == null ? null : toDate(message.clientTimestamp)),
  orUnset(message.replyToId),
];

/** A page request of one conversation in id space (store/bucket-walk.ts). */
export interface PageQuery extends IdRange {
  conversationId: string;
}

/** Messages, bucketed by (conversation, time window), and the index of non-empty buckets. */
export function createMessageRepository(db: Db, options: { knownBucketCapacity?: number } = {}) {
  // (conversation, bucket) index rows this process already wrote: written once per new bucket,
  // not with every message.
  const knownBuckets = createBoundedSet(options.knownBucketCapacity ?? 100_000);

  /** The conversation's non-empty buckets, optionally only those starting at or before a time. */
  async function listBuckets(conversationId: string, startingUpTo?: number): Promise<Bucket[]> {
    const rows =
      startingUpTo === undefined
        ? await db.all(SELECT_BUCKETS, [conversationId])
        : await db.all(SELECT_BUCKETS_UP_TO, [conversationId, toDate(startingUpTo)]);
    return rows.map((row) => ({ start: fromDate(row.bucket), lengthMs: Number(row.bucket_ms) }));
  }

  /** The message in that bucket, if its row is there. */
  async function lookUp(conversationId: string, messageId: string, bucket: Bucket) {
    const result = await db.execute(SELECT_ONE, [conversationId, toDate(bucket.start), messageId], {
      idempotent: true,
    });
    const row = result.first();
    return row && isMessageRow(row) ? toMessage(row) : undefined;
  }

  /** A message by id, looked up in the buckets whose window holds the id's time. */
  async function findById(
    conversationId: string,
    messageId: string,
    likely?: Bucket,
  ): Promise<StoredMessage | undefined> {
    return findInBuckets(
      messageId,
      likely,
      (time) => listBuckets(conversationId, time),
      (bucket) => lookUp(conversationId, messageId, bucket),
    );
  }

  return {
    listBuckets,

    /**
     * Stores a message durably. The bucket index row goes first (only when this process has not
     * written it before), so a stored message is always reachable through the index.
     */
    async insert(message: StoredMessage, bucket: Bucket, writeTs?: bigint): Promise<void> {
      const bucketKey = `${message.conversationId}|${bucket.start}`;
      if (!knownBuckets.has(bucketKey)) {
        // The write timestamp is the window length, so the longest length ever written for this
        // bucket start wins whatever the order: after MESSAGE_BUCKET_MS shrinks, a new shorter
        // window that starts where an old longer one did must not hide the old one's later messages.
        await db.execute(INSERT_BUCKET, [message.conversationId, toDate(bucket.start), bucket.lengthMs], {
          idempotent: true,
          timestamp: BigInt(bucket.lengthMs),
        });
        knownBuckets.add(bucketKey);
      }
      await db.execute(INSERT_MESSAGE, [message.conversationId, toDate(bucket.start), ...messageValues(message)], {
        idempotent: true,
        ...(writeTs === undefined ? {} : { timestamp: writeTs }),
      });
    },

    /**
     * Aborts a send for good: a delete whose write timestamp is the insert's + 1 shadows that
     * insert on every replica, whenever it arrives (late replica, hint, a retry of the driver), so
     * an aborted message can never surface. Idempotent: repeating it changes nothing.
     */
    async abort(conversationId: string, bucketStart: number, messageId: string, insertTs: bigint): Promise<void> {
      await db.execute(DELETE_MESSAGE, [conversationId, toDate(bucketStart), messageId], {
        idempotent: true,
        timestamp: insertTs + 1n,
      });
    },

    /** One page of a conversation, merging across buckets (store/bucket-walk.ts). */
    async page(query: PageQuery): Promise<StoredMessage[]> {
      const statement = query.order === 'desc' ? SELECT_RANGE_DESC : SELECT_RANGE_ASC;
      const buckets = await listBuckets(query.conversationId, ulidTime(query.highId));
      return walkBuckets(buckets, query, async (bucket, limit) => {
        const result = await db.execute(
          statement,
          [query.conversationId, toDate(bucket.start), query.lowId, query.highId, limit],
          { idempotent: true },
        );
        return result.rows.filter(isMessageRow).map(toMessage);
      });
    },

    /**
     * The messages with these ids (missing ones left out), one query per bucket of the current
     * window length (`IN` on the clustering key, inside one partition), then by id for any not
     * found there (a bucket written with another MESSAGE_BUCKET_MS). No ids, no query. Ids of
     * thread replies are never found: they are not rows of messages (history.ts relies on it).
     */
    async findMany(conversationId: string, ids: readonly string[], bucketOf: (id: string) => Bucket) {
      const byBucket = new Map<number, { bucket: Bucket; ids: string[] }>();
      for (const id of ids) {
        const bucket = bucketOf(id);
        const entry = byBucket.get(bucket.start) ?? { bucket, ids: [] };
        entry.ids.push(id);
        byBucket.set(bucket.start, entry);
      }
      const found = new Map<string, StoredMessage>();
      await Promise.all(
        [...byBucket.values()].map(async ({ bucket, ids: some }) => {
          const result = await db.execute(SELECT_SOME, [conversationId, toDate(bucket.start), some], {
            idempotent: true,
          });
          for (const row of result.rows) if (isMessageRow(row)) found.set(row.message_id, toMessage(row));
        }),
      );
      const missing = ids.filter((id) => !found.has(id));
      // Only a bucket of another length (a MESSAGE_BUCKET_MS change) can still hold one. One index
      // read for them all: a catch-up page's changed thread replies, which no bucket of messages
      // holds, once cost an index read and a point read each here.
      const buckets = missing.length > 0 ? await listBuckets(conversationId) : [];
      for (const id of missing) {
        const time = ulidTime(id);
        const guessed = bucketOf(id).start;
        for (const bucket of buckets) {
          if (bucket.start === guessed || bucket.start > time || bucket.start + bucket.lengthMs <= time) continue;
          const message = await lookUp(conversationId, id, bucket);
          if (message) {
            found.set(id, message);
            break;
          }
        }
      }
      return ids.flatMap((id) => found.get(id) ?? []);
    },

    findById,
  };
}

export type MessageRepository = ReturnType<typeof createMessageRepository>;
