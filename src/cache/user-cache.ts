import type { Redis } from 'ioredis';
import type { User } from '../domain/types.js';
import { type CacheCoherence, storedText } from './coherence.js';
import type { CacheCounters } from './counters.js';
import { createEntryCache } from './entry.js';
import type { Keys } from './keys.js';

/**
 * Public user profiles (implements the account service's UserCache). Never the password hash.
 * A profile change must call `invalidate(userId)` after the Cassandra write.
 */
export function createUserCache(options: {
  redis: Redis;
  keys: Keys;
  coherence: CacheCoherence;
  counters: CacheCounters;
  ttlSeconds: number;
}) {
  const entries = createEntryCache<User>({
    ...options,
    name: 'users',
    keyOf: options.keys.user,
    encode: (user) => JSON.stringify([storedText(user.username), storedText(user.displayName), user.createdAt]),
    decode: (json, id) => {
      const [username, displayName, createdAt] = JSON.parse(json) as [unknown, unknown, unknown];
      if (typeof username !== 'string' || typeof displayName !== 'string' || typeof createdAt !== 'number') {
        throw new Error('bad user entry');
      }
      return { id, username, displayName, createdAt };
    },
  });
  return {
    get: entries.get,
    set: (user: User, ticket: string) => entries.set(user.id, user, ticket),
    invalidate: entries.invalidate,
  };
}

export type UserCacheImpl = ReturnType<typeof createUserCache>;
