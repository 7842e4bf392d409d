/**
 * Cache counters: plain in-process totals, no metrics library. The metrics layer reads them at
 * scrape time (`entries()`); tests read them directly (`get`, `snapshot`).
 */
export const CACHE_NAMES = ['recent', 'receipts', 'members', 'users'] as const;
export type CacheName = (typeof CACHE_NAMES)[number];

/**
 * What happened to one cache operation:
 * - `hit` / `miss`: a lookup answered from Redis / fell through to Cassandra;
 * - `fill`: a Cassandra read was stored; `staleFill`: it was refused because something changed
 *   since its lookup (an invalidation, an epoch bump, the loss of that very key) or because the
 *   conversation is uncertain;
 * - `skip`: the cache was not consulted because this node does not trust it right now;
 * - `error`: a Redis command failed (down, slow, refused).
 */
export const CACHE_EVENTS = ['hit', 'miss', 'fill', 'staleFill', 'skip', 'error'] as const;
export type CacheEventName = (typeof CACHE_EVENTS)[number];

/** The four events every dashboard shows (the shape the metrics layer reads). */
export type CoreCacheEvent = 'hit' | 'miss' | 'fill' | 'error';
const CORE_EVENTS: readonly CoreCacheEvent[] = ['hit', 'miss', 'fill', 'error'];

/**
 * Node-wide coherence events (see coherence.ts): epoch bumps this node made, expired leases of
 * other nodes it found (each also bumps), heartbeats that failed.
 */
export const COHERENCE_EVENTS = ['epochBump', 'expiredLease', 'heartbeatError'] as const;
export type CoherenceEventName = (typeof COHERENCE_EVENTS)[number];

export type CacheCounterSnapshot = Record<CacheName, Record<CacheEventName, number>> & {
  coherence: Record<CoherenceEventName, number>;
};

export function createCacheCounters() {
  const counts = new Map<string, number>();
  const keyOf = (scope: string, event: string) => `${scope}.${event}`;
  const read = (scope: string, event: string) => counts.get(keyOf(scope, event)) ?? 0;
  const add = (scope: string, event: string, by: number) => counts.set(keyOf(scope, event), read(scope, event) + by);

  return {
    /** Adds to a cache's event total. */
    count(cache: CacheName, event: CacheEventName, by = 1): void {
      add(cache, event, by);
    },
    /** Adds to a node-wide coherence total. */
    coherence(event: CoherenceEventName, by = 1): void {
      add('coherence', event, by);
    },
    get(cache: CacheName, event: CacheEventName): number {
      return read(cache, event);
    },
    /** Every total, zeros included. */
    snapshot(): CacheCounterSnapshot {
      const caches = Object.fromEntries(
        CACHE_NAMES.map((cache) => [
          cache,
          Object.fromEntries(CACHE_EVENTS.map((event) => [event, read(cache, event)])),
        ]),
      ) as Record<CacheName, Record<CacheEventName, number>>;
      const coherence = Object.fromEntries(
        COHERENCE_EVENTS.map((event) => [event, read('coherence', event)]),
      ) as Record<CoherenceEventName, number>;
      return { ...caches, coherence };
    },
    /** Hit/miss/fill/error totals per cache, for the metrics layer (`useCacheCounts`). */
    entries(): Array<{ cache: CacheName; event: CoreCacheEvent; count: number }> {
      return CACHE_NAMES.flatMap((cache) => CORE_EVENTS.map((event) => ({ cache, event, count: read(cache, event) })));
    },
  };
}

export type CacheCounters = ReturnType<typeof createCacheCounters>;
