import type { Redis } from 'ioredis';
import type { Presence } from '../domain/types.js';
import { type Keys, LAST_SEEN_TTL_SECONDS } from './keys.js';

/**
 * Presence in Redis, shared by every node.
 *
 * - `presenceConnections(userId)`: sorted set connection id → expiry (ms). A user is online while
 *   one entry has not expired. Nodes refresh their connections' expiries well within the TTL, so
 *   the entries of a node that died simply lapse: its users read as offline within the TTL.
 * - `presenceIndex()`: the same entries for all users (`<userId>:<connectionId>` → expiry), so
 *   any node can sweep lapsed connections of dead nodes and announce those users offline.
 * - `lastSeen(userId)`: when the user was last online, written when their last connection goes.
 *
 * Each change runs as one Lua script, so two nodes racing (a connect here, a close there) agree
 * on exactly one online/offline transition. The script that makes a transition also PUBLISHes
 * it on the user's presence channel: Redis runs scripts one at a time and delivers a script's
 * publishes as it runs, so watchers get the changes in the order they happened. (Publishing
 * afterwards from the node would let a later change on another node overtake an earlier one:
 * a page reload that hops nodes could leave watchers on "offline" while the user is online.)
 */

/**
 * KEYS: conns, index. ARGV: connectionId, indexMember, now, expiry, keyTtlSeconds, channel,
 * message (channel '' = do not publish). Returns live count before (-1: known).
 */
const TOUCH = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local before = redis.call('ZCARD', KEYS[1])
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
if known then return -1 end
if before == 0 and ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[6], ARGV[7]) end
return before
`;

/**
 * KEYS: conns, index, seen. ARGV: connectionId, indexMember, now, lastSeen, seenTtl, channel,
 * message (channel '' = do not publish). Returns 1 when the user went offline.
 */
const REMOVE = `
local indexed = redis.call('ZREM', KEYS[2], ARGV[2])
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
if indexed == 0 and removed == 0 then return 0 end
local current = tonumber(redis.call('GET', KEYS[3]) or '0')
if tonumber(ARGV[4]) > current then redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[6], ARGV[7]) end
return 1
`;

export type PresenceRecord = Presence;

interface PresenceCommands {
  presenceTouch(conns: string, index: string, ...args: Array<string | number>): Promise<number>;
  presenceRemove(conns: string, index: string, seen: string, ...args: Array<string | number>): Promise<number>;
}

const SEPARATOR = ':';

/**
 * Redis-backed presence; every method rejects when Redis does (callers choose the fallback).
 * With `encode`, every online/offline transition is published on `keys.presenceChannel(userId)`
 * as `encode(record)` (the bus envelope, src/realtime/bus.ts) by the script that makes it.
 */
export function createPresenceStore(deps: {
  redis: Redis;
  keys: Keys;
  ttlSeconds: number;
  encode?: (record: PresenceRecord) => string;
}) {
  const { keys, ttlSeconds, encode } = deps;
  const ttlMs = ttlSeconds * 1000;
  const redis = deps.redis as Redis & PresenceCommands;
  if (!('presenceTouch' in redis)) {
    deps.redis.defineCommand('presenceTouch', { numberOfKeys: 2, lua: TOUCH });
    deps.redis.defineCommand('presenceRemove', { numberOfKeys: 3, lua: REMOVE });
  }

  const member = (userId: string, connectionId: string) => `${userId}${SEPARATOR}${connectionId}`;
  /** The script's last two arguments: where and what to publish if this call makes a transition. */
  const announcement = (record: PresenceRecord): [string, string] =>
    encode ? [keys.presenceChannel(record.userId), encode(record)] : ['', ''];

  async function remove(userId: string, connectionId: string, lastSeenAt: number, now: number): Promise<boolean> {
    const result = await redis.presenceRemove(
      keys.presenceConnections(userId),
      keys.presenceIndex(),
      keys.lastSeen(userId),
      connectionId,
      member(userId, connectionId),
      now,
      lastSeenAt,
      LAST_SEEN_TTL_SECONDS,
      ...announcement({ userId, status: 'offline', lastSeenAt }),
    );
    return result === 1;
  }

  return {
    ttlSeconds,

    /**
     * Marks a connection alive for another TTL (on connect and on every refresh). Resolves true
     * when this made the user online, i.e. they had no live connection before (and it was announced).
     */
    async touch(userId: string, connectionId: string, now = Date.now()): Promise<boolean> {
      const before = await redis.presenceTouch(
        keys.presenceConnections(userId),
        keys.presenceIndex(),
        connectionId,
        member(userId, connectionId),
        now,
        now + ttlMs,
        // The key outlives its entries by a TTL, so a lapsed entry still tells "last seen" until swept.
        ttlSeconds * 2,
        ...announcement({ userId, status: 'online', lastSeenAt: null }),
      );
      return before === 0;
    },

    /** Forgets a closed connection. Resolves true when it was the user's last one (now offline, and announced). */
    async remove(userId: string, connectionId: string, now = Date.now()): Promise<boolean> {
      return remove(userId, connectionId, now, now);
    },

    /**
     * Removes connections whose expiry passed (their node stopped refreshing them: it died) and
     * returns the users that went offline because of it (announced), last seen when the entry
     * lapsed. Safe to run on every node at once: each connection is claimed by exactly one sweeper.
     */
    async sweep(limit = 500, now = Date.now()): Promise<{ scanned: number; offline: PresenceRecord[] }> {
      const expired = await redis.zrangebyscore(keys.presenceIndex(), '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit);
      const claims: Array<Promise<PresenceRecord | undefined>> = [];
      for (let i = 0; i + 1 < expired.length; i += 2) {
        const entry = expired[i] as string;
        // Online until the entry lapsed: that is when they were last seen (whatever the writer's TTL).
        const lastSeenAt = Number(expired[i + 1]);
        const at = entry.indexOf(SEPARATOR);
        if (at <= 0) {
          claims.push(redis.zrem(keys.presenceIndex(), entry).then(() => undefined));
          continue;
        }
        const userId = entry.slice(0, at);
        claims.push(
          remove(userId, entry.slice(at + 1), lastSeenAt, now).then((offline) =>
            offline ? { userId, status: 'offline', lastSeenAt } : undefined,
          ),
        );
      }
      const offline = (await Promise.all(claims)).filter((record): record is PresenceRecord => record !== undefined);
      return { scanned: expired.length / 2, offline };
    },

    /** How many connections of a user are live on all nodes together (one ZCOUNT). */
    async liveConnections(userId: string, now = Date.now()): Promise<number> {
      return redis.zcount(keys.presenceConnections(userId), `(${now}`, '+inf');
    },

    /** Current presence of many users in one round trip. */
    async read(userIds: readonly string[], now = Date.now()): Promise<PresenceRecord[]> {
      if (userIds.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const userId of userIds) {
        pipeline.zrange(keys.presenceConnections(userId), -1, -1, 'WITHSCORES');
        pipeline.get(keys.lastSeen(userId));
      }
      const results = (await pipeline.exec()) ?? [];
      return userIds.map((userId, index) => {
        const [connsError, conns] = results[index * 2] ?? [];
        const [seenError, seen] = results[index * 2 + 1] ?? [];
        if (connsError) throw connsError;
        if (seenError) throw seenError;
        const latest = Array.isArray(conns) && conns.length === 2 ? Number(conns[1]) : undefined;
        if (latest !== undefined && latest > now) return { userId, status: 'online', lastSeenAt: null };
        // A lapsed entry not swept yet still tells when the user stopped being online.
        const candidates = [typeof seen === 'string' ? Number(seen) : 0, latest ?? 0];
        const lastSeenAt = Math.max(...candidates);
        return { userId, status: 'offline', lastSeenAt: lastSeenAt > 0 ? lastSeenAt : null };
      });
    },
  };
}

export type PresenceStore = ReturnType<typeof createPresenceStore>;
