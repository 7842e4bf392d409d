import type { Db } from './client.js';

/**
 * `since` is the marker: it stays until a node that bumped the cache epoch deletes the row (or
 * the long marker TTL passes). `alive` is the fenced node saying "still cut off": it expires
 * after the short TTL unless the node refreshes it. One partition, so the batch is unlogged.
 */
const RAISE_MARKER = 'INSERT INTO cache_fences (scope, node_id, since) VALUES (?, ?, ?) USING TTL ?';
const RAISE_ALIVE = 'UPDATE cache_fences USING TTL ? SET alive = true WHERE scope = ? AND node_id = ?';
const CLEAR = 'DELETE FROM cache_fences WHERE scope = ? AND node_id = ?';
const LIST = 'SELECT node_id, since, alive, WRITETIME(since) AS written_at FROM cache_fences WHERE scope = ?';

/** A fence row: a node that lost cache write-throughs it could not make good in Redis. */
export interface CacheFenceRow {
  nodeId: string;
  since: Date;
  /** False once the short TTL passed without a refresh: the node crashed or cannot reach Cassandra. */
  alive: boolean;
  /** Write time of the marker (microseconds), so a later delete removes exactly this raise. */
  writtenAt: bigint;
}

/**
 * Cache fences (see src/cache/coherence.ts, rule 7): a node cut off from Redis raises its fence
 * here, in the one store every node still reaches, before it acknowledges a send whose
 * write-through was lost; every node's cache heartbeat lists the fences. `scope` names the cache
 * the fences guard (the Redis key prefix): all of one deployment's fences are one small
 * partition, read with one query, and deployments sharing a keyspace do not fence each other.
 */
export function createCacheFenceRepository(db: Db, scope: string) {
  const SCOPE = scope;
  return {
    /** Raises or refreshes a node's fence: alive for `ttlSeconds`, marker for `markerTtlSeconds`. */
    async raise(nodeId: string, ttlSeconds: number, options: { since: Date; markerTtlSeconds: number }) {
      await db.batch(
        [
          { query: RAISE_MARKER, params: [SCOPE, nodeId, options.since, options.markerTtlSeconds] },
          { query: RAISE_ALIVE, params: [ttlSeconds, SCOPE, nodeId] },
        ],
        { logged: false, idempotent: true },
      );
    },

    /**
     * Removes a node's fence. With `writtenAt`, only what was written up to then (USING
     * TIMESTAMP): a raise written later by a node that is alive after all survives.
     */
    async clear(nodeId: string, writtenAt?: bigint) {
      await db.execute(CLEAR, [SCOPE, nodeId], {
        idempotent: true,
        ...(writtenAt === undefined ? {} : { timestamp: writtenAt }),
      });
    },

    async list(): Promise<CacheFenceRow[]> {
      const result = await db.execute(LIST, [SCOPE], { idempotent: true });
      return result.rows
        .filter((row) => row.since instanceof Date)
        .map((row) => ({
          nodeId: row.node_id as string,
          since: row.since as Date,
          alive: row.alive === true,
          writtenAt: BigInt(String(row.written_at)),
        }));
    },
  };
}

export type CacheFenceRepository = ReturnType<typeof createCacheFenceRepository>;
