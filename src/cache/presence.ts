import type { Presence } from '../domain/types.js';
import type { RedisClient } from './client.js';
import { type Keys, LAST_SEEN_TTL_SECONDS } from './keys.js';

/**
 * Presence in Redis, shared by every node.
 *
 * - `presenceConnections(userId)`: sorted set connection id → expiry (ms). A user is online while
 *   one entry has not expired. Nodes refresh their connections' expiries well within the TTL, so
 *   the entries of a node that died simply lapse: its users read as offline within the TTL.
 * - `lastSeen(userId)`: when the user was last online, written when their last connection goes.
 * - `presenceIndex(nodeId)`: the entries of one node's connections (`<userId>:<connectionId>` →
 *   expiry), and `presenceNodes()` the nodes that have one, so any node can sweep lapsed
 *   connections of dead nodes and announce those users offline.
 *
 * Each transition runs as one Lua script that touches only the user's keys (`{userId}`: one
 * Cluster slot), so two nodes racing (a connect here, a close there) agree on exactly one
 * online/offline transition. The script that makes a transition also publishes it on the user's
 * presence channel (same slot: SPUBLISH on a cluster, PUBLISH on one Redis): Redis runs a slot's
 * scripts one at a time and delivers a script's publishes as it runs, so watchers get the changes
 * in the order they happened. (Publishing afterwards from the node would let a later change on
 * another node overtake an earlier one: a page reload that hops nodes could leave watchers on
 * "offline" while the user is online.)
 *
 * The index is outside the scripts (a per-user script cannot touch a per-node key on a cluster),
 * and it is only a hint for sweeping; correctness stays in the per-user scripts:
 * - touch: script, then ZADD to this node's index and SADD this node to the nodes (pipelined).
 *   Dying between the two leaves a connection no index knows: the user still reads offline once
 *   its entry lapses (every read checks expiries); only the offline *announcement* is lost.
 * - claim: removing a connection's entry from its node's index (ZREM answering 1) is the claim;
 *   exactly one caller gets it. A close claims first, then runs the script; a sweep claims each
 *   lapsed entry it found and runs the script only if it won.
 * - script: removing the connection from the user's set announces the offline when it was the
 *   last, claimed or not. A claimed connection already gone from the set (its key expired after
 *   2 TTLs, or another script purged the lapsed entry) is announced only if no offline at or
 *   after its expiry was recorded (`seen` < expiry): so a close racing a sweep announces once
 *   (the one that removed it from the set), and a dead node's user is still announced.
 * - A close whose claim fails still runs its script, unclaimed (see `remove`): a claim that timed
 *   out has usually run, and giving up there left a phantom connection nobody could sweep. When
 *   Redis is really away the script fails too: the entry lapses and the user reads offline; a
 *   sweep announces it once Redis answers. When only the index's primary is away (a cluster) the
 *   script announces the offline and a later sweep may announce it once more: a duplicate
 *   offline, never a lost one. The only things the split can lose are announcements, never the
 *   per-user state: online/offline stays one atomic transition per user, and every read checks
 *   expiries.
 */

/**
 * KEYS: conns. ARGV: connectionId, now, expiry, keyTtlSeconds, publishCommand, channel, message
 * (channel '' = do not publish). Returns live count before (-1: known).
 */
const TOUCH = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local before = redis.call('ZCARD', KEYS[1])
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if known then return -1 end
if before == 0 and ARGV[6] ~= '' then redis.call(ARGV[5], ARGV[6], ARGV[7]) end
return before
`;

/**
 * KEYS: conns, seen. ARGV: connectionId, claimed ('1': a sweeper claimed this lapsed
 * connection from an index), now, lastSeen, seenTtl, publishCommand, channel, message
 * (channel '' = do not publish). Returns 1 when the user went offline.
 */
const REMOVE = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if removed == 0 then
  if ARGV[2] ~= '1' or current >= tonumber(ARGV[4]) then return 0 end
end
if tonumber(ARGV[4]) > current then redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5]) end
if ARGV[7] ~= '' then redis.call(ARGV[6], ARGV[7], ARGV[8]) end
return 1
`;

export type PresenceRecord = Presence;

interface PresenceCommands {
  presenceTouch(conns: string, ...args: Array<string | number>): Promise<number>;
  presenceRemove(conns: string, seen: string, ...args: Array<string | number>): Promise<number>;
}

const SEPARATOR = ':';

/**
 * Redis-backed presence; every method rejects when Redis does (callers choose the fallback).
 * With `encode`, every online/offline transition is published on `keys.presenceChannel(userId)`
 * as `encode(record)` (the bus envelope, src/realtime/bus.ts) by the script that makes it, with
 * `publishCommand` (SPUBLISH on a cluster, where the bus listens with SSUBSCRIBE).
 */
export function createPresenceStore(deps: {
  redis: RedisClient;
  keys: Keys;
  ttlSeconds: number;
  /** This node: its connections are indexed under it for sweeping. */
  nodeId: string;
  encode?: (record: PresenceRecord) => string;
  publishCommand?: 'publish' | 'spublish';
}) {
  const { keys, ttlSeconds, encode, nodeId } = deps;
  const publishCommand = deps.publishCommand ?? 'publish';
  const ttlMs = ttlSeconds * 1000;
  const redis = deps.redis as RedisClient & PresenceCommands;
  if (!('presenceTouch' in redis)) {
    deps.redis.defineCommand('presenceTouch', { numberOfKeys: 1, lua: TOUCH });
    deps.redis.defineCommand('presenceRemove', { numberOfKeys: 2, lua: REMOVE });
  }

  const member = (userId: string, connectionId: string) => `${userId}${SEPARATOR}${connectionId}`;
  /** The script's last three arguments: how, where and what to publish if this call makes a transition. */
  const announcement = (record: PresenceRecord): [string, string, string] =>
    encode ? [publishCommand, keys.presenceChannel(record.userId), encode(record)] : [publishCommand, '', ''];

  /** `claimed`: the caller removed the connection's index entry (1), so it may announce a lapsed one. */
  async function remove(userId: string, connectionId: string, claimed: boolean, lastSeenAt: number, now: number) {
    const result = await redis.presenceRemove(
      keys.presenceConnections(userId),
      keys.lastSeen(userId),
      connectionId,
      claimed ? '1' : '0',
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
      const expiry = now + ttlMs;
      const before = await redis.presenceTouch(
        keys.presenceConnections(userId),
        connectionId,
        now,
        expiry,
        // The key outlives its entries by a TTL, so a lapsed entry still tells "last seen" until swept.
        ttlSeconds * 2,
        ...announcement({ userId, status: 'online', lastSeenAt: null }),
      );
      // The sweep hint (outside the script: other slots). Separate commands, not one pipeline:
      // an ioredis Cluster refuses a pipeline across slots; auto-pipelining batches them anyway.
      await Promise.all([
        redis.zadd(keys.presenceIndex(nodeId), expiry, member(userId, connectionId)),
        redis.sadd(keys.presenceNodes(), nodeId),
      ]);
      return before === 0;
    },

    /**
     * Forgets a closed connection. Resolves true when it was the user's last one (now offline,
     * and announced).
     *
     * A claim that fails does not stop the script. A timeout says nothing about whether the ZREM
     * ran, and under load it usually did, late: the close used to end there, so the connection
     * stayed in the user's set until its expiry (the TTL, 60 s) with its index entry gone, and no
     * sweeper could ever claim it: a user who closed their last tab read as online for a minute
     * and their watchers were never told they left (tests/integration/presence.ordering.test.ts
     * failed so on a loaded cluster at a 100 ms command timeout). Unclaimed ('0'), the script
     * still removes the connection it finds and announces the offline if it was the last; one
     * another caller already removed is announced by that caller. The ZREM is then sent again
     * (idempotent), so an entry the first one never reached cannot be swept and announced twice.
     */
    async remove(userId: string, connectionId: string, now = Date.now()): Promise<boolean> {
      const index = keys.presenceIndex(nodeId);
      const entry = member(userId, connectionId);
      const claim = await redis.zrem(index, entry).then(
        (removed) => (removed === 1 ? 'claimed' : 'not claimed'),
        () => 'unknown' as const,
      );
      const offline = await remove(userId, connectionId, claim === 'claimed', now, now);
      if (claim === 'unknown') await redis.zrem(index, entry).catch(() => {});
      return offline;
    },

    /**
     * Removes connections whose expiry passed (their node stopped refreshing them: it died) and
     * returns the users that went offline because of it (announced), last seen when the entry
     * lapsed. Safe to run on every node at once: each connection is claimed by exactly one
     * sweeper (the one whose ZREM of the index entry removed it). Looks at every node's index,
     * at most `limit` lapsed entries each.
     */
    async sweep(limit = 500, now = Date.now()): Promise<{ scanned: number; offline: PresenceRecord[] }> {
      const nodes = await redis.smembers(keys.presenceNodes());
      let scanned = 0;
      const claims: Array<Promise<PresenceRecord | undefined>> = [];
      await Promise.all(
        nodes.map(async (node) => {
          const index = keys.presenceIndex(node);
          const expired = await redis.zrangebyscore(index, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit);
          scanned += expired.length / 2;
          if (expired.length === 0 && node !== nodeId && (await redis.exists(index)) === 0) {
            // A node with nothing left to sweep (gone, or idle): forget it; it adds itself back on its next touch.
            await redis.srem(keys.presenceNodes(), node);
          }
          for (let i = 0; i + 1 < expired.length; i += 2) {
            const entry = expired[i] as string;
            // Online until the entry lapsed: that is when they were last seen (whatever the writer's TTL).
            const lastSeenAt = Number(expired[i + 1]);
            const at = entry.indexOf(SEPARATOR);
            const claim = redis.zrem(index, entry);
            if (at <= 0) {
              claims.push(claim.then(() => undefined));
              continue;
            }
            const userId = entry.slice(0, at);
            claims.push(
              claim.then(async (claimed) => {
                if (claimed !== 1) return undefined;
                const offline = await remove(userId, entry.slice(at + 1), true, lastSeenAt, now);
                return offline ? { userId, status: 'offline', lastSeenAt } : undefined;
              }),
            );
          }
        }),
      );
      const offline = (await Promise.all(claims)).filter((record): record is PresenceRecord => record !== undefined);
      return { scanned, offline };
    },

    /** How many connections of a user are live on all nodes together (one ZCOUNT). */
    async liveConnections(userId: string, now = Date.now()): Promise<number> {
      return redis.zcount(keys.presenceConnections(userId), `(${now}`, '+inf');
    },

    /**
     * Current presence of many users in one round trip (auto-pipelined; on a cluster one batch
     * per node: the users' keys are in many slots, which one ioredis Cluster pipeline refuses).
     */
    async read(userIds: readonly string[], now = Date.now()): Promise<PresenceRecord[]> {
      if (userIds.length === 0) return [];
      const results = await Promise.all(
        userIds.map((userId) =>
          Promise.all([
            redis.zrange(keys.presenceConnections(userId), -1, -1, 'WITHSCORES'),
            redis.get(keys.lastSeen(userId)),
          ]),
        ),
      );
      return userIds.map((userId, index) => {
        const [conns, seen] = results[index] ?? [[], null];
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
