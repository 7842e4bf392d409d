import { type Db, fromDate, toDate } from './client.js';

const INSERT_BLOCK = 'INSERT INTO blocks_by_user (user_id, blocked_id, blocked_at) VALUES (?, ?, ?)';
const INSERT_BLOCKED_BY = 'INSERT INTO blocked_by_user (blocked_id, blocker_id) VALUES (?, ?)';
const DELETE_BLOCK = 'DELETE FROM blocks_by_user WHERE user_id = ? AND blocked_id = ?';
const DELETE_BLOCKED_BY = 'DELETE FROM blocked_by_user WHERE blocked_id = ? AND blocker_id = ?';
const SELECT_BLOCK = 'SELECT blocked_at FROM blocks_by_user WHERE user_id = ? AND blocked_id = ?';
const SELECT_BLOCKS = 'SELECT blocked_id, blocked_at FROM blocks_by_user WHERE user_id = ? LIMIT ?';
const COUNT_BLOCKS = 'SELECT COUNT(*) AS n FROM blocks_by_user WHERE user_id = ?';
const SELECT_BLOCKERS_AMONG = 'SELECT blocker_id FROM blocked_by_user WHERE blocked_id = ? AND blocker_id IN ?';

/** Candidates one `blocker_id IN (…)` read names at most (a large group's creation reads in chunks). */
const IN_CHUNK = 100;

export interface Block {
  userId: string;
  blockedAt: number;
}

/**
 * Blocks between users (cql/0016): blocks_by_user (whom a user blocked, and when) and its
 * reverse blocked_by_user (who blocked a user), written together in one logged batch so that a
 * check from either side agrees once the batch is accepted.
 */
export function createBlockRepository(db: Db) {
  return {
    /**
     * Records the block at `timestamp` (microseconds), both directions in one logged batch.
     * Idempotent: a repeat rewrites the same rows (its blocked_at is the newer time, which is
     * why the service keeps the first one by reading before writing).
     */
    async block(userId: string, blockedId: string, blockedAt: number, timestamp: bigint): Promise<void> {
      await db.batch(
        [
          { query: INSERT_BLOCK, params: [userId, blockedId, toDate(blockedAt)] },
          { query: INSERT_BLOCKED_BY, params: [blockedId, userId] },
        ],
        { logged: true, idempotent: true, timestamp },
      );
    },

    /** Removes the block, both directions, in one logged batch (idempotent). */
    async unblock(userId: string, blockedId: string, timestamp: bigint): Promise<void> {
      await db.batch(
        [
          { query: DELETE_BLOCK, params: [userId, blockedId] },
          { query: DELETE_BLOCKED_BY, params: [blockedId, userId] },
        ],
        { logged: true, idempotent: true, timestamp },
      );
    },

    /** When `userId` blocked `blockedId`, or undefined (one row). */
    async findBlock(userId: string, blockedId: string): Promise<number | undefined> {
      const row = (await db.execute(SELECT_BLOCK, [userId, blockedId], { idempotent: true })).first();
      return row ? fromDate(row.blocked_at) : undefined;
    },

    /** Whom `userId` blocked, in user-id order, at most `limit` (one partition). */
    async list(userId: string, limit: number): Promise<Block[]> {
      const result = await db.execute(SELECT_BLOCKS, [userId, limit], { idempotent: true, fetchSize: limit });
      return result.rows.map((row) => ({ userId: row.blocked_id, blockedAt: fromDate(row.blocked_at) }));
    },

    async count(userId: string): Promise<number> {
      const row = (await db.execute(COUNT_BLOCKS, [userId], { idempotent: true })).first();
      return Number(row?.n ?? 0);
    },

    /** Those of `candidates` who blocked `userId`: one partition, ⌈n/100⌉ reads of at most 100 rows each. */
    async blockersAmong(userId: string, candidates: readonly string[]): Promise<Set<string>> {
      const unique = [...new Set(candidates)];
      const found = new Set<string>();
      for (let i = 0; i < unique.length; i += IN_CHUNK) {
        const chunk = unique.slice(i, i + IN_CHUNK);
        const result = await db.execute(SELECT_BLOCKERS_AMONG, [userId, chunk], { idempotent: true });
        for (const row of result.rows) found.add(row.blocker_id as string);
      }
      return found;
    },
  };
}

export type BlockRepository = ReturnType<typeof createBlockRepository>;
