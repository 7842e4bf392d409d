import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { type CacheFenceStore, type CoherenceOptions, createCacheCoherence } from './coherence.js';
import type { CacheCounters } from './counters.js';
import type { Keys } from './keys.js';
import { createMembersCache } from './members-cache.js';
import { createReceiptsCache } from './receipts-cache.js';
import { createRecentMessagesCache } from './recent-messages.js';
import { createUserCache } from './user-cache.js';

/**
 * The whole Redis cache of one node: the coherence guard (epoch, lease, heartbeat) and the four
 * caches that share it. Built by the composition root only when CACHE_ENABLED. Every node of a
 * deployment must agree on CACHE_ENABLED: a node without the cache does not write through, so
 * windows would miss its messages.
 */
export function createCacheLayer(options: {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  counters: CacheCounters;
  config: Config['cache'];
  instanceId: string;
  /** Fences in Cassandra, for nodes cut off from Redis (coherence.ts, rule 7). */
  fences?: CacheFenceStore;
  /** Test hooks: shorter leases, heartbeats and fence timings. */
  coherence?: Pick<
    CoherenceOptions,
    'leaseMs' | 'heartbeatMs' | 'readPauseMs' | 'fenceTtlMs' | 'fenceRefreshMs' | 'fenceTrustMs'
  >;
}) {
  const { redis, keys, counters } = options;
  const ttlSeconds = options.config.ttlSeconds;
  const coherence = createCacheCoherence({
    redis,
    keys,
    logger: options.logger,
    counters,
    instanceId: options.instanceId,
    uncertainMs: options.config.uncertainMs,
    entryTtlSeconds: ttlSeconds,
    ...(options.fences ? { fences: options.fences } : {}),
    ...options.coherence,
  });
  const shared = { redis, keys, coherence, counters, ttlSeconds };
  return {
    coherence,
    counters,
    recent: createRecentMessagesCache({ ...shared, size: options.config.recentMessages }),
    receipts: createReceiptsCache(shared),
    members: createMembersCache(shared),
    users: createUserCache(shared),
    start: () => coherence.start(),
    stop: () => coherence.stop(),
  };
}

export type CacheLayer = ReturnType<typeof createCacheLayer>;
