import { createBoundedSet } from '../domain/bounded-set.js';
import type { Bucket } from '../domain/buckets.js';
import { ulidTime } from '../domain/ids.js';
import type { StoredMessage } from '../domain/types.js';
import { findInBuckets, type IdRange, walkBuckets } from './bucket-walk.js';
import { type Db, fromDate, optionalText, orUnset, type Row, toDate } from './client.js';

const INSERT_MESSAGE =
  'INSERT INTO messages (conversation_id, bucket, message_id, sender_id, receiver_id, group_id, content, client_ts, reply_to_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
const INSERT_BUCKET = 'INSERT INTO conversation_buckets (conversation_id, bucket, bucket_ms) VALUES (?, ?, ?)';
const SELECT_BUCKETS = 'SELECT bucket, bucket_ms FROM conversation_buckets WHERE conversation_id = ?';
const SELECT_BUCKETS_UP_TO =
  'SELECT bucket, bucket_ms FROM conversation_buckets WHERE conversation_id = ? AND bucket <= ?';
const MESSAGE_COLUMNS =
  'message_id, conversation_id, sender_id, receiver_id, group_id, content, client_ts, reply_to_id';
const SELECT_RANGE_DESC = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id >= ? AND message_id <= ? ORDER BY message_id DESC LIMIT ?`;
const SELECT_RANGE_ASC = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id >= ? AND message_id <= ? ORDER BY message_id ASC LIMIT ?`;
const DELETE_MESSAGE = 'DELETE FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id = ?';
const SELECT_ONE = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id = ?`;

/**
 * A row with the message columns (messages, thread_messages, message_idempotency) → the domain
 * message. thread_messages rows carry the thread as `root_id`, idempotency claims as `thread_id`.
 */
export const toMessage = (row: Row): StoredMessage => ({
  id: row.message_id,
  conversationId: row.conversation_id,
  senderId: row.sender_id,
  receiverId: optionalText(row.receiver_id),
  groupId: optionalText(row.group_id),
  content: row.content,
  createdAt: ulidTime(row.message_id),
  clientTimestamp: row.client_ts == null ? null : fromDate(row.client_ts),
  replyToId: optionalText(row.reply_to_id),
  threadId: optionalText(row.root_id ?? row.thread_id),
});

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
        return result.rows.map(toMessage);
      });
    },

    /** A message by id, looked up in the buckets whose window holds the id's time. */
    async findById(conversationId: string, messageId: string, likely?: Bucket): Promise<StoredMessage | undefined> {
      const lookUp = async (bucket: Bucket) => {
        const result = await db.execute(SELECT_ONE, [conversationId, toDate(bucket.start), messageId], {
          idempotent: true,
        });
        const row = result.first();
        return row ? toMessage(row) : undefined;
      };
      return findInBuckets(messageId, likely, (time) => listBuckets(conversationId, time), lookUp);
    },
  };
}

export type MessageRepository = ReturnType<typeof createMessageRepository>;
