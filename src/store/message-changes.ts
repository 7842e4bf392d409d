import { createBoundedSet } from '../domain/bounded-set.js';
import { ulidTime } from '../domain/ids.js';
import { type Db, fromDate, toDate } from './client.js';

/**
 * The window of message_changes partitions: a constant (not MESSAGE_BUCKET_MS), so a window
 * start read from the index always names the same partition, whatever the configuration was
 * when its rows were written.
 */
export const CHANGE_BUCKET_MS = 10 * 24 * 60 * 60 * 1000;

const INSERT =
  'INSERT INTO message_changes (conversation_id, bucket, change_id, message_id, kind) VALUES (?, ?, ?, ?, ?)';
const INSERT_BUCKET = 'INSERT INTO message_change_buckets (conversation_id, bucket) VALUES (?, ?)';
const SELECT_BUCKETS =
  'SELECT bucket FROM message_change_buckets WHERE conversation_id = ? AND bucket >= ? AND bucket <= ?';
const SELECT_RANGE =
  'SELECT change_id, message_id FROM message_changes WHERE conversation_id = ? AND bucket = ? AND change_id >= ? AND change_id <= ? LIMIT ?';

/** What changed: `thread` is a thread root's summary (a new reply, services/messages/threads.ts). */
export type ChangeKind = 'edited' | 'deleted' | 'reaction' | 'thread';

export interface MessageChange {
  changeId: string;
  messageId: string;
}

const windowOf = (ms: number) => Math.floor(ms / CHANGE_BUCKET_MS) * CHANGE_BUCKET_MS;

/** message_changes (cql/0014): one row per change to an existing message, by change id. */
export function createMessageChangeRepository(db: Db, options: { knownBucketCapacity?: number } = {}) {
  // (conversation, window) index rows this process already wrote.
  const knownBuckets = createBoundedSet(options.knownBucketCapacity ?? 100_000);
  return {
    /** The index row first (when this process has not written it), so every change row is reachable. */
    async record(conversationId: string, changeId: string, messageId: string, kind: ChangeKind): Promise<void> {
      const window = windowOf(ulidTime(changeId));
      const bucketKey = `${conversationId}|${window}`;
      if (!knownBuckets.has(bucketKey)) {
        await db.execute(INSERT_BUCKET, [conversationId, toDate(window)], { idempotent: true });
        knownBuckets.add(bucketKey);
      }
      await db.execute(INSERT, [conversationId, toDate(window), changeId, messageId, kind], { idempotent: true });
    },

    /**
     * The conversation's changes with ids in [lowId, highId], oldest first, at most `limit`: one
     * index read, then the non-empty windows in order, stopping once `limit` are found.
     */
    async between(conversationId: string, lowId: string, highId: string, limit: number): Promise<MessageChange[]> {
      const changes: MessageChange[] = [];
      const windows = await db.all(SELECT_BUCKETS, [
        conversationId,
        toDate(windowOf(ulidTime(lowId))),
        toDate(windowOf(ulidTime(highId))),
      ]);
      for (const window of windows.map((row) => fromDate(row.bucket))) {
        if (changes.length >= limit) break;
        const result = await db.execute(
          SELECT_RANGE,
          [conversationId, toDate(window), lowId, highId, limit - changes.length],
          { idempotent: true },
        );
        for (const row of result.rows) changes.push({ changeId: row.change_id, messageId: row.message_id });
      }
      return changes;
    },
  };
}

export type MessageChangeRepository = ReturnType<typeof createMessageChangeRepository>;
