import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { AppError } from '../domain/errors.js';
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
 * 3. **Tickets.** A fill presents the ticket its lookup returned: the epoch, the entry's *nonce*
 *    and (per entry) its invalidation version, all seen *before* Cassandra was read. A Lua script
 *    applies the fill only if all are unchanged, so a read that raced a loss or an invalidation is
 *    never stored. The nonce is a random token an entry key gets from the first lookup that finds
 *    none (a lookup of an absent key creates the key with it). No other write sets one, so a key
 *    that was evicted or expired after the lookup — taking with it a write-through the read may
 *    have missed — comes back without that nonce, and the fill is refused. Only *this* key's
 *    loss refuses a fill: evictions of other keys, the normal state of a full LRU cache, do not.
 *    Fills never create the epoch (only heartbeats do), so a ticket taken under a lost epoch, or
 *    under none, is refused too.
 * 4. **Leases.** A node that cannot reach Redis cannot bump. Each node therefore holds a lease in
 *    `keys.cacheLeases()` (instance id → expiry, Redis clock), renewed by its heartbeat every
 *    second. Any node's heartbeat that finds an expired lease removes it and bumps the epoch. So a
 *    node that crashed is covered within the lease time (5 s): that is the only window in which
 *    another node can serve a window missing one of its messages. A node cut off from Redis while
 *    others are not is covered by its fence (rule 7). A node writes the cache only while its own
 *    lease is known to be valid.
 * 5. **Lost keys of the guard.** The epoch, the leases and the uncertainty set (below) carry no
 *    TTL, so volatile-lru never evicts them (three small keys per deployment; every other key has
 *    a TTL). Should one be lost anyway (another policy, a FLUSH, a DEL), the next heartbeat bumps
 *    the epoch (a lost leases set may have held an expired lease) and marks every conversation
 *    uncertain (a lost uncertainty set held the uncertain ones); until then no window is filled.
 * 6. **Uncertain conversations.** A message write that failed in Cassandra (e.g. timed out) may
 *    still land later (a replica applied it; hints or repair spread it). A window filled before it
 *    lands would hide it, so the failure marks the conversation *uncertain* for `uncertainMs`
 *    (comfortably above the Cassandra request timeout) in `keys.cacheUncertain()`, and no window of
 *    it is filled meanwhile: its reads go to Cassandra. When that mark itself is lost (Redis was
 *    unusable at the failure), the epoch bump covering the loss marks *every* conversation
 *    uncertain for the same period.
 * 7. **Fences** (partial partitions). A node cut off from Redis while the others are not cannot
 *    bump, and once its lease is reaped nothing else bumps either: windows other nodes fill would
 *    miss every message it keeps accepting. So a lost write-through that no heartbeat of this node
 *    covers at once (Redis unreachable from here) raises the node's *fence* in Cassandra, the one
 *    store every node still reaches, and the write (so the send) is answered only after that:
 *    - a fence row has a marker (`since`, long TTL) and an `alive` flag (short TTL, `fenceTtlMs`)
 *      the fenced node refreshes every `fenceRefreshMs` while its losses are unbumped. When it
 *      reaches Redis again its heartbeat bumps the epoch (rule 2) and only then deletes the row;
 *    - every node's heartbeat lists the fences (one single-partition read per beat). A node uses
 *      no cached answers and makes no fills while the last read found a fence of another node,
 *      and trusts a read that found none only for `fenceTrustMs` after that read *started*;
 *    - a newly raised fence answers the write only `fenceTrustMs` (plus a margin) after it was
 *      written: by then every read another node still trusts started after the fence existed, so
 *      it saw it. A loss while the fence is known to stay alive needs no Cassandra write;
 *    - a fence whose `alive` expired (the node crashed, or lost Cassandra too and so fails its
 *      sends) still counts as a fence: the first node that sees it so bumps the epoch and then
 *      deletes exactly that raise (USING TIMESTAMP of its write time; a later raise survives).
 *      Its expiry came after the node's last loss (a loss never relies on an alive flag about to
 *      lapse), so the bump is after every message the node acknowledged; the marker outlives the
 *      flag, so the bump happens even if no node was watching when the flag lapsed. That bump
 *      also marks every conversation uncertain (rule 6: the dead node may have lost a mark). A
 *      fence that the node cleared itself was cleared after its own bump: nothing more is needed;
 *    - cost: one tiny read per node per beat; writes only while a node is cut off.
 *
 * A whole-Redis outage never serves anything stale: while Redis is away nothing is served from it,
 * and every node's reconnect bumps the epoch before that node uses the cache again.
 */

const DEFAULT_LEASE_MS = 5000;
const DEFAULT_HEARTBEAT_MS = 1000;
/** How long reads stay off Redis after one failed (writes are never paused: a skip is a loss). */
const DEFAULT_READ_PAUSE_MS = 500;
/** How long a conversation stays uncertain after a failed message write (see rule 6). */
export const DEFAULT_UNCERTAIN_MS = 30_000;
/** The lease is trusted this much less than its length, for clock-rate drift and scheduling. */
const LEASE_SAFETY_MS = 1000;
/** A fence's alive flag lives this long unless refreshed (rule 7). */
const DEFAULT_FENCE_TTL_MS = 10_000;
/** How often a fenced node refreshes its alive flag. */
const DEFAULT_FENCE_REFRESH_MS = 2000;
/** Margin on the fence timings, for scheduling and clock rates. */
const FENCE_SAFETY_MS = 1000;
/** Long enough that every window filled before the fence has expired when the marker does. */
const FENCE_MARKER_MARGIN_SECONDS = 3600;

/** A fence row as the coherence guard sees it (store/cache-fences.ts keeps them in Cassandra). */
export interface CacheFence {
  nodeId: string;
  /** False once the fenced node stopped refreshing it (crashed, or lost Cassandra as well). */
  alive: boolean;
  /** Write time of the raise (microseconds): a delete up to it leaves later raises alone. */
  writtenAt: bigint;
}

/** Where fences live: Cassandra, reached by every node (rule 7). */
export interface CacheFenceStore {
  raise(nodeId: string, ttlSeconds: number, options: { since: Date; markerTtlSeconds: number }): Promise<void>;
  clear(nodeId: string, writtenAt?: bigint): Promise<void>;
  list(): Promise<CacheFence[]>;
}

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
 * Lua helpers every entry script starts with. `nowMs()` is Redis's clock. `ticketEpoch` answers
 * the current epoch when a fill's ticket was taken under it, else false (fills never create an
 * epoch). `ticket` builds the opaque `<epoch>|<nonce>|<version>` a miss hands out. `uncertain`
 * answers whether fills of a conversation are refused now: it is marked uncertain, every one is,
 * or the set's sentinel is gone (the set was lost; the next heartbeat marks everything).
 */
export const LUA_COMMON = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ticketEpoch(epochKey, epoch)
  local current = redis.call('GET', epochKey)
  if epoch == '' or current ~= epoch then return false end
  return current
end
local function ticket(current, nonce, version)
  return (current or '') .. '|' .. nonce .. '|' .. version
end
local function uncertain(key, id)
  local scores = redis.call('ZMSCORE', key, id, '*', '~')
  if not scores[3] then return true end
  local now = nowMs()
  return (scores[1] and tonumber(scores[1]) > now) or (scores[2] and tonumber(scores[2]) > now) or false
end
`;

/**
 * Renews this node's lease, reaps expired ones, bumps the epoch when asked to, when one expired,
 * or when the epoch or the leases set is gone (each set keeps a sentinel member `~` at +inf, so
 * "gone" is told from "empty"); keeps the uncertainty set (expired marks pruned) and marks every
 * conversation uncertain (`*`) when asked to or when that set was lost. The three keys carry no
 * TTL (PERSIST also clears one an older version set), so volatile-lru never evicts them.
 * KEYS: leases, epoch, uncertain. ARGV: instance, lease ms, candidate epoch, bump, uncertain ms,
 * mark all uncertain. → {bumped, expired leases}.
 */
const HEARTBEAT = defineScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = redis.call('GET', KEYS[2])
local leasesKept = redis.call('ZSCORE', KEYS[1], '~') ~= false
local warm = epoch or leasesKept
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local bump = ARGV[4] == '1' or expired > 0 or not epoch or not leasesKept
if bump then
  redis.call('SET', KEYS[2], ARGV[3])
else
  redis.call('PERSIST', KEYS[2])
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1], '+inf', '~')
redis.call('PERSIST', KEYS[1])
if ARGV[6] == '1' or (warm and not redis.call('ZSCORE', KEYS[3], '~')) then
  redis.call('ZADD', KEYS[3], 'GT', now + tonumber(ARGV[5]), '*')
end
redis.call('ZADD', KEYS[3], '+inf', '~')
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('PERSIST', KEYS[3])
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
  nonce: string;
  version: string;
}

export function parseTicket(ticket: string): Ticket | undefined {
  const [epoch, nonce, version, ...rest] = ticket.split('|');
  if (epoch === undefined || nonce === undefined || version === undefined || rest.length > 0) return undefined;
  if (epoch === '' || nonce === '') return undefined;
  return { epoch, nonce, version };
}

export interface CoherenceOptions {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  counters: CacheCounters;
  /** Unique per process (a restarted node must not inherit its predecessor's lease). */
  instanceId: string;
  /** How long a conversation stays uncertain after a failed message write (rule 6). */
  uncertainMs?: number;
  leaseMs?: number;
  heartbeatMs?: number;
  readPauseMs?: number;
  /** Fences (rule 7). Without them a partial partition is covered only up to the lease reaping. */
  fences?: CacheFenceStore;
  /** Seconds entries live (CACHE_TTL_SECONDS): a fence's marker must outlive every older entry. */
  entryTtlSeconds?: number;
  fenceTtlMs?: number;
  fenceRefreshMs?: number;
  /** How long a fence read that found no other node's fence is trusted (default two heartbeats). */
  fenceTrustMs?: number;
}

export function createCacheCoherence(options: CoherenceOptions) {
  const { redis, keys, logger, counters } = options;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const readPauseMs = options.readPauseMs ?? DEFAULT_READ_PAUSE_MS;
  const uncertainMs = options.uncertainMs ?? DEFAULT_UNCERTAIN_MS;
  const { fences } = options;
  const fenceTtlMs = options.fenceTtlMs ?? DEFAULT_FENCE_TTL_MS;
  const fenceRefreshMs = options.fenceRefreshMs ?? DEFAULT_FENCE_REFRESH_MS;
  const fenceTrustMs = options.fenceTrustMs ?? 2 * heartbeatMs;
  const fenceNoticeMs = fenceTrustMs + 250;
  const markerTtlSeconds =
    Math.max(options.entryTtlSeconds ?? 86_400, Math.ceil(fenceTtlMs / 1000)) + FENCE_MARKER_MARGIN_SECONDS;

  /** Losses seen so far, and how many of them a completed epoch bump covers. */
  let losses = 0;
  let covered = 0;
  /** Lost uncertainty marks (rule 6), and how many a completed bump covers by marking everything. */
  let lostMarks = 0;
  let coveredMarks = 0;
  /** Until when (monotonic ms) this node's lease is surely valid; 0 before the first heartbeat. */
  let leaseValidUntil = 0;
  let readsPausedUntil = 0;
  let beating: Promise<void> | undefined;
  let lastKick = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  /** Other nodes' fences (rule 7): trusted to be none until then (monotonic ms). */
  let noFencesUntil = 0;
  /** Fences seen dead (alive flag expired), to bump for and delete; `covered` ones were bumped for. */
  let deadFences: CacheFence[] = [];
  const bumpedFor = new Set<string>();
  let fencedBy: string[] = [];
  /** This node's own fence, while raised: alive surely until, answers allowed from, last write. */
  let own: { since: Date; aliveUntil: number; noticedAt: number; writtenAt: number } | undefined;
  /** The highest loss the raised fence stands for; it is cleared once a bump covers that. */
  let fencedLoss = 0;
  /** Fence writes of this node run one at a time (a clear never overtakes a raise). */
  let fenceChain: Promise<unknown> = Promise.resolve();
  const serially = <T>(run: () => Promise<T>): Promise<T> => {
    const next = fenceChain.then(run, run);
    fenceChain = next.catch(() => {});
    return next;
  };
  const fenceKey = (fence: CacheFence) => `${fence.nodeId}@${fence.writtenAt}`;

  const now = () => performance.now();
  /** Whether this node may write the cache: its lease is valid and its losses are bumped. */
  const writable = () => !stopped && redis.status === 'ready' && losses === covered && now() < leaseValidUntil;
  /** Whether no other node's fence forbids cached answers and fills (rule 7). */
  const unfenced = () => !fences || now() < noFencesUntil;
  const usable = () => writable() && unfenced();

  /** One heartbeat: the Redis part (lease, epoch) and the fence part (Cassandra) side by side. */
  function beat(): Promise<void> {
    if (beating) return beating;
    beating = Promise.all([redisBeat(), fenceBeat()])
      .then(() => {})
      .finally(() => {
        beating = undefined;
      });
    return beating;
  }

  async function redisBeat(): Promise<void> {
    if (stopped || redis.status !== 'ready') return;
    const seen = losses;
    const seenMarks = lostMarks;
    // Dead fences seen by an earlier read: their node's last loss came before that read, so a
    // bump now covers every message it acknowledged. A crashed node may have lost an
    // uncertainty mark too (rule 6), so the bump also marks every conversation uncertain.
    const dead = deadFences;
    const bump = seen !== covered || dead.length > 0;
    const markAll = seenMarks !== coveredMarks || dead.length > 0;
    const sentAt = now();
    try {
      const [bumped, expired] = (await HEARTBEAT(
        redis,
        [keys.cacheLeases(), keys.cacheEpoch(), keys.cacheUncertain()],
        [options.instanceId, leaseMs, newEpoch(), bump ? 1 : 0, uncertainMs, markAll ? 1 : 0],
      )) as [number, number];
      covered = seen;
      coveredMarks = seenMarks;
      leaseValidUntil = sentAt + leaseMs - LEASE_SAFETY_MS;
      if (bumped) counters.coherence('epochBump');
      if (expired > 0) {
        counters.coherence('expiredLease', expired);
        logger.warn({ expired }, 'cache: expired lease of another node found; cache epoch bumped');
      }
      if (bump) logger.info({ losses: seen }, 'cache: epoch bumped after lost cache writes; cache trusted again');
      if (dead.length > 0) await forgetDeadFences(dead);
    } catch (error) {
      counters.coherence('heartbeatError');
      logger.debug({ err: error }, 'cache heartbeat failed');
    }
  }

  /** After the bump that covers them: dead fences no longer forbid the cache; delete those raises. */
  async function forgetDeadFences(dead: CacheFence[]) {
    for (const fence of dead) bumpedFor.add(fenceKey(fence));
    deadFences = deadFences.filter((fence) => !bumpedFor.has(fenceKey(fence)));
    logger.warn(
      { nodes: dead.map((fence) => fence.nodeId) },
      'cache: fence of a node that stopped refreshing it; epoch bumped',
    );
    await Promise.all(dead.map((fence) => fences?.clear(fence.nodeId, fence.writtenAt).catch(() => {})));
  }

  async function fenceBeat(): Promise<void> {
    if (!fences || stopped) return;
    await serially(ownFenceStep).catch((error) => {
      logger.debug({ err: error }, 'cache: fence refresh failed');
    });
    const startedAt = now();
    try {
      const rows = await fences.list();
      const present = new Set(rows.map(fenceKey));
      for (const key of bumpedFor) if (!present.has(key)) bumpedFor.delete(key);
      const foreign = rows.filter((fence) => fence.nodeId !== options.instanceId && !bumpedFor.has(fenceKey(fence)));
      deadFences = foreign.filter((fence) => !fence.alive);
      const by = foreign.map((fence) => fence.nodeId);
      if (by.join() !== fencedBy.join()) {
        if (by.length > 0) logger.warn({ nodes: by }, 'cache: another node is fenced; cache not trusted');
        else logger.info('cache: no fenced node any more; cache trusted again');
      }
      fencedBy = by;
      noFencesUntil = foreign.length === 0 ? startedAt + fenceTrustMs : 0;
    } catch (error) {
      counters.coherence('heartbeatError');
      logger.debug({ err: error }, 'cache: reading fences failed');
    }
  }

  /** The fenced node's part of a beat: refresh its fence, or clear it once a bump covered it. */
  async function ownFenceStep(): Promise<void> {
    if (!own || !fences) return;
    if (covered >= fencedLoss) {
      await fences.clear(options.instanceId);
      own = undefined;
      logger.info('cache: own fence cleared after the epoch bump');
      return;
    }
    if (now() - own.writtenAt >= fenceRefreshMs) await writeOwnFence(own.since);
  }

  async function writeOwnFence(since: Date): Promise<void> {
    if (!fences) return;
    const sentAt = now();
    await fences.raise(options.instanceId, Math.ceil(fenceTtlMs / 1000), { since, markerTtlSeconds });
    const aliveUntil = sentAt + fenceTtlMs - FENCE_SAFETY_MS;
    if (own && now() < own.aliveUntil) {
      own = { ...own, aliveUntil, writtenAt: sentAt };
    } else {
      own = { since, aliveUntil, writtenAt: sentAt, noticedAt: now() + fenceNoticeMs };
    }
  }

  /**
   * After a lost write (loss number `loss`): returns once other nodes cannot serve a window that
   * misses it — a heartbeat of this node bumped after it, or this node's fence is up and noticed.
   * Throws UNAVAILABLE when neither could be done (Cassandra unreachable too).
   */
  async function coverOrFence(loss: number): Promise<void> {
    if (!fences) return kick();
    // A beat already running took its loss count before this loss: wait for one that starts after.
    if (beating) await beating;
    if (covered < loss) await beat();
    if (covered >= loss) return;
    const noticedAt = await serially(async () => {
      if (covered >= loss) return 0;
      fencedLoss = Math.max(fencedLoss, loss);
      if (!own || now() >= own.aliveUntil) {
        await writeOwnFence(new Date());
        logger.warn('cache: write-through lost and Redis unreachable; fence raised in Cassandra');
      }
      return own?.noticedAt ?? 0;
    }).catch((error) => {
      throw new AppError('UNAVAILABLE', 'The message could not be made visible to other nodes; retry', {
        cause: error,
      });
    });
    const wait = noticedAt - now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  /** Starts a heartbeat soon when the cache is unusable (at most every 100 ms). */
  function kick() {
    const at = now();
    if (beating || stopped || at - lastKick < 100) return;
    lastKick = at;
    void beat();
  }

  const onClose = () => {
    losses++;
  };
  const onReady = () => {
    void beat();
  };

  return {
    instanceId: options.instanceId,
    uncertainMs,
    /** A fresh random nonce, for a lookup that finds an entry key without one (rule 3). */
    newNonce,

    /** Whether this node may use the cache right now (tests and diagnostics). */
    usable,
    /** Other nodes' fences the last read found (rule 7; tests and diagnostics). */
    fencedBy: () => [...fencedBy],
    /** Whether this node's own fence is raised (rule 7; tests and diagnostics). */
    fenced: () => own !== undefined,

    /**
     * Runs a lookup or a fill when the cache is usable. Answers undefined when it is not, or when
     * the command fails (then reads stay off Redis briefly, so a slow Redis costs one timeout, not
     * one per request). Losing a lookup or a fill loses no information: no loss is recorded.
     */
    async read<T>(cache: CacheName, run: () => Promise<T>): Promise<T | undefined> {
      if (!usable() || now() < readsPausedUntil) {
        counters.count(cache, 'skip');
        // Only this node's own state is mended by beating sooner; a fence is read once per beat.
        if (!writable()) kick();
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
     * Runs a write-through. When this node may not write the cache the write is skipped, and a
     * skip or a failure is a loss: the cache is not used again until an epoch bump covers it. A
     * lost write that `marksUncertain` (rule 6) also makes that bump mark every conversation
     * uncertain. Another node's fence does not stop write-throughs (they only add real data).
     * With fences (rule 7), a loss returns only once it is covered by this node's bump or by its
     * fence; rejects with UNAVAILABLE when neither is possible, and the write must not be
     * acknowledged then.
     */
    async write(cache: CacheName, run: () => Promise<unknown>, options: { marksUncertain?: boolean } = {}) {
      if (!writable()) {
        counters.count(cache, 'skip');
      } else {
        try {
          await run();
          return;
        } catch (error) {
          counters.count(cache, 'error');
          logger.debug({ err: error, cache }, 'cache write failed; the epoch will be bumped');
        }
      }
      if (options.marksUncertain) lostMarks++;
      await coverOrFence(++losses);
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
     * Stops the heartbeat. A node that has nothing unbumped gives its lease back (and clears its
     * fence); one with losses leaves both to expire, so another node's heartbeat bumps the epoch
     * for it (rules 4 and 7).
     */
    async stop(): Promise<void> {
      const clean = writable();
      stopped = true;
      if (timer) clearInterval(timer);
      redis.off('close', onClose);
      redis.off('ready', onReady);
      await beating;
      if (clean) await redis.zrem(keys.cacheLeases(), options.instanceId).catch(() => {});
      if (clean && own) await serially(() => fences?.clear(options.instanceId) ?? Promise.resolve()).catch(() => {});
    },
  };
}

export type CacheCoherence = ReturnType<typeof createCacheCoherence>;

function newEpoch(): string {
  return randomBytes(8).toString('hex');
}

/** 72 random bits, base64url (never `|`, the ticket separator). */
function newNonce(): string {
  return randomBytes(9).toString('base64url');
}
