import type { RedisClient } from './client.js';
import { createCoalescer } from './coalesce.js';
import { bestEffort, type CacheCounters } from './counters.js';
import type { Keys } from './keys.js';
import { type CacheScripts, missTime } from './scripts.js';

/**
 * The member ids of a group, used for the access check of group reads. Replaced as a whole: a
 * fill stores the list with an absolute expiry (the miss's Redis time + T), and every membership
 * change deletes it, best effort, after Cassandra. A fill that read before a change may land after
 * its delete; it is then served at most until its expiry, T after its read started, so a member
 * removed more than T ago is always refused (cache/README.md).
 */
export function createMembersCache(options: {
  redis: RedisClient;
  scripts: CacheScripts;
  keys: Keys;
  counters: CacheCounters;
  stalenessMs: number;
}) {
  const { redis, scripts, keys, counters, stalenessMs } = options;
  const loads = createCoalescer<string[] | undefined>(stalenessMs);

  const decode = (json: string): string[] | undefined => {
    try {
      const value: unknown = JSON.parse(json);
      if (Array.isArray(value) && value.every((id) => typeof id === 'string')) return value as string[];
    } catch {
      // a bad entry is a miss
    }
    return undefined;
  };

  return {
    /** The group's member ids, or undefined when it has none (unknown group: not cached). */
    async getOrLoad(groupId: string, load: () => Promise<string[] | undefined>): Promise<string[] | undefined> {
      const key = keys.groupMembers(groupId);
      const reply = await bestEffort(counters, 'members', () => scripts.membersRead(key));
      if (Array.isArray(reply) && reply[0] === 1) {
        const value = decode(String(reply[1]));
        if (value) {
          counters.count('members', 'hit');
          return value;
        }
        counters.count('members', 'error');
      }
      counters.count('members', 'miss');
      const missedAt = missTime(reply);
      return loads.run(groupId, async () => {
        const ids = await load();
        if (ids && missedAt !== undefined) {
          const applied = await bestEffort(counters, 'members', () =>
            scripts.membersFill(key, JSON.stringify(ids), missedAt + stalenessMs),
          );
          if (applied === 1) counters.count('members', 'fill');
        }
        return ids;
      });
    },

    /** After a membership change is stored in Cassandra. Best effort: never rejects. */
    async forget(groupId: string): Promise<void> {
      await bestEffort(counters, 'members', () => redis.unlink(keys.groupMembers(groupId)));
    },
  };
}

export type MembersCacheImpl = ReturnType<typeof createMembersCache>;
