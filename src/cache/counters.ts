/**
 * Cache counters: plain in-process totals, no metrics library. The metrics layer reads them at
 * scrape time (`entries()`); tests read them directly (`get`).
 */
export const CACHE_NAMES = ['recent', 'receipts', 'members', 'threads'] as const;
export type CacheName = (typeof CACHE_NAMES)[number];

/**
 * What happened to one cache operation:
 * - `hit` / `miss`: a lookup answered from Redis / fell through to Cassandra (or to a load another
 *   request of this node already started: concurrent misses share one);
 * - `fill`: a Cassandra read was stored;
 * - `error`: a Redis command failed (down, slow, refused); the request went on without the cache.
 */
export const CACHE_EVENTS = ['hit', 'miss', 'fill', 'error'] as const;
export type CacheEventName = (typeof CACHE_EVENTS)[number];

export function createCacheCounters() {
  const counts = new Map<string, number>();
  const keyOf = (cache: CacheName, event: CacheEventName) => `${cache}.${event}`;
  const read = (cache: CacheName, event: CacheEventName) => counts.get(keyOf(cache, event)) ?? 0;

  return {
    count(cache: CacheName, event: CacheEventName, by = 1): void {
      counts.set(keyOf(cache, event), read(cache, event) + by);
    },
    get: read,
    /** Every total per cache, for the metrics layer (`useCacheCounts`). */
    entries(): Array<{ cache: CacheName; event: CacheEventName; count: number }> {
      return CACHE_NAMES.flatMap((cache) => CACHE_EVENTS.map((event) => ({ cache, event, count: read(cache, event) })));
    },
  };
}

export type CacheCounters = ReturnType<typeof createCacheCounters>;

/**
 * Runs one Redis step of a cache best effort: answers undefined (counting an `error`) instead of
 * rejecting. Each step is one command, bounded by REDIS_COMMAND_TIMEOUT_MS (cache/client.ts).
 */
export async function bestEffort<T>(
  counters: CacheCounters,
  cache: CacheName,
  run: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await run();
  } catch {
    counters.count(cache, 'error');
    return undefined;
  }
}
