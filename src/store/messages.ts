import { createBoundedSet } from '../domain/bounded-set.js';
import { type Bucket, bucketEnd } from '../domain/buckets.js';
import { ulidTime } from '../domain/ids.js';
import { parseReactionKey } from '../domain/reactions.js';
import type { StoredMessage, StoredReaction } from '../domain/types.js';
import { type Db, fromDate, optionalText, orUnset, type Row, toDate } from './client.js';

const INSERT_MESSAGE =
  'INSERT INTO messages (conversation_id, bucket, message_id, sender_id, receiver_id, group_id, content, client_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';
const INSERT_BUCKET = 'INSERT INTO conversation_buckets (conversation_id, bucket, bucket_ms) VALUES (?, ?, ?)';
const SELECT_BUCKETS = 'SELECT bucket, bucket_ms FROM conversation_buckets WHERE conversation_id = ?';
const SELECT_BUCKETS_UP_TO =
  'SELECT bucket, bucket_ms FROM conversation_buckets WHERE conversation_id = ? AND bucket <= ?';
const MESSAGE_COLUMNS =
  'message_id, conversation_id, sender_id, receiver_id, group_id, content, client_ts, edited_at, deleted_at, reactions';
const SELECT_RANGE_DESC = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id >= ? AND message_id <= ? ORDER BY message_id DESC LIMIT ?`;
const SELECT_RANGE_ASC = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id >= ? AND message_id <= ? ORDER BY message_id ASC LIMIT ?`;
const DELETE_MESSAGE = 'DELETE FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id = ?';
const SELECT_ONE = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id = ?`;
const SELECT_SOME = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND bucket = ? AND message_id IN ?`;

/**
 * A row with the message columns (messages, message_idempotency) → the domain message. The
 * mutation fields are set only when present, so a message never changed reads back equal to the
 * object its send built.
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
 * message, and never shown.
 */
const isMessageRow = (row: Row) => row.sender_id != null;

/** A page request in id space: both bounds inclusive; `exclude` is a cursor id to leave out. */
export interface PageQuery {
  conversationId: string;
  lowId: string;
  highId: string;
  exclude: string | undefined;
  order: 'desc' | 'asc';
  /** How many messages to return at most (the caller asks one more to learn if more exist). */
  limit: number;
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

  /** A message by id, looked up in the buckets whose window holds the id's time. */
  async function findById(
    conversationId: string,
    messageId: string,
    likely?: Bucket,
  ): Promise<StoredMessage | undefined> {
    const lookUp = async (bucket: Bucket) => {
      const result = await db.execute(SELECT_ONE, [conversationId, toDate(bucket.start), messageId], {
        idempotent: true,
      });
      const row = result.first();
      return row && isMessageRow(row) ? toMessage(row) : undefined;
    };
    // The bucket the current window length gives is right unless the length changed since.
    const guessed = likely ? await lookUp(likely) : undefined;
    if (guessed) return guessed;
    const time = ulidTime(messageId);
    const holding = (await listBuckets(conversationId, time)).filter(
      (bucket) => bucketEnd(bucket) > time && bucket.start !== likely?.start,
    );
    for (const bucket of holding) {
      const found = await lookUp(bucket);
      if (found) return found;
    }
    return undefined;
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
      await db.execute(
        INSERT_MESSAGE,
        [
          message.conversationId,
          toDate(bucket.start),
          message.id,
          message.senderId,
          orUnset(message.receiverId),
          orUnset(message.groupId),
          message.content,
          orUnset(message.clientTimestamp == null ? null : toDate(message.clientTimestamp)),
        ],
        { idempotent: true, ...(writeTs === undefined ? {} : { timestamp: writeTs }) },
      );
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

    /**
     * One page of a conversation, merging across buckets. Buckets are visited from the one that can
     * hold the first message in page order; the walk stops as soon as no further bucket can hold a
     * message that belongs on the page, so a page touches only the buckets it needs.
     */
    async page(query: PageQuery): Promise<StoredMessage[]> {
      const lowTime = ulidTime(query.lowId);
      const highTime = ulidTime(query.highId);
      const candidates = (await listBuckets(query.conversationId, highTime)).filter(
        (bucket) => bucket.start <= highTime && bucketEnd(bucket) > lowTime,
      );
      const desc = query.order === 'desc';
      // Visit order: newest window end first (desc) or oldest start first (asc).
      candidates.sort((a, b) => (desc ? bucketEnd(b) - bucketEnd(a) || b.start - a.start : a.start - b.start));
      const statement = desc ? SELECT_RANGE_DESC : SELECT_RANGE_ASC;
      // Ids compare as strings: ULIDs sort lexicographically in time order.
      const before = (a: StoredMessage, b: StoredMessage) => (desc ? (a.id > b.id ? -1 : 1) : a.id < b.id ? -1 : 1);
      let collected: StoredMessage[] = [];
      for (const bucket of candidates) {
        const last = collected[query.limit - 1];
        if (collected.length >= query.limit && last) {
          const lastTime = ulidTime(last.id);
          if (desc ? bucketEnd(bucket) - 1 < lastTime : bucket.start > lastTime) break;
        }
        const result = await db.execute(
          statement,
          [query.conversationId, toDate(bucket.start), query.lowId, query.highId, query.limit + 1],
          { idempotent: true },
        );
        for (const row of result.rows) {
          if (row.message_id !== query.exclude && isMessageRow(row)) collected.push(toMessage(row));
        }
        collected.sort(before);
        collected = collected.slice(0, query.limit);
      }
      return collected;
    },

    /**
     * The messages with these ids (missing ones left out), one query per bucket of the current
     * window length (`IN` on the clustering key, inside one partition), then by id for any not
     * found there (a bucket written with another MESSAGE_BUCKET_MS).
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
      for (const id of ids) {
        if (found.has(id)) continue;
        const message = await findById(conversationId, id);
        if (message) found.set(id, message);
      }
      return ids.flatMap((id) => found.get(id) ?? []);
    },

    findById,
  };
}

export type MessageRepository = ReturnType<typeof createMessageRepository>;
