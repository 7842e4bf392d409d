import { AppError } from '../../domain/errors.js';
import type { Logger } from '../../logger.js';
import type { PendingSend, PendingSendRepository } from '../../store/pending-sends.js';
import type { MessageRows } from '../../store/threads.js';
import type { InFlight } from './in-flight.js';
import type { SyncNode } from './node.js';

/** A send between minting its id and settling it. */
export interface SendAttempt {
  readonly id: string;
  /** The insert's write timestamp (µs); an abort deletes at this + 1. */
  readonly writeTs: bigint;
  /** The node incarnation whose pending_sends partition holds it (and whose lease confirms it). */
  readonly incarnation: string;
  /** Monotonic time by which the insert must have completed (minting + D). */
  readonly deadline: number;
}

export type AbortReason = 'deadline' | 'lease' | 'error' | 'superseded';

const notStored = () =>
  new AppError(
    'UNAVAILABLE',
    'The message was not stored; retry, with the same idempotency key (clientMessageId) to be safe',
  );

/**
 * The send path's side of the stable position: mint an id in flight, record the pending send,
 * insert under the deadline D and the lease, confirm, settle. A send that cannot finish in time
 * is aborted with a delete that beats its insert, and only then stops holding the position back.
 */
export function createSendGuard(deps: {
  node: SyncNode;
  inFlight: InFlight;
  pending: PendingSendRepository;
  messages: Pick<MessageRows, 'abort'>;
  sendDeadlineMs: number;
  logger: Logger;
  monotonic: () => number;
  wallClock: () => number;
  sleep: (ms: number) => Promise<void>;
  onAborted?: (reason: AbortReason) => void;
  onAcknowledged?: (id: string) => void;
}) {
  const { node, inFlight } = deps;
  let lastTs = 0n;

  /** Runs `work` until it succeeds, backing off (a failure is logged every tenth attempt). */
  async function untilDone<T>(work: () => Promise<T>, failed: string, id: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (attempt % 10 === 0) deps.logger.warn({ err: error, id }, failed);
        await deps.sleep(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  /** Deletes at insert ts + 1 until Cassandra takes it; the id stays in flight (holding S) until then. */
  const abortUntilDone = (send: PendingSend) =>
    untilDone(
      () => deps.messages.abort(send.conversationId, send.bucketStart, send.messageId, send.writeTs, send.rootId),
      'abort delete failed; retrying',
      send.messageId,
    );

  const confirmUntilAnswered = (confirm: () => Promise<boolean>, id: string) =>
    untilDone(confirm, 'send confirmation failed; retrying', id);

  function begin(): SendAttempt {
    const id = inFlight.mint();
    // Strictly increasing per node, and the server's clock: only "delete = insert + 1" matters.
    const micros = BigInt(deps.wallClock()) * 1000n;
    lastTs = micros > lastTs ? micros : lastTs + 1n;
    return { id, writeTs: lastTs, incarnation: node.nodeId, deadline: deps.monotonic() + deps.sendDeadlineMs };
  }

  /**
   * A change that was not confirmed in time (or under the lease) rolls forward: its row write is
   * repeated until it is in (same values, same timestamp: idempotent), then the change is reported
   * again under a fresh change id, minted in flight and written under a valid lease. A reader
   * that pulled the first change id before the row write landed (or after S passed it on another
   * node, once the lease had lapsed) gets the row's final state from the second.
   */
  async function rollForward(
    attempt: SendAttempt,
    applyRow: () => Promise<void>,
    report: (id: string) => Promise<void>,
  ) {
    await untilDone(applyRow, 'message change failed; retrying', attempt.id);
    for (;;) {
      const again = begin();
      try {
        if (node.leaseValid(again.incarnation)) {
          await report(again.id);
          if (node.leaseValid(again.incarnation)) return;
        }
      } catch (error) {
        deps.logger.warn({ err: error, id: again.id }, 'reporting a message change failed; retrying');
      } finally {
        inFlight.settle(again.id);
      }
      await deps.sleep(100);
    }
  }

  return {
    /** D: how long after minting an insert may still complete. */
    deadlineMs: deps.sendDeadlineMs,

    /** Mints an id and holds the position below it until `confirmed`, `abandon` or an abort settles it. */
    begin,

    /** The attempt wrote nothing (or nothing that can become visible): stop holding the position. */
    abandon(attempt: SendAttempt): void {
      inFlight.settle(attempt.id);
    },

    /**
     * A change to an existing message (edit, delete, reaction; services/messages/mutations.ts)
     * under the attempt's change id: `applyRow` (the message row's write) and `report(id)` (the
     * change row and the activity mark under that id) run together, within the deadline and the
     * lease, and the id stays in flight until both are in, so S never passes a change whose rows
     * a reader could still miss. Resolves when both are in; otherwise the change rolls forward in
     * the background (rollForward) and this rejects with UNAVAILABLE ("not confirmed; being
     * applied; repeating it is safe"). No pending row: there is nothing to abort (the change is
     * applied, never undone), and the reaper needs none (see src/services/sync/README.md).
     */
    async storeChange(
      attempt: SendAttempt,
      applyRow: () => Promise<void>,
      report: (changeId: string) => Promise<void>,
    ): Promise<void> {
      if (!node.leaseValid(attempt.incarnation) || deps.monotonic() >= attempt.deadline) {
        inFlight.settle(attempt.id);
        throw notStored();
      }
      const writing = Promise.all([applyRow(), report(attempt.id)]);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, attempt.deadline - deps.monotonic()));
      });
      let done = false;
      try {
        done = (await Promise.race([writing.then(() => 'ok' as const), timedOut])) === 'ok';
      } catch (error) {
        deps.logger.warn({ err: error, id: attempt.id }, 'message change failed; rolling it forward');
      } finally {
        clearTimeout(timer);
        writing.catch(() => {});
      }
      if (done && node.leaseValid(attempt.incarnation)) {
        inFlight.settle(attempt.id);
        return;
      }
      const rolled = rollForward(attempt, applyRow, report).finally(() => inFlight.settle(attempt.id));
      await Promise.race([rolled, deps.sleep(deps.sendDeadlineMs)]);
      throw new AppError(
        'UNAVAILABLE',
        'The change was not confirmed in time; it is being applied and will reach every participant. Repeating the request is safe',
      );
    },

    /**
     * Records the pending send, runs `insert` within the deadline and the lease, then `confirm`
     * (the idempotent claim's flip; true when this attempt owns the message). Resolves when the
     * message is stored and confirmed; otherwise aborts it and rejects with UNAVAILABLE. Either
     * way the attempt is settled.
     */
    async store(
      attempt: SendAttempt,
      send: PendingSend,
      insert: () => Promise<void>,
      confirm?: () => Promise<boolean>,
    ): Promise<void> {
      try {
        await deps.pending.record(attempt.incarnation, send);
      } catch (error) {
        inFlight.settle(attempt.id);
        throw error;
      }
      // Checked before the insert too: an insert sent without a lease could land after a reaper
      // read this node's pending sends, and nobody would ever settle it.
      if (!node.leaseValid(attempt.incarnation) || deps.monotonic() >= attempt.deadline) {
        inFlight.settle(attempt.id);
        deps.onAborted?.(node.leaseValid(attempt.incarnation) ? 'deadline' : 'lease');
        throw notStored();
      }
      let reason: AbortReason | undefined;
      const inserting = insert();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, attempt.deadline - deps.monotonic()));
      });
      try {
        const outcome = await Promise.race([inserting.then(() => 'ok' as const), timedOut]);
        if (outcome === 'timeout') reason = 'deadline';
        else if (!node.leaseValid(attempt.incarnation)) reason = 'lease';
      } catch (error) {
        deps.logger.warn({ err: error, id: attempt.id }, 'send failed; aborting it');
        reason = 'error';
      } finally {
        clearTimeout(timer);
        // The insert may still finish (or fail) after the deadline: nobody waits for it.
        inserting.catch(() => {});
      }
      if (reason === undefined) {
        if (!confirm) {
          // Nothing to confirm (no idempotency claim): stored under the lease and in time.
          inFlight.settle(attempt.id);
          deps.onAcknowledged?.(attempt.id);
          return;
        }
        // The confirmation decides; when it cannot be had in time the id stays in flight until
        // it can (a lost LWT answer may still have applied: aborting then would delete a message
        // the claim calls stored).
        const confirming = confirmUntilAnswered(confirm, attempt.id).then(async (owned) => {
          if (!owned) {
            deps.onAborted?.('superseded');
            await abortUntilDone(send);
          }
          inFlight.settle(attempt.id);
          return owned;
        });
        const owned = await Promise.race([confirming, deps.sleep(deps.sendDeadlineMs).then(() => undefined)]);
        if (owned === true) {
          deps.onAcknowledged?.(attempt.id);
          return;
        }
        throw notStored();
      }
      deps.onAborted?.(reason);
      const aborted = abortUntilDone(send).finally(() => inFlight.settle(attempt.id));
      // Answer once the delete is in (503 then means "not stored"), but not later than another D.
      await Promise.race([aborted, deps.sleep(deps.sendDeadlineMs)]);
      throw notStored();
    },
  };
}

export type SendGuard = ReturnType<typeof createSendGuard>;
