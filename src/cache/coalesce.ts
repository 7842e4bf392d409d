import { performance } from 'node:perf_hooks';

/**
 * Request coalescing: concurrent misses of one key on this node share one load. A caller joins a
 * load only while it is younger than `maxAgeMs` (T), so what it gets was read from Cassandra less
 * than T before it asked: joining never weakens the bound (cache/README.md).
 */
export function createCoalescer<T>(maxAgeMs: number) {
  const inFlight = new Map<string, { startedAt: number; promise: Promise<T> }>();
  return {
    run(key: string, load: () => Promise<T>): Promise<T> {
      const now = performance.now();
      const current = inFlight.get(key);
      if (current && now - current.startedAt < maxAgeMs) return current.promise;
      const promise = load().finally(() => {
        if (inFlight.get(key)?.promise === promise) inFlight.delete(key);
      });
      inFlight.set(key, { startedAt: now, promise });
      return promise;
    },
  };
}
