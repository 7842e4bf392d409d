import type { Redis } from 'ioredis';
import type { CacheCoherence } from './coherence.js';
import type { CacheCounters } from './counters.js';
import { createEntryCache } from './entry.js';
import type { Keys } from './keys.js';

/**
 * The member ids of a group (implements the messaging service's MembersCache). Invalidated by
 * the group service's membership listener after every join or leave is stored in Cassandra;
 * versioned sets (entry.ts) keep a read from before the change from being stored after it.
 */
export function createMembersCache(options: {
  redis: Redis;
  keys: Keys;
  coherence: CacheCoherence;
  counters: CacheCounters;
  ttlSeconds: number;
}) {
  const entries = createEntryCache<string[]>({
    ...options,
    name: 'members',
    keyOf: options.keys.groupMembers,
    encode: (userIds) => JSON.stringify(userIds),
    decode: (json) => {
      const value: unknown = JSON.parse(json);
      if (!Array.isArray(value) || !value.every((id) => typeof id === 'string')) throw new Error('bad members entry');
      return value as string[];
    },
  });
  return {
    get: entries.get,
    set: entries.set,
    invalidate: entries.invalidate,
    /** MembershipListener: any change of a group's members invalidates its entry. */
    async membershipChanged(groupId: string): Promise<void> {
      await entries.invalidate(groupId);
    },
  };
}

export type MembersCacheImpl = ReturnType<typeof createMembersCache>;
