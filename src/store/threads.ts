import { createBoundedSet } from '../domain/bounded-set.js';
import type { Bucket } from '../domain/buckets.js';
import { ulidTime, ulidWriteTimestampMicros } from '../domain/ids.js';
import { replyCountWriteTimestamp, threadWindowOf } from '../domain/threads.js';
import type { StoredMessage, ThreadSummary } from '../domain/types.js';
import { findInBuckets, type IdRange, walkBuckets } from './bucket-walk.js';
import { type Db, fromDate, type Row, toDate } from './client.js';
import { isMessageRow, messageValues, toMessage } from './messages.js';

const REPLY_COLUMNS =
  'message_id, conversation_id, root_id, sender_id, receiver_id, group_id, content, client_ts, reply_to_id, edited_at, deleted_at, reactions';
const INSERT_REPLY =
  'INSERT INTO thread_messages (conversation_id, root_id, bucket, message_id, sender_id, receiver_id, group_id, content, client_ts, reply_to_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
const DELETE_REPLY =
  'DELETE FROM thread_messages WHERE conversation_id = ? AND root_id = ? AND bucket = ? AND message_id = ?';
const SELECT_REPLY = `SELECT ${REPLY_COLUMNS} FROM thread_messages WHERE conversation_id = ? AND root_id = ? AND bucket = ? AND message_id = ?`;
const SELECT_SOME = `SELECT ${REPLY_COLUMNS} FROM thread_messages WHERE conversation_id = ? AND root_id = ? AND bucket = ? AND message_id IN ?`;
const SELECT_RANGE_DESC = `SELECT ${REPLY_COLUMNS} FROM thread_messages WHERE conversation_id = ? AND root_id = ? AND bucket = ? AND message_id >= ? AND message_id <= ? ORDER BY message_id DESC LIMIT ?`;
const SELECT_RANGE_ASC = `SELECT ${REPLY_COLUMNS} FROM thread_messages WHERE conversation_id = ? AND root_id = ? AND bucket = ? AND message_id >= ? AND message_id <= ? ORDER BY message_id ASC LIMIT ?`;
const COUNT_BUCKET =
  'SELECT COUNT(*) AS replies FROM thread_messages WHERE conversation_id = ? AND root_id = ? AND bucket = ?';
const INSERT_BUCKET = 'INSERT INTO thread_buckets (conversation_id, root_id, bucket, bucket_ms) VALUES (?, ?, ?, ?)';
const SELECT_BUCKETS_UP_TO =
  'SELECT bucket, bucket_ms FROM thread_buckets WHERE conversation_id = ? AND root_id = ? AND bucket <= ?';
const SET_REPLY_COUNT =
  'UPDATE thread_summaries SET reply_count = ? WHERE conversation_id = ? AND time_window = ? AND root_id = ?';
const SET_LAST_REPLY =
  'UPDATE thread_summaries SET last_reply_id = ? WHERE conversation_id = ? AND time_window = ? AND root_id = ?';
const SELECT_SUMMARIES =
  'SELECT root_id, reply_count, last_reply_id FROM thread_summaries WHERE conversation_id = ? AND time_window = ? AND root_id IN ?';
const SELECT_WINDOW_SUMMARIES =
  'SELECT root_id, reply_count, last_reply_id FROM thread_summaries WHERE conversation_id = ? AND time_window = ?';
const INSERT_REPLY_ROOT =
  'INSERT INTO thread_reply_roots (conversation_id, time_window, message_id, root_id) VALUES (?, ?, ?, ?)';
const SELECT_REPLY_ROOT =
  'SELECT root_id FROM thread_reply_roots WHERE conversation_id = ? AND time_window = ? AND message_id = ?';

/** The latest time a ULID can carry: "every bucket" for the bucket index read. */
const MAX_ULID_TIME_MS = 2 ** 48 - 1;

/** A page request of one thread in id space (store/bucket-walk.ts). */
export interface ThreadPageQuery extends IdRange {
  conversationId: string;
  rootId: string;
}

/**
 * Threads (cql/0015_threads.cql): the replies, bucketed by (conversation, root, time window) like
 * messages and with their own bucket index; each root's summary; and each reply's root by id.
 * The main history never reads these tables, which is what keeps thread replies out of it.
 */
export function createThreadRepository(db: Db, options: { knownBucketCapacity?: number } = {}) {
  // (conversation, root, bucket) index rows this process already wrote (once per new bucket).
  const knownBuckets = createBoundedSet(options.knownBucketCapacity ?? 100_000);

  async function listBuckets(conversationId: string, rootId: string, startingUpTo: number): Promise<Bucket[]> {
    const rows = await db.all(SELECT_BUCKETS_UP_TO, [conversationId, rootId, toDate(startingUpTo)]);
    return rows.map((row) => ({ start: fromDate(row.bucket), lengthMs: Number(row.bucket_ms) }));
  }

  return {
    /**
     * Stores a thread reply durably (`message.threadId` is its root). The bucket index row goes
     * first, so a stored reply is always reachable through it; the write timestamp is the window
     * length, as for messages (the longest length written for a bucket start wins).
     */
    async insert(message: StoredMessage, bucket: Bucket, writeTs?: bigint): Promise<void> {
      const rootId = message.threadId;
      if (!rootId) throw new Error('a thread reply needs its root');
      const bucketKey = `${message.conversationId}|${rootId}|${bucket.start}`;
      if (!knownBuckets.has(bucketKey)) {
        await db.execute(INSERT_BUCKET, [message.conversationId, rootId, toDate(bucket.start), bucket.lengthMs], {
          idempotent: true,
          timestamp: BigInt(bucket.lengthMs),
        });
        knownBuckets.add(bucketKey);
      }
      await db.execute(
        INSERT_REPLY,
        [message.conversationId, rootId, toDate(bucket.start), ...messageValues(message)],
        { idempotent: true, ...(writeTs === undefined ? {} : { timestamp: writeTs }) },
      );
    },

    /** Aborts an unfinished reply for good: a delete at the insert's timestamp + 1 (see messages.abort). */
    async abort(
      conversationId: string,
      rootId: string,
      bucketStart: number,
      messageId: string,
      insertTs: bigint,
    ): Promise<void> {
      await db.execute(DELETE_REPLY, [conversationId, rootId, toDate(bucketStart), messageId], {
        idempotent: true,
        timestamp: insertTs + 1n,
      });
    },

    /** One page of a thread, merging across its buckets (store/bucket-walk.ts). */
    async page(query: ThreadPageQuery): Promise<StoredMessage[]> {
      const statement = query.order === 'desc' ? SELECT_RANGE_DESC : SELECT_RANGE_ASC;
      const buckets = await listBuckets(query.conversationId, query.rootId, ulidTime(query.highId));
      return walkBuckets(buckets, query, async (bucket, limit) => {
        const result = await db.execute(
          statement,
          [query.conversationId, query.rootId, toDate(bucket.start), query.lowId, query.highId, limit],
          { idempotent: true },
        );
        return result.rows.filter(isMessageRow).map(toMessage);
      });
    },

    /** A reply by id (one partition read in the usual case). */
    async findById(
      conversationId: string,
      rootId: string,
      messageId: string,
      likely?: Bucket,
    ): Promise<StoredMessage | undefined> {
      const lookUp = async (bucket: Bucket) => {
        const result = await db.execute(SELECT_REPLY, [conversationId, rootId, toDate(bucket.start), messageId], {
          idempotent: true,
        });
        const row = result.first();
        return row && isMessageRow(row) ? toMessage(row) : undefined;
      };
      return findInBuckets(messageId, likely, (time) => listBuckets(conversationId, rootId, time), lookUp);
    },

    /**
     * Those of `ids` that are replies of this thread, in `ids` order (others left out: main-history
     * messages, replies of other threads): what a thread catch-up page returns as `updates`. One
     * read of the thread's bucket index, then one `IN` read per bucket that can hold an id; an id
     * no bucket of this thread covers costs nothing (most ids of a conversation's change stream).
     */
    async findMany(conversationId: string, rootId: string, ids: readonly string[]): Promise<StoredMessage[]> {
      if (ids.length === 0) return [];
      const buckets = await listBuckets(conversationId, rootId, MAX_ULID_TIME_MS);
      const byBucket = new Map<Bucket, string[]>();
      for (const id of ids) {
        const time = ulidTime(id);
        const bucket = buckets.find((b) => b.start <= time && time < b.start + b.lengthMs);
        if (bucket) byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), id]);
      }
      const found = new Map<string, StoredMessage>();
      await Promise.all(
        [...byBucket].map(async ([bucket, some]) => {
          const result = await db.execute(SELECT_SOME, [conversationId, rootId, toDate(bucket.start), some], {
            idempotent: true,
          });
          for (const row of result.rows) if (isMessageRow(row)) found.set(row.message_id, toMessage(row));
        }),
      );
      return ids.flatMap((id) => found.get(id) ?? []);
    },

    /**
     * How many replies the thread holds: one COUNT per bucket of the thread (O(replies) rows read
     * inside Cassandra, one round trip per bucket). Measured in docs/data-model.md ("Threads").
     */
    async countReplies(conversationId: string, rootId: string): Promise<number> {
      const buckets = await listBuckets(conversationId, rootId, MAX_ULID_TIME_MS);
      const counts = await Promise.all(
        buckets.map((bucket) =>
          db
            .execute(COUNT_BUCKET, [conversationId, rootId, toDate(bucket.start)], { idempotent: true })
            .then((result) => Number(result.first()?.replies ?? 0)),
        ),
      );
      return counts.reduce((sum, count) => sum + count, 0);
    },

    /**
     * A root's reply count, written with the count as write timestamp: the highest wins
     * (domain/threads.ts says why that is exact). No read before write, no lightweight
     * transaction, any order of concurrent writers.
     */
    async writeReplyCount(conversationId: string, rootId: string, replyCount: number): Promise<void> {
      await db.execute(SET_REPLY_COUNT, [replyCount, conversationId, toDate(threadWindowOf(rootId)), rootId], {
        idempotent: true,
        timestamp: replyCountWriteTimestamp(replyCount),
      });
    },

    /** A root's newest reply, written with the reply id's time: the newest wins, in any order. */
    async writeLastReply(conversationId: string, rootId: string, replyId: string): Promise<void> {
      await db.execute(SET_LAST_REPLY, [replyId, conversationId, toDate(threadWindowOf(rootId)), rootId], {
        idempotent: true,
        timestamp: ulidWriteTimestampMicros(replyId),
      });
    },

    /**
     * The summaries of those of `messageIds` that are thread roots: one read per fixed window the
     * ids span (`root_id IN` the ids of that window), so a history page costs one or two.
     */
    async summariesOf(conversationId: string, messageIds: readonly string[]): Promise<Map<string, ThreadSummary>> {
      const byWindow = new Map<number, string[]>();
      for (const id of messageIds) {
        const window = threadWindowOf(id);
        byWindow.set(window, [...(byWindow.get(window) ?? []), id]);
      }
      const found = new Map<string, ThreadSummary>();
      await Promise.all(
        [...byWindow].map(async ([window, ids]) => {
          const result = await db.execute(SELECT_SUMMARIES, [conversationId, toDate(window), ids], {
            idempotent: true,
          });
          collectSummaries(result.rows, found);
        }),
      );
      return found;
    },

    /**
     * Every root's summary in one window of the conversation (the whole partition: one row per
     * root with replies in those 10 days), what the summaries cache fills a window with.
     */
    async summariesInWindow(conversationId: string, window: number): Promise<Map<string, ThreadSummary>> {
      return collectSummaries(await db.all(SELECT_WINDOW_SUMMARIES, [conversationId, toDate(window)]), new Map());
    },

    /** Records which thread a reply is in; written before the reply itself. */
    async recordReplyRoot(conversationId: string, messageId: string, rootId: string): Promise<void> {
      await db.execute(INSERT_REPLY_ROOT, [conversationId, toDate(threadWindowOf(messageId)), messageId, rootId], {
        idempotent: true,
      });
    },

    /** The root of the thread a message is a reply in, when it is one (a reply that was aborted may still answer). */
    async rootOf(conversationId: string, messageId: string): Promise<string | undefined> {
      const result = await db.execute(
        SELECT_REPLY_ROOT,
        [conversationId, toDate(threadWindowOf(messageId)), messageId],
        {
          idempotent: true,
        },
      );
      const root = result.first()?.root_id;
      return typeof root === 'string' ? root : undefined;
    },
  };
}

export type ThreadRepository = ReturnType<typeof createThreadRepository>;

/** Summary rows → root id → summary (rows from before a count or last reply was written are skipped). */
function collectSummaries(rows: Row[], into: Map<string, ThreadSummary>): Map<string, ThreadSummary> {
  for (const row of rows) {
    if (typeof row.last_reply_id !== 'string' || row.reply_count == null) continue;
    into.set(row.root_id, {
      replyCount: Number(row.reply_count),
      lastReplyId: row.last_reply_id,
      lastReplyAt: ulidTime(row.last_reply_id),
    });
  }
  return into;
}

/**
 * Where a message's row lives: `rootId` null → messages, else that thread's replies. The sync
 * guard, the reaper and an idempotent take-over abort and look up unfinished sends through this,
 * so a thread reply is aborted in thread_messages (deleting from messages would leave it visible).
 */
export function messageRows(
  messages: {
    findById(conversationId: string, messageId: string, likely?: Bucket): Promise<StoredMessage | undefined>;
    abort(conversationId: string, bucketStart: number, messageId: string, insertTs: bigint): Promise<void>;
  },
  threads: Pick<ThreadRepository, 'findById' | 'abort'>,
) {
  return {
    findById(conversationId: string, messageId: string, likely?: Bucket, rootId?: string | null) {
      return rootId
        ? threads.findById(conversationId, rootId, messageId, likely)
        : messages.findById(conversationId, messageId, likely);
    },
    abort(conversationId: string, bucketStart: number, messageId: string, insertTs: bigint, rootId?: string | null) {
      return rootId
        ? threads.abort(conversationId, rootId, bucketStart, messageId, insertTs)
        : messages.abort(conversationId, bucketStart, messageId, insertTs);
    },
  };
}

export type MessageRows = ReturnType<typeof messageRows>;
