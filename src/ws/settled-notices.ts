import { minUlidAt } from '../domain/ids.js';
import { encodeFrame } from './protocol.js';

/** What a notice needs of a connection: a way to send it one frame. */
export interface NoticeTarget {
  send(text: string): boolean;
}

export interface SettledNoticeOptions {
  /** Wall-clock milliseconds, the clock ids are minted from. */
  now: () => number;
  /**
   * How far ahead of this node's clock another node's ids may run. A message published before
   * the connection subscribed carries an id below `now + marginMs` when the nodes' clocks agree
   * that closely; beyond it the client's periodic catch-up is what finds it (src/ws/README.md).
   */
  marginMs: number;
  /**
   * The wait between this node's stable position passing a connection's threshold and the
   * notice. The catch-up it starts may land on another node, whose S trails this one's by up
   * to a report interval: told at once, the client could ask that node before it got there.
   */
  delayMs: number;
  observer?: { settledSent(count: number): void };
}

/**
 * How far apart the nodes' clocks may be for the notice to be exact: NTP keeps servers within
 * milliseconds; half a second also covers a node whose ids were floored up to a fast peer's.
 * Further apart, the periodic catch-up finds what the notice came too early for.
 */
export const SETTLED_CLOCK_MARGIN_MS = 500;

/** Notices due together go out this many at a time, this far apart. */
export const SETTLED_BATCH = 200;
export const SETTLED_BATCH_GAP_MS = 100;

/** The frame: "everything stored before you subscribed is below the stable position now". */
export const SETTLED_FRAME = encodeFrame({ type: 'settled', data: {} });

/**
 * One `settled` frame per connection, when a catch-up would return everything stored before it
 * subscribed. A message answered 201 just before a socket subscribed is not heard live, and the
 * catch-up after `ready` returns it only once every send below its id has settled (the stable
 * position S, normally ~0.2 s behind, tens of seconds while a SIGKILLed node holds it until it is
 * reaped). Clients used to guess: catch up again 1.5 s after `ready`, then every 30 s. One that
 * reconnected during a hold waited up to 30 s for a message that was stored, acknowledged and
 * catch-up-visible long before (the #14 fault suite and a CI run both saw it). The node knows
 * when S passes the point the connection subscribed at, so it says so.
 */
export function createSettledNotices(options: SettledNoticeOptions) {
  // Each waiting connection with the position S must reach; few at a time (connections of the
  // last second or so), many only while S is held, and then each is told once when it moves.
  const waiting = new Map<NoticeTarget, string>();

  return {
    /** Call when the connection got `ready` (its subscriptions hold from now on). */
    watch(connection: NoticeTarget): void {
      waiting.set(connection, minUlidAt(options.now() + options.marginMs));
    },
    /** Call when the connection closes. */
    forget(connection: NoticeTarget): void {
      waiting.delete(connection);
    },
    /** This node's stable position moved to `position`. */
    advanced(position: string): void {
      const due: NoticeTarget[] = [];
      for (const [connection, threshold] of waiting) {
        if (threshold > position) continue;
        due.push(connection);
        waiting.delete(connection);
      }
      // When a held position moves, every connection that came in meanwhile is due at once: in
      // batches, 100 ms apart, so thousands of clients reconnected after a node died do not all
      // catch up in the same instant (10,000 spread over 5 s).
      for (let start = 0; start < due.length; start += SETTLED_BATCH) {
        const batch = due.slice(start, start + SETTLED_BATCH);
        const timer = setTimeout(
          () => {
            let sent = 0;
            for (const connection of batch) if (connection.send(SETTLED_FRAME)) sent++;
            if (sent > 0) options.observer?.settledSent(sent);
          },
          options.delayMs + (start / SETTLED_BATCH) * SETTLED_BATCH_GAP_MS,
        );
        timer.unref();
      }
    },
    /** Connections still waiting (a gauge, and for tests). */
    get waiting(): number {
      return waiting.size;
    },
  };
}

export type SettledNotices = ReturnType<typeof createSettledNotices>;
