import { randomBytes } from 'node:crypto';
import type { IdSource } from '../../domain/ids.js';
import { stablePosition } from '../../domain/sync-cursor.js';
import type { Logger } from '../../logger.js';
import type { NodePositionRow, SyncPositionRepository } from '../../store/sync-positions.js';
import type { InFlight } from './in-flight.js';

export interface SyncTimings {
  /** How often the node reports its position and reads everyone's (SYNC_REPORT_INTERVAL_MS). */
  reportIntervalMs: number;
  /** L (SYNC_NODE_TIMEOUT_MS): a row unchanged this long is reaped; a lease lasts L/2. */
  nodeTimeoutMs: number;
}

/**
 * This node's part of the stable position: it registers a row (register, then read, then raise
 * the id floor: see README "Joining"), reports its position every interval, reads every row,
 * computes S, holds the lease that allows it to answer 201, and spots rows that stopped changing
 * (handing them to `reap`). The node id is per incarnation: a node that finds its row claimed by
 * a reaper takes a fresh id, because its old row's pending sends are being settled by someone else.
 */
export function createSyncNode(deps: {
  baseId: string;
  positions: SyncPositionRepository;
  inFlight: InFlight;
  ids: IdSource;
  timings: SyncTimings;
  logger: Logger;
  /** Monotonic milliseconds (performance.now in production). */
  monotonic: () => number;
  reap: (row: NodePositionRow, previousReaper: string | null) => void;
  onAdvance?: (position: string) => void;
}) {
  const { positions, inFlight, ids, timings, logger, monotonic } = deps;
  const newNodeId = () => `${deps.baseId}-${randomBytes(4).toString('hex')}`;
  let nodeId = newNodeId();
  let sequence = 0n;
  let reported = '';
  let stable = '';
  // Monotonic start of the last report whose write succeeded and whose read showed our row unclaimed.
  let leaseFrom: number | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  // Per other row: the sequence last seen and since when (our monotonic clock).
  const seen = new Map<string, { sequence: bigint; since: number }>();

  async function join(): Promise<void> {
    // Register first, read after: a node computing S before our row existed saw only rows that we
    // now read with positions at least as high, and our floor goes above all of them.
    const start = ids.lowerBound();
    await positions.register(nodeId, start);
    reported = start;
    raiseFloor(await positions.all());
    leaseFrom = undefined;
  }

  function raiseFloor(rows: NodePositionRow[]) {
    for (const row of rows) if (row.nodeId !== nodeId) ids.raiseFloor(row.position);
  }

  async function tick(): Promise<void> {
    const started = monotonic();
    const position = inFlight.position();
    sequence += 1n;
    let wrote = false;
    try {
      await positions.report(nodeId, position, sequence);
      reported = position;
      wrote = true;
    } catch (error) {
      logger.warn({ err: error, nodeId }, 'sync position report failed');
    }
    let rows: NodePositionRow[];
    try {
      rows = await positions.all();
    } catch (error) {
      logger.warn({ err: error }, 'sync positions read failed');
      return;
    }
    const own = rows.find((row) => row.nodeId === nodeId);
    if (!own || own.reaper !== null || own.state !== 'live') {
      // Reaped (or expired) while we could not report: our sends under the old id are someone
      // else's to settle now. Stop answering 201 under it and come back as a new node.
      logger.warn(
        { nodeId, reaper: own?.reaper ?? null },
        'sync row claimed by a reaper; rejoining with a new node id',
      );
      leaseFrom = undefined;
      nodeId = newNodeId();
      sequence = 0n;
      await join().catch((error) => logger.warn({ err: error }, 'sync rejoin failed'));
      return;
    }
    if (wrote) leaseFrom = started;
    raiseFloor(rows);

    const holding: string[] = [reported];
    const live = new Set(rows.filter((row) => row.state === 'live' && row.reaper === null).map((row) => row.nodeId));
    for (const row of rows) {
      if (row.nodeId === nodeId || row.state !== 'live') continue;
      // Claimed-but-unsettled rows still hold S back: their sends are being settled.
      holding.push(row.position);
      const last = seen.get(row.nodeId);
      if (!last || last.sequence !== row.sequence) {
        seen.set(row.nodeId, { sequence: row.sequence, since: started });
      } else if (started - last.since >= timings.nodeTimeoutMs) {
        if (row.reaper === null) deps.reap(row, null);
        // Our own earlier reap failed, or its reaper died (its row is no longer live): claim it again.
        else if (row.reaper === nodeId || !live.has(row.reaper)) deps.reap(row, row.reaper);
      }
    }
    for (const id of seen.keys()) if (!rows.some((row) => row.nodeId === id && row.state === 'live')) seen.delete(id);

    const next = stablePosition(holding, stable);
    if (next !== stable) {
      stable = next;
      deps.onAdvance?.(stable);
    }
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(() => {
      ticking = tick()
        .catch((error) => logger.error({ err: error }, 'sync tick failed'))
        .finally(schedule);
    }, timings.reportIntervalMs);
    timer.unref();
  }

  return {
    get nodeId() {
      return nodeId;
    },
    /** Joins and takes the first lease; the node serves sends only after this resolves. */
    async start(): Promise<void> {
      await join();
      await tick();
      schedule();
    },
    /** S: every id below it has settled for good on every node. */
    current(): string {
      return stable;
    },
    /**
     * True while this incarnation may answer 201: its last good report started less than L/2
     * ago. A reaper waits L/2 after claiming before it reads our pending sends, so any send we
     * confirm under a valid lease was inserted before the reaper looks (README, "Lease").
     */
    leaseValid(incarnation: string): boolean {
      return (
        !stopped &&
        incarnation === nodeId &&
        leaseFrom !== undefined &&
        monotonic() - leaseFrom < timings.nodeTimeoutMs / 2
      );
    },
    /** Stops reporting; with `left`, marks the row left at its final position (after the caller drained sends). */
    async stop(left: boolean): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await ticking;
      if (left) await positions.finish(nodeId, 'left', inFlight.position()).catch(() => {});
    },
  };
}

export type SyncNode = ReturnType<typeof createSyncNode>;
