import type { Redis } from 'ioredis';
import { ulidTime } from '../domain/ids.js';
import type { StoredMessage } from '../domain/types.js';
import {
  type CacheCoherence,
  type CacheLookup,
  defineScript,
  LUA_COMMON,
  parseTicket,
  storedText,
} from './coherence.js';
import type { CacheCounters } from './counters.js';
import type { Keys } from './keys.js';

/**
 * The recent-messages window of a conversation: its newest messages in one sorted set.
 *
 * Layout (one key, so an eviction or expiry takes all of it or nothing): every score is 0, so
 * members sort by their bytes. Message entries are `<26-char ULID><json>` and sort in id order
 * (ULIDs are fixed-length and lexicographically ordered; a double score could not hold one
 * exactly). Meta members start with `~`, which sorts after every ULID character:
 * - `~m|<epoch>|<0|1>`: the window is *valid* under that cache epoch (see coherence.ts), and
 *   whether it holds the whole conversation (`1`) or only its newest messages;
 * - `~g|<n>`: invalidation generation, bumped when a send's Cassandra write ended in doubt;
 * - `~n|<nonce>`: the key's nonce (coherence.ts, rule 3), given by the first lookup that finds
 *   none. A lookup of an absent window creates it holding just that nonce.
 *
 * Invariant of a valid window W: W holds exactly the newest |W| messages of the conversation, and
 * all of them when complete — except messages whose write-through is still in flight. Only a fill
 * from Cassandra makes a window valid. Keeping it so:
 * - append (after the Cassandra write): adds the message unless the window is valid, incomplete
 *   and the message is older than its oldest entry (then it is not among the newest); trims to
 *   the capacity (and a trimmed complete window is complete no more). An append to a window that
 *   is not valid still records the message, so that a fill racing it merges it in;
 * - fill: checks its ticket (epoch, nonce, generation as of the lookup, i.e. before Cassandra was
 *   read) and *merges* the rows it read with the entries already there instead of replacing
 *   them. Every entry is a real, durable message (appends happen after Cassandra), so keeping one
 *   newer than the oldest row read is always right; older entries of a window that was not valid
 *   are dropped, since nothing says they are contiguous. A fill racing a send therefore never
 *   hides the sent message: either the read saw it, or its append is in the set before the fill
 *   (the unchanged nonce proves the key, and so the append, was not lost in between), or the
 *   append comes after the fill and finds a valid window it belongs in. Evictions of *other* keys
 *   do not refuse a fill, so a full cache (volatile-lru evicting all the time) still fills;
 * - invalidate (a send's Cassandra write failed and may still land later): drops entries and
 *   validity, bumps the generation, and marks the conversation uncertain for a while
 *   (coherence.ts, rule 6): no lookup hands out a ticket and no fill applies until it passes,
 *   so a window is not made valid from a read that the late write has not reached yet.
 *
 * Capacity is N + 1 (N = CACHE_RECENT_MESSAGES): a first page of N messages also learns whether
 * an older page exists. Every write refreshes the TTL, so quiet conversations expire.
 */

const ULID_LENGTH = 26;

const LUA_WINDOW = `${LUA_COMMON}
local function windowMeta(key)
  local epoch, complete, gen, nonce = false, false, '0', false
  for _, member in ipairs(redis.call('ZRANGEBYLEX', key, '[~', '+')) do
    local tag = string.sub(member, 2, 2)
    if tag == 'g' then
      gen = string.sub(member, 4)
    elseif tag == 'n' then
      nonce = string.sub(member, 4)
    elseif tag == 'm' then
      local e, c = string.match(member, '^~m|([^|]+)|([01])$')
      if e then
        epoch = e
        complete = c == '1'
      end
    end
  end
  return epoch, complete, gen, nonce
end
local function setWindowMeta(key, epoch, complete)
  redis.call('ZREMRANGEBYLEX', key, '[~m|', '(~m}')
  if epoch then redis.call('ZADD', key, 0, '~m|' .. epoch .. '|' .. (complete and '1' or '0')) end
end
local function trim(key, cap)
  local n = redis.call('ZLEXCOUNT', key, '-', '(~')
  if n > cap then
    redis.call('ZREMRANGEBYRANK', key, 0, n - cap - 1)
    return true
  end
  return false
end
local function hasId(key, id)
  return #redis.call('ZRANGEBYLEX', key, '[' .. id, '(' .. id .. '\\255', 'LIMIT', 0, 1) > 0
end
`;

/**
 * KEYS: window, epoch, uncertain. ARGV: k, conversation id, candidate nonce, ttl.
 * → {1, newest k entries}, {0, ticket}, or {0, ''} while the conversation is uncertain (no fill).
 * A miss gives the window a nonce if it has none (creating it, with the TTL, when it is absent).
 */
const READ = defineScript(`${LUA_WINDOW}
local key = KEYS[1]
local current = redis.call('GET', KEYS[2])
local epoch, complete, gen, nonce = windowMeta(key)
if current and epoch == current then
  local k = tonumber(ARGV[1])
  local items = redis.call('ZREVRANGEBYLEX', key, '(~', '-', 'LIMIT', 0, k)
  if #items >= k or complete then return {1, items} end
end
if uncertain(KEYS[3], ARGV[2]) then return {0, ''} end
if not nonce then
  local created = redis.call('EXISTS', key) == 0
  nonce = ARGV[3]
  redis.call('ZADD', key, 0, '~n|' .. nonce)
  if created then redis.call('EXPIRE', key, ARGV[4]) end
end
return {0, ticket(current, nonce, gen)}
`);

/** KEYS: window, epoch. ARGV: entry, id, capacity, ttl. → 1 added, 0 not needed. */
const APPEND = defineScript(`${LUA_WINDOW}
local key, id = KEYS[1], ARGV[2]
if hasId(key, id) then
  redis.call('EXPIRE', key, ARGV[4])
  return 0
end
local current = redis.call('GET', KEYS[2])
local epoch, complete = windowMeta(key)
local valid = current and epoch == current
if valid and not complete then
  local oldest = redis.call('ZRANGEBYLEX', key, '-', '(~', 'LIMIT', 0, 1)[1]
  if not oldest then
    -- A valid, incomplete and empty window cannot say what is newest: never answer from it.
    setWindowMeta(key, false)
    valid = false
  elseif id < string.sub(oldest, 1, ${ULID_LENGTH}) then
    redis.call('EXPIRE', key, ARGV[4])
    return 0
  end
end
redis.call('ZADD', key, 0, ARGV[1])
if trim(key, tonumber(ARGV[3])) and valid and complete then setWindowMeta(key, epoch, false) end
redis.call('EXPIRE', key, ARGV[4])
return 1
`);

/**
 * KEYS: window, epoch, uncertain. ARGV: ticket epoch, ticket nonce, ticket generation, complete
 * (0/1), capacity, ttl, conversation id, entries newest first. → 1 filled, 0 stale ticket.
 */
const FILL = defineScript(`${LUA_WINDOW}
local key = KEYS[1]
local current = ticketEpoch(KEYS[2], ARGV[1])
if not current then return 0 end
local epoch, complete, gen, nonce = windowMeta(key)
if nonce ~= ARGV[2] or gen ~= ARGV[3] then return 0 end
if uncertain(KEYS[3], ARGV[7]) then return 0 end
local readComplete = ARGV[4] == '1'
local first = 8
if #ARGV < first and not readComplete then return 0 end
local valid = epoch == current
if not readComplete and not valid then
  redis.call('ZREMRANGEBYLEX', key, '-', '(' .. string.sub(ARGV[#ARGV], 1, ${ULID_LENGTH}))
end
for i = first, #ARGV do
  local id = string.sub(ARGV[i], 1, ${ULID_LENGTH})
  redis.call('ZREMRANGEBYLEX', key, '[' .. id, '(' .. id .. '\\255')
  redis.call('ZADD', key, 0, ARGV[i])
end
local trimmed = trim(key, tonumber(ARGV[5]))
setWindowMeta(key, current, (readComplete or (valid and complete)) and not trimmed)
redis.call('EXPIRE', key, ARGV[6])
return 1
`);

/**
 * KEYS: window, uncertain. ARGV: ttl, conversation id, uncertain ms. Drops the entries and
 * validity, bumps the generation, and marks the conversation uncertain until `now + uncertain ms`
 * (never shortening a later mark).
 */
const INVALIDATE = defineScript(`${LUA_WINDOW}
local _, _, gen = windowMeta(KEYS[1])
redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '(~')
setWindowMeta(KEYS[1], false)
redis.call('ZREMRANGEBYLEX', KEYS[1], '[~g|', '(~g}')
redis.call('ZADD', KEYS[1], 0, '~g|' .. (tonumber(gen) + 1))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if tonumber(ARGV[3]) > 0 then
  redis.call('ZADD', KEYS[2], 'GT', nowMs() + tonumber(ARGV[3]), ARGV[2])
end
return 1
`);

/**
 * A message as a window entry: its id, then a compact JSON array of the fields not derivable
 * from the key or the id. Content is made well-formed UTF-16 first: Cassandra stores UTF-8, so a
 * lone surrogate comes back from it as U+FFFD, and the cached copy must be byte-identical.
 */
export function encodeEntry(message: StoredMessage): string {
  const fields = [message.senderId, message.receiverId, message.groupId, storedText(message.content)];
  return `${message.id}${JSON.stringify([...fields, message.clientTimestamp])}`;
}

export function decodeEntry(conversationId: string, entry: string): StoredMessage {
  const id = entry.slice(0, ULID_LENGTH);
  const [senderId, receiverId, groupId, content, clientTimestamp] = JSON.parse(entry.slice(ULID_LENGTH)) as [
    string,
    string | null,
    string | null,
    string,
    number | null,
  ];
  return { id, conversationId, senderId, receiverId, groupId, content, createdAt: ulidTime(id), clientTimestamp };
}

export interface RecentMessagesCacheOptions {
  redis: Redis;
  keys: Keys;
  coherence: CacheCoherence;
  counters: CacheCounters;
  /** N: how many messages a first page may take from the window (CACHE_RECENT_MESSAGES). */
  size: number;
  ttlSeconds: number;
}

/** The recent-messages window (implements the messaging service's RecentMessagesCache). */
export function createRecentMessagesCache(options: RecentMessagesCacheOptions) {
  const { redis, keys, coherence, counters } = options;
  const capacity = options.size + 1;
  const epochKey = keys.cacheEpoch();
  const uncertainKey = keys.cacheUncertain();

  return {
    capacity,

    /** The newest `limit` messages, newest first, when the window provably holds them. */
    async newest(conversationId: string, limit: number): Promise<CacheLookup<StoredMessage[]>> {
      const reply = (await coherence.read('recent', () =>
        READ(
          redis,
          [keys.recentMessages(conversationId), epochKey, uncertainKey],
          [limit, conversationId, coherence.newNonce(), options.ttlSeconds],
        ),
      )) as [number, string[] | string] | undefined;
      if (reply?.[0] === 1 && Array.isArray(reply[1])) {
        try {
          const value = reply[1].map((entry) => decodeEntry(conversationId, entry));
          counters.count('recent', 'hit');
          return { hit: true, value };
        } catch {
          counters.count('recent', 'error');
        }
      }
      counters.count('recent', 'miss');
      // An empty ticket: the conversation is uncertain, so this miss must not fill.
      return reply && typeof reply[1] === 'string' && reply[1] !== ''
        ? { hit: false, ticket: reply[1] }
        : { hit: false };
    },

    /** Stores a Cassandra read of the newest messages (newest first), if its ticket is still good. */
    async fill(conversationId: string, newestFirst: StoredMessage[], complete: boolean, ticket: string): Promise<void> {
      const parts = parseTicket(ticket);
      if (!parts) return;
      const applied = await coherence.read('recent', () =>
        FILL(
          redis,
          [keys.recentMessages(conversationId), epochKey, uncertainKey],
          [
            parts.epoch,
            parts.nonce,
            parts.version,
            complete && newestFirst.length <= capacity ? 1 : 0,
            capacity,
            options.ttlSeconds,
            conversationId,
            ...newestFirst.slice(0, capacity).map(encodeEntry),
          ],
        ),
      );
      if (applied === 1) counters.count('recent', 'fill');
      else if (applied === 0) counters.count('recent', 'staleFill');
    },

    /**
     * Write-through of a message that is durable in Cassandra. One Lua call: add, trim, TTL.
     * Rejects only when the write was lost and could not be fenced either (coherence.ts, rule 7).
     */
    async append(message: StoredMessage): Promise<void> {
      await coherence.write('recent', () =>
        APPEND(
          redis,
          [keys.recentMessages(message.conversationId), epochKey],
          [encodeEntry(message), message.id, capacity, options.ttlSeconds],
        ),
      );
    },

    /**
     * After a send whose Cassandra write ended in doubt (it may land later): no answer from this
     * window until refilled, and no refill while the conversation is uncertain (coherence.ts, rule 6).
     */
    async invalidate(conversationId: string): Promise<void> {
      await coherence.write(
        'recent',
        () =>
          INVALIDATE(
            redis,
            [keys.recentMessages(conversationId), uncertainKey],
            [options.ttlSeconds, conversationId, coherence.uncertainMs],
          ),
        { marksUncertain: true },
      );
    },
  };
}

export type RecentMessagesCacheImpl = ReturnType<typeof createRecentMessagesCache>;
