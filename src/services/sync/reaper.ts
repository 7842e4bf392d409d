import { ulidTime } from '../../domain/ids.js';
import type { Logger } from '../../logger.js';
import type { IdempotencyRepository } from '../../store/idempotency.js';
import type { PendingSend, PendingSendRepository } from '../../store/pending-sends.js';
import type { NodePositionRow, SyncPositionRepository } from '../../store/sync-positions.js';
import type { MessageRows } from '../../store/threads.js';
import type { SyncTimings } from './node.js';

/** The stores and settings the sync parts share (createSync takes them and passes them on). */
export interface SyncStores {
  positions: SyncPositionRepository;
  pending: PendingSendRepository;
  /** Where each send's row lives (messages, or its thread's replies). */
  messages: Pick<MessageRows, 'findById' | 'abort'>;
  idempotency: Pick<IdempotencyRepository, 'markStored'>;
  timings: SyncTimings;
  sendDeadlineMs: number;
  bucketMs: number;
  logger: Logger;
}

/**
 * Settles the sends of a node that stopped reporting, then marks its row settled so S moves on.
 * Claim (LWT, one reaper at a time), wait L/2 so every lease the node may still hold has run out
 * (after that it confirms nothing and inserts nothing), read its pending sends from its last
 * position on, and for each: found at quorum → keep (an idempotent claim is flipped to stored, or
 * the message is aborted when a retry already took the claim over); missing → abort with the
 * delete that beats the insert, so a write still travelling can never surface.
 */
export function createReaper(
  deps: SyncStores & {
    selfId: () => string;
    now: () => number;
    sleep: (ms: number) => Promise<void>;
    onReaped?: () => void;
  },
) {
  const busy = new Set<string>();

  async function settle(send: PendingSend): Promise<void> {
    const found = await deps.messages.findById(
      send.conversationId,
      send.messageId,
      { start: send.bucketStart, lengthMs: deps.bucketMs },
      send.rootId,
    );
    let keep = found !== undefined;
    if (keep && send.idempotencyKey !== null) {
      // Kept only if the claim still names this id; a retry that took it over stores a fresh one.
      keep = await deps.idempotency.markStored(send.senderId, send.idempotencyKey, send.messageId);
    }
    if (!keep) {
      await deps.messages.abort(send.conversationId, send.bucketStart, send.messageId, send.writeTs, send.rootId);
    }
  }

  async function reap(row: NodePositionRow, previousReaper: string | null): Promise<void> {
    const me = deps.selfId();
    if (!(await deps.positions.claim(row.nodeId, me, previousReaper))) return;
    deps.logger.warn({ node: row.nodeId, position: row.position }, 'reaping a node that stopped reporting');
    await deps.sleep(deps.timings.nodeTimeoutMs / 2 + deps.timings.reportIntervalMs);
    const until = Math.max(deps.now(), ulidTime(row.position)) + deps.timings.nodeTimeoutMs + deps.sendDeadlineMs;
    const sends = await deps.pending.since(row.nodeId, row.position, until);
    for (const send of sends) await settle(send);
    await deps.positions.finish(row.nodeId, 'settled', row.position);
    deps.logger.warn({ node: row.nodeId, settled: sends.length }, 'reaped');
    deps.onReaped?.();
  }

  return {
    /** Starts reaping `row` unless this node is already at it; failures are retried by a later tick. */
    reap(row: NodePositionRow, previousReaper: string | null): void {
      if (busy.has(row.nodeId)) return;
      busy.add(row.nodeId);
      reap(row, previousReaper)
        .catch((error) => deps.logger.warn({ err: error, node: row.nodeId }, 'reaping failed; will retry'))
        .finally(() => busy.delete(row.nodeId));
    },
  };
}
