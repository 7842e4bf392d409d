import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createIdSource } from '../../domain/ids.js';
import type { StablePosition } from '../ports.js';
import { type AbortReason, createSendGuard } from './guard.js';
import { createInFlight } from './in-flight.js';
import { createLagTracker } from './lag.js';
import { createSyncNode } from './node.js';
import { createReaper, type SyncStores } from './reaper.js';

export type { AbortReason, SendAttempt, SendGuard } from './guard.js';

export interface SyncObserver {
  catchUpLag(seconds: number): void;
  sendAborted(reason: AbortReason): void;
  nodeReaped(): void;
}

/**
 * The stable position of the message stream and the send guard that keeps it true (README.md
 * beside this file states the guarantee and the argument). One per container: its own id
 * source, in-flight set and node row.
 */
export function createSync(
  deps: SyncStores & {
    baseNodeId: string;
    /** Test-only skew of this node's wall clock (SYNC_TEST_CLOCK_OFFSET_MS). */
    clockOffsetMs: number;
    observer?: SyncObserver;
  },
) {
  const wallClock = () => Date.now() + deps.clockOffsetMs;
  const monotonic = () => performance.now();
  const ids = createIdSource({ now: wallClock });
  const inFlight = createInFlight(ids);
  const lag = createLagTracker((seconds) => deps.observer?.catchUpLag(seconds));
  const advanceListeners = new Set<(position: string) => void>();
  const reaper = createReaper({
    ...deps,
    selfId: () => node.nodeId,
    now: wallClock,
    sleep: (ms) => sleep(ms),
    onReaped: () => deps.observer?.nodeReaped(),
  });
  const node = createSyncNode({
    baseId: deps.baseNodeId,
    positions: deps.positions,
    inFlight,
    ids,
    timings: deps.timings,
    logger: deps.logger,
    monotonic,
    reap: reaper.reap,
    onAdvance: (position) => {
      lag.passed(position, monotonic());
      for (const listener of advanceListeners) listener(position);
    },
  });
  const guard = createSendGuard({
    node,
    inFlight,
    pending: deps.pending,
    messages: deps.messages,
    sendDeadlineMs: deps.sendDeadlineMs,
    logger: deps.logger,
    monotonic,
    wallClock,
    sleep: (ms) => sleep(ms),
    onAborted: (reason) => deps.observer?.sendAborted(reason),
    onAcknowledged: (id) => lag.acknowledged(id, monotonic()),
  });
  const position: StablePosition = { current: async () => node.current() };

  return {
    position,
    guard,
    get nodeId() {
      return node.nodeId;
    },
    start: () => node.start(),
    /**
     * Whether this node may answer 201 now: it holds its lease (its last good position report
     * started less than L/2 ago). Without it every send answers 503, so readiness reports it.
     */
    holdsLease: () => node.leaseValid(node.nodeId),
    /** Calls `listener` with S each time it moves (the gateway's `settled` notices); returns the unsubscribe. */
    onAdvance(listener: (position: string) => void): () => void {
      advanceListeners.add(listener);
      return () => advanceListeners.delete(listener);
    },
    /**
     * Stops reporting. Waits (up to 2·D) for this node's sends to settle and then marks the row
     * left, so S moves on at once; with sends still open the row stays live and is reaped after L.
     */
    async stop(): Promise<void> {
      const until = monotonic() + 2 * deps.sendDeadlineMs;
      while (inFlight.size > 0 && monotonic() < until) await sleep(20);
      await node.stop(inFlight.size === 0);
    },
  };
}

export type Sync = ReturnType<typeof createSync>;
