/**
 * Catch-up lag: from a send's 201 until this node's stable position passes its id, i.e. until a
 * cursor reader can see it. Bounded (the oldest entries are dropped when a stalled position lets
 * it fill), so a stuck position costs memory only up to the cap; the stall itself shows as lag.
 */
export function createLagTracker(observe: (seconds: number) => void, options: { capacity?: number } = {}) {
  const capacity = options.capacity ?? 10_000;
  // Acknowledged ids in roughly increasing order (concurrent sends may finish out of order).
  let pending: Array<{ id: string; at: number }> = [];
  return {
    acknowledged(id: string, at: number): void {
      if (pending.length >= capacity) pending.shift();
      pending.push({ id, at });
    },
    /** The position moved to `position` at monotonic time `at`. */
    passed(position: string, at: number): void {
      if (pending.length === 0) return;
      const still: typeof pending = [];
      for (const entry of pending) {
        if (entry.id < position) observe(Math.max(0, at - entry.at) / 1000);
        else still.push(entry);
      }
      pending = still;
    },
  };
}
