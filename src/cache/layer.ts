import type { Config } from '../config.js';
import type { RedisClient } from './client.js';
import type { CacheCounters } from './counters.js';
import type { Keys } from './keys.js';
import { createMembersCache } from './members-cache.js';
import { createReceiptsCache } from './receipts-cache.js';
import { createRecentMessagesCache } from './recent-messages.js';
import { defineCacheScripts } from './scripts.js';
import { createThreadSummariesCache } from './thread-summaries-cache.js';

/**
 * The whole Redis cache of one node: the recent-messages windows, the receipts and the group
 * members, each read through with the guarantee of cache/README.md. Built by the composition root
 * only when CACHE_ENABLED. Nodes need not agree on anything for correctness: a node without the
 * cache does not write through, which only makes windows miss its messages for at most T.
 */
export function createCacheLayer(options: {
  redis: RedisClient;
  keys: Keys;
  counters: CacheCounters;
  config: Config['cache'];
}) {
  const { redis, keys, counters } = options;
  const scripts = defineCacheScripts(redis);
  const shared = { scripts, keys, counters, stalenessMs: options.config.stalenessMs };
  return {
    counters,
    recent: createRecentMessagesCache({ ...shared, redis, size: options.config.recentMessages }),
    receipts: createReceiptsCache(shared),
    members: createMembersCache({ ...shared, redis }),
    threads: createThreadSummariesCache(shared),
  };
}

export type CacheLayer = ReturnType<typeof createCacheLayer>;
