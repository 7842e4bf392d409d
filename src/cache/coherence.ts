import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { CacheCounters, CacheName } from './counters.js';
import type { Keys } from './keys.js';

/**
 * Cache coherence: when may a cached entry answer instead of Cassandra?
 *
 * Every cache here is write-through: a send, a receipt or a membership change updates Redis right
 * after Cassandra. The danger is a write-through that did not happen — Redis was down, slow (the
 * 100 ms command timeout fired; the command may or may not run later), or unreachable from one
 * node only. Cassandra then holds a message that a cached window lacks, and serving that window
 * would hide an acknowledged message. The rules:
 *
 * 1. **Epoch.** Redis holds one random token, the cache epoch (`keys.cacheEpoch()`). Every cached
 *    entry records the epoch it was filled under and answers only while that is still the epoch.
 *    Replacing the token ("bumping") invalidates every entry at once, on every node, in O(1).
 * 2. **Losses bump.** A node counts a *loss* whenever a write-through fails or is skipped, and
 *    whenever its connection closes (a reconnect may meet a restarted or rolled-back Redis). A node
 *    with unbumped losses uses no cache at all: no hits, no fills, no writes. Its next heartbeat
 *    bumps the epoch, and only then does it use the cache again. A loss recorded before the bump is
 *    sent is covered by it: the failed command ran before the bump or never (one connection, in
 *    order; a late-running append only adds a real message, which is harmless), and every fill
 *    after the bump reads Cassandra after the message was stored.
 * 3. **Tickets.** A fill presents the ticket its lookup returned: the epoch (and, per entry, an
 *    invalidation version) seen *before* Cassandra was read, plus Redis's `evicted_keys` total. A
 *    Lua script applies the fill only if all are unchanged, so a read that raced a loss, an
 *    invalidation or an eviction (volatile-lru may drop the very key a concurrent write updated)
 *    is never stored.
 * 4. **Leases.** A node that cannot reach Redis cannot bump. Each node therefore holds a lease in
 *    `keys.cacheLeases()` (instance id → expiry, Redis clock), renewed by its heartbeat every
 *    second. Any node's heartbeat that finds an expired lease removes it and bumps the epoch. So a
 *    node that crashed, or is cut off from Redis while other nodes are not, is covered within the
 *    lease time (5 s): that is the only window in which another node can serve a window missing one
 *    of its messages. A node writes the cache only while its own lease is known to be valid.
 *
 * A whole-Redis outage never serves anything stale: while Redis is away nothing is served from it,
 * and every node's reconnect bumps the epoch before that node uses the cache again.
 */

const DEFAULT_LEASE_MS = 5000;
const DEFAULT_HEARTBEAT_MS = 1000;
/** How long reads stay off Redis after one failed (writes are never paused: a skip is a loss). */
const DEFAULT_READ_PAUSE_MS = 500;
/** The lease is trusted this much less than its length, for clock-rate drift and scheduling. */
const LEASE_SAFETY_MS = 1000;

export type ScriptArg = string | number;

/**
 * Text as Cassandra will return it: Cassandra stores UTF-8, so a lone surrogate comes back as
 * U+FFFD. A cached copy is made the same way, so cache and Cassandra answer byte-identical text.
 */
export function storedText(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** A Lua script run with EVALSHA, falling back to EVAL when Redis has lost its script cache. */
export function defineScript(lua: string) {
  const sha = createHash('sha1').update(lua).digest('hex');
  return async (redis: Redis, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(lua, keys.length, ...keys, ...args);
    }
  };
}

/**
 * Lua helpers every entry script starts with. `evicted()` is Redis's eviction total. `epochForFill`
 * checks a fill's ticket and returns the epoch to store under, or false when the ticket is stale;
 * a ticket taken while no epoch existed (first use, or the key was lost) installs a fresh one.
 * `ticket` builds the opaque `<epoch>|<evicted>|<version>` a miss hands out.
 */
export const LUA_COMMON = `
local function evicted()
  return string.match(redis.call('INFO', 'stats'), 'evicted_keys:(%d+)') or '0'
end
local function epochForFill(epochKey, ticketEpoch, ticketEvicted, candidate, epochTtl)
  local current = redis.call('GET', epochKey)
  if ticketEpoch == '' then
    if current then return false end
    current = candidate
    redis.call('SET', epochKey, current, 'EX', epochTtl)
  elseif current ~= ticketEpoch then
    return false
  end
  if evicted() ~= ticketEvicted then return false end
  return current
end
local function ticket(current, version)
  return (current or '') .. '|' .. evicted() .. '|' .. version
end
`;

/** Renews this node's lease, reaps expired ones, bumps the epoch when asked to or when one expired. */
const HEARTBEAT = defineScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local bump = ARGV[5] == '1' or expired > 0
local epoch = redis.call('GET', KEYS[2])
if bump or not epoch then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
  bump = true
else
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {bump and 1 or 0, expired}
`);

/**
 * A cache lookup's answer: the value, or a miss. A miss carries the ticket a later fill must
 * present (none when the cache was not consulted: then nothing is filled either).
 */
export type CacheLookup<T> = { hit: true; value: T } | { hit: false; ticket?: string };

/** What a fill must present: the ticket parts, as script arguments. */
export interface Ticket {
  epoch: string;
  evicted: string;
  version: string;
}

export function parseTicket(ticket: string): Ticket | undefined {
  const [epoch, evicted, version, ...rest] = ticket.split('|');
  if (epoch === undefined || evicted === undefined || version === undefined || rest.length > 0) return undefined;
  return { epoch, evicted, version };
}

export interface CoherenceOptions {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  counters: CacheCounters;
  /** Unique per process (a restarted node must not inherit its predecessor's lease). */
  instanceId: string;
  /** TTL of cached entries; the epoch and lease keys live twice as long. */
  ttlSeconds: number;
  leaseMs?: number;
  heartbeatMs?: number;
  readPauseMs?: number;
}

export function createCacheCoherence(options: CoherenceOptions) {
  const { redis, keys, logger, counters } = options;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const readPauseMs = options.readPauseMs ?? DEFAULT_READ_PAUSE_MS;
  const epochTtlSeconds = options.ttlSeconds * 2;

  /** Losses seen so far, and how many of them a completed epoch bump covers. */
  let losses = 0;
  let covered = 0;
  /** Until when (monotonic ms) this node's lease is surely valid; 0 before the first heartbeat. */
  let leaseValidUntil = 0;
  let readsPausedUntil = 0;
  let beating: Promise<void> | undefined;
  let lastKick = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const now = () => performance.now();
  const usable = () => !stopped && redis.status === 'ready' && losses === covered && now() < leaseValidUntil;

  function beat(): Promise<void> {
    if (beating) return beating;
    beating = (async () => {
      if (stopped || redis.status !== 'ready') return;
      const seen = losses;
      const bump = seen !== covered;
      const sentAt = now();
      try {
        const [bumped, expired] = (await HEARTBEAT(
          redis,
          [keys.cacheLeases(), keys.cacheEpoch()],
          [options.instanceId, leaseMs, newEpoch(), epochTtlSeconds, bump ? 1 : 0],
        )) as [number, number];
        covered = seen;
        leaseValidUntil = sentAt + leaseMs - LEASE_SAFETY_MS;
        if (bumped) counters.coherence('epochBump');
        if (expired > 0) {
          counters.coherence('expiredLease', expired);
          logger.warn({ expired }, 'cache: expired lease of another node found; cache epoch bumped');
        }
        if (bump) logger.info({ losses: seen }, 'cache: epoch bumped after lost cache writes; cache trusted again');
      } catch (error) {
        counters.coherence('heartbeatError');
        logger.debug({ err: error }, 'cache heartbeat failed');
      }
    })().finally(() => {
      beating = undefined;
    });
    return beating;
  }

  /** Starts a heartbeat soon when the cache is unusable (at most every 100 ms). */
  function kick() {
    const at = now();
    if (beating || stopped || at - lastKick < 100) return;
    lastKick = at;
    void beat();
  }

  function lose() {
    losses++;
    kick();
  }

  const onClose = () => {
    losses++;
  };
  const onReady = () => {
    void beat();
  };

  return {
    instanceId: options.instanceId,
    epochTtlSeconds,
    /** A fresh random epoch token, for a script that finds none. */
    newEpoch,

    /** Whether this node may use the cache right now (tests and diagnostics). */
    usable,

    /**
     * Runs a lookup or a fill when the cache is usable. Answers undefined when it is not, or when
     * the command fails (then reads stay off Redis briefly, so a slow Redis costs one timeout, not
     * one per request). Losing a lookup or a fill loses no information: no loss is recorded.
     */
    async read<T>(cache: CacheName, run: () => Promise<T>): Promise<T | undefined> {
      if (!usable() || now() < readsPausedUntil) {
        counters.count(cache, 'skip');
        kick();
        return undefined;
      }
      try {
        return await run();
      } catch (error) {
        counters.count(cache, 'error');
        readsPausedUntil = now() + readPauseMs;
        logger.debug({ err: error, cache }, 'cache read failed');
        return undefined;
      }
    },

    /**
     * Runs a write-through. When the cache is unusable the write is skipped, and a skip or a
     * failure is a loss: the cache is not used again until an epoch bump covers it.
     */
    async write(cache: CacheName, run: () => Promise<unknown>): Promise<void> {
      if (!usable()) {
        counters.count(cache, 'skip');
        lose();
        return;
      }
      try {
        await run();
      } catch (error) {
        counters.count(cache, 'error');
        logger.debug({ err: error, cache }, 'cache write failed; the epoch will be bumped');
        lose();
      }
    },

    /** Registers this node's lease and starts the heartbeat. */
    async start(): Promise<void> {
      redis.on('close', onClose);
      redis.on('ready', onReady);
      timer = setInterval(() => void beat(), heartbeatMs);
      timer.unref();
      await beat();
    },

    /**
     * Stops the heartbeat. A node that has nothing unbumped gives its lease back; one with losses
     * leaves it to expire, so another node's heartbeat bumps the epoch for it.
     */
    async stop(): Promise<void> {
      const clean = usable();
      stopped = true;
      if (timer) clearInterval(timer);
      redis.off('close', onClose);
      redis.off('ready', onReady);
      await beating;
      if (clean) await redis.zrem(keys.cacheLeases(), options.instanceId).catch(() => {});
    },
  };
}

export type CacheCoherence = ReturnType<typeof createCacheCoherence>;

function newEpoch(): string {
  return randomBytes(8).toString('hex');
}
