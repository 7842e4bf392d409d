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

  /** Deletes at insert ts + 1 until Cassandra takes it; the id stays in flight (holding S) until then. */
  async function abortUntilDone(send: PendingSend): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await deps.messages.abort(send.conversationId, send.bucketStart, send.messageId, send.writeTs, send.rootId);
        return;
      } catch (error) {
        if (attempt % 10 === 0) deps.logger.warn({ err: error, id: send.messageId }, 'abort delete failed; retrying');
        await deps.sleep(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  async function confirmUntilAnswered(confirm: () => Promise<boolean>, id: string): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await confirm();
      } catch (error) {
        if (attempt % 10 === 0) deps.logger.warn({ err: error, id }, 'send confirmation failed; retrying');
        await deps.sleep(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  return {
    /** D: how long after minting an insert may still complete. */
    deadlineMs: deps.sendDeadlineMs,

    /** Mints an id and holds the position below it until `confirmed`, `abandon` or an abort settles it. */
    begin(): SendAttempt {
      const id = inFlight.mint();
      // Strictly increasing per node, and the server's clock: only "delete = insert + 1" matters.
      const micros = BigInt(deps.wallClock()) * 1000n;
      lastTs = micros > lastTs ? micros : lastTs + 1n;
      return { id, writeTs: lastTs, incarnation: node.nodeId, deadline: deps.monotonic() + deps.sendDeadlineMs };
    },

    /** The attempt wrote nothing (or nothing that can become visible): stop holding the position. */
    abandon(attempt: SendAttempt): void {
      inFlight.settle(attempt.id);
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
