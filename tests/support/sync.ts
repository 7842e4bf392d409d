import type { Container } from '../../src/container.js';

/**
 * How long a test waits for catch-up (`after=`) to reach a message it just sent. Normally a
 * fraction of a second, but the stable position is shared by every node on the test keyspace:
 * a node another test file SIGKILLs holds it back until a live node reaps it, L (the default
 * SYNC_NODE_TIMEOUT_MS, 10 s) after its row stopped changing plus L/2 before the reaper settles
 * it, and again if that reaper's own test ends first. A CI run failed on a 10 s wait this way.
 */
export const CATCH_UP_WITHIN_MS = 40_000;

/**
 * Resolves once the node's stable position has passed `id`: from then on a catch-up page
 * (`after=`) read through that node returns the message. Bounded: rejects after `timeoutMs`.
 */
export async function settledPast(container: Container, id: string, timeoutMs = CATCH_UP_WITHIN_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await container.deps.sync.position.current()) <= id) {
    if (Date.now() > deadline) throw new Error(`stable position did not pass ${id} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** mulberry32: a small, well-known seeded generator, so a randomized run's choices replay (tests/chaos). */
export function seededRandom(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
