/**
 * Reconnect delays: exponential from `initialMs` to `maxMs`, with random jitter. Why the jitter:
 * when a node dies, all of its clients see the close at the same instant; without it they all
 * come back at 0.5 s, 1 s, 2 s… in lockstep and hit the surviving nodes as one wave each time.
 */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
}

export function createBackoff(options: BackoffOptions = {}, random: () => number = Math.random) {
  const initialMs = options.initialMs ?? 500;
  const maxMs = options.maxMs ?? 30_000;
  let current = initialMs;
  return {
    /** The next delay: the current step plus up to half of it at random; then the step doubles. */
    next(): number {
      const delay = current + random() * current * 0.5;
      current = Math.min(current * 2, maxMs);
      return Math.min(delay, maxMs * 1.5);
    },
    /** After a `ready`: the connection worked, start over from the first step. */
    reset() {
      current = initialMs;
    },
  };
}

/** After a 1001 (the node is going away, others are fine): at once, spread over 0–1 s. */
export const shutdownDelay = (random: () => number = Math.random) => random() * 1_000;
