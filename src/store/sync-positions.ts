import { type Db, toLong } from './client.js';

const SHARD = 0;
const REGISTER = 'INSERT INTO sync_positions (shard, node_id, position, sequence, state) VALUES (?, ?, ?, ?, ?)';
const REPORT = 'UPDATE sync_positions SET position = ?, sequence = ? WHERE shard = ? AND node_id = ?';
const SELECT_ALL = 'SELECT node_id, position, sequence, reaper, state FROM sync_positions WHERE shard = ?';
const CLAIM = 'UPDATE sync_positions SET reaper = ? WHERE shard = ? AND node_id = ? IF reaper = null';
const RECLAIM = 'UPDATE sync_positions SET reaper = ? WHERE shard = ? AND node_id = ? IF reaper = ?';
const SET_STATE = 'UPDATE sync_positions SET state = ?, position = ? WHERE shard = ? AND node_id = ?';

/** `live`: reporting; `left`: stopped after settling its sends; `settled`: reaped. */
export type NodeState = 'live' | 'left' | 'settled';

export interface NodePositionRow {
  nodeId: string;
  position: string;
  sequence: bigint;
  /** The node that claimed this row for reaping, if any. */
  reaper: string | null;
  state: NodeState;
}

/** The sync_positions table: one row per API node incarnation, all in one partition. */
export function createSyncPositionRepository(db: Db) {
  return {
    async register(nodeId: string, position: string): Promise<void> {
      await db.execute(REGISTER, [SHARD, nodeId, position, toLong(0n), 'live'], { idempotent: true });
    },
    async report(nodeId: string, position: string, sequence: bigint): Promise<void> {
      await db.execute(REPORT, [position, toLong(sequence), SHARD, nodeId], { idempotent: true });
    },
    async all(): Promise<NodePositionRow[]> {
      const rows = await db.all(SELECT_ALL, [SHARD]);
      return rows
        .filter((row) => typeof row.position === 'string')
        .map((row) => ({
          nodeId: row.node_id,
          position: row.position,
          sequence: BigInt(row.sequence?.toString() ?? '0'),
          reaper: row.reaper ?? null,
          state: (row.state as NodeState | null) ?? 'live',
        }));
    },
    /** Claims a row for reaping; true when this node won (LWT), including a re-claim from a dead reaper. */
    async claim(nodeId: string, reaper: string, previousReaper: string | null): Promise<boolean> {
      const result =
        previousReaper === null
          ? await db.execute(CLAIM, [reaper, SHARD, nodeId])
          : await db.execute(RECLAIM, [reaper, SHARD, nodeId, previousReaper]);
      return result.wasApplied();
    },
    /** Marks a row left or settled with its final position: ignored for S, still counted for id floors. */
    async finish(nodeId: string, state: Exclude<NodeState, 'live'>, position: string): Promise<void> {
      await db.execute(SET_STATE, [state, position, SHARD, nodeId], { idempotent: true });
    },
  };
}

export type SyncPositionRepository = ReturnType<typeof createSyncPositionRepository>;
