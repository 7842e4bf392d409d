import type { Redis } from 'ioredis';
import { type CacheCoherence, type CacheLookup, defineScript, LUA_COMMON, parseTicket } from './coherence.js';
import type { CacheCounters, CacheName } from './counters.js';
import type { Keys } from './keys.js';

/**
 * A cached value that is replaced as a whole and invalidated on change (group members, user
 * profiles). One hash: `d` the JSON value, `e` the cache epoch it was filled under, `v` an
 * invalidation version, `n` the key's nonce (coherence.ts, rule 3). A lookup answers only when
 * `e` is the current epoch.
 *
 * The read-then-set race — a reader reads Cassandra, a writer changes the row and invalidates,
 * the reader then stores what it read — is closed by the ticket: the miss hands out the version
 * and the nonce (and epoch) seen before Cassandra was read; invalidation increments the version;
 * the set is applied only if nothing changed. The version survives invalidation in the same key,
 * so an invalidation is never lost to a concurrent set — unless the key itself is lost (evicted,
 * expired) with it: then the nonce is gone too, and the set is refused as well.
 */

/**
 * KEYS: entry, epoch. ARGV: candidate nonce, ttl. → {1, json} or {0, ticket}. A miss gives the key
 * a nonce if it has none (creating the key, with the TTL, when it is absent).
 */
const GET = defineScript(`${LUA_COMMON}
local current = redis.call('GET', KEYS[2])
local fields = redis.call('HMGET', KEYS[1], 'e', 'd', 'v', 'n')
if current and fields[1] == current and fields[2] then return {1, fields[2]} end
local nonce = fields[4]
if not nonce then
  local created = redis.call('EXISTS', KEYS[1]) == 0
  nonce = ARGV[1]
  redis.call('HSET', KEYS[1], 'n', nonce)
  if created then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
end
return {0, ticket(current, nonce, fields[3] or '0')}
`);

/**
 * KEYS: entry, epoch. ARGV: ticket epoch, ticket nonce, ticket version, json, ttl.
 * → 1 stored, 0 stale ticket.
 */
const SET = defineScript(`${LUA_COMMON}
local current = ticketEpoch(KEYS[2], ARGV[1])
if not current then return 0 end
local fields = redis.call('HMGET', KEYS[1], 'n', 'v')
if fields[1] ~= ARGV[2] or (fields[2] or '0') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'e', current, 'd', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
`);

/** KEYS: entry. ARGV: ttl. */
const INVALIDATE = defineScript(`
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HDEL', KEYS[1], 'e', 'd')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`);

export interface EntryCacheOptions<T> {
  name: CacheName;
  redis: Redis;
  keys: Keys;
  keyOf: (id: string) => string;
  coherence: CacheCoherence;
  counters: CacheCounters;
  ttlSeconds: number;
  encode: (value: T) => string;
  decode: (json: string, id: string) => T;
}

export function createEntryCache<T>(options: EntryCacheOptions<T>) {
  const { name, redis, coherence, counters } = options;
  const epochKey = options.keys.cacheEpoch();

  return {
    async get(id: string): Promise<CacheLookup<T>> {
      const reply = (await coherence.read(name, () =>
        GET(redis, [options.keyOf(id), epochKey], [coherence.newNonce(), options.ttlSeconds]),
      )) as [number, string] | undefined;
      if (reply?.[0] === 1) {
        try {
          const value = options.decode(reply[1], id);
          counters.count(name, 'hit');
          return { hit: true, value };
        } catch {
          counters.count(name, 'error');
          counters.count(name, 'miss');
          return { hit: false };
        }
      }
      counters.count(name, 'miss');
      return reply ? { hit: false, ticket: reply[1] } : { hit: false };
    },

    async set(id: string, value: T, ticket: string): Promise<void> {
      const parts = parseTicket(ticket);
      if (!parts) return;
      const applied = await coherence.read(name, () =>
        SET(
          redis,
          [options.keyOf(id), epochKey],
          [parts.epoch, parts.nonce, parts.version, options.encode(value), options.ttlSeconds],
        ),
      );
      if (applied === 1) counters.count(name, 'fill');
      else if (applied === 0) counters.count(name, 'staleFill');
    },

    /** After the value changed in Cassandra: drops it and refuses sets that read before the change. */
    async invalidate(id: string): Promise<void> {
      await coherence.write(name, () => INVALIDATE(redis, [options.keyOf(id)], [options.ttlSeconds]));
    },
  };
}
