import type { Redis } from 'ioredis';
import type { Receipt } from '../domain/types.js';
import { type CacheCoherence, type CacheLookup, defineScript, LUA_COMMON, parseTicket } from './coherence.js';
import type { CacheCounters } from './counters.js';
import type { Keys } from './keys.js';

/**
 * The watermarks of a conversation: one hash, `u:<userId>` → `<deliveredUpTo>|<readUpTo>` (empty
 * for none), `~e` → the cache epoch the entry was filled under (it answers only then), and `~n`
 * → the key's nonce (coherence.ts, rule 3).
 *
 * Watermarks only move forward, and Cassandra keeps the highest id whatever order writes land in
 * (ULID-derived write timestamps, store/receipts.ts). The cache follows the same rule: every
 * write is a per-field maximum. So an update is applied in place rather than invalidating (the
 * next page needs no Cassandra read), and a fill that read Cassandra *before* an update and lands
 * *after* it cannot move a watermark back: max(updated, stale) = updated. Updates are recorded even
 * in an entry that is not valid, so such a fill merges them in. The fill ticket still guards against
 * epoch bumps (a lost update) and against the loss of this key (an update dropped with it by an
 * eviction or expiry: the key's nonce is gone then).
 */

const LUA_RECEIPTS = `${LUA_COMMON}
local function mergeReceipt(key, user, delivered, read)
  local field = 'u:' .. user
  local old = redis.call('HGET', key, field)
  local d, r = '', ''
  if old then d, r = string.match(old, '^([^|]*)|(.*)$') end
  if delivered > d then d = delivered end
  if read > r then r = read end
  redis.call('HSET', key, field, d .. '|' .. r)
end
`;

/**
 * KEYS: receipts, epoch. ARGV: candidate nonce, ttl. → {1, HGETALL} or {0, ticket}. A miss gives
 * the key a nonce if it has none (creating the key, with the TTL, when it is absent).
 */
const GET = defineScript(`${LUA_RECEIPTS}
local current = redis.call('GET', KEYS[2])
local fields = redis.call('HMGET', KEYS[1], '~e', '~n')
if current and fields[1] == current then
  return {1, redis.call('HGETALL', KEYS[1])}
end
local nonce = fields[2]
if not nonce then
  local created = redis.call('EXISTS', KEYS[1]) == 0
  nonce = ARGV[1]
  redis.call('HSET', KEYS[1], '~n', nonce)
  if created then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
end
return {0, ticket(current, nonce, '0')}
`);

/**
 * KEYS: receipts, epoch. ARGV: ticket epoch, ticket nonce, ttl, then (user, delivered, read)
 * triples. → 1 filled, 0 stale ticket.
 */
const SET = defineScript(`${LUA_RECEIPTS}
local current = ticketEpoch(KEYS[2], ARGV[1])
if not current then return 0 end
if redis.call('HGET', KEYS[1], '~n') ~= ARGV[2] then return 0 end
for i = 4, #ARGV, 3 do mergeReceipt(KEYS[1], ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
redis.call('HSET', KEYS[1], '~e', current)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`);

/** KEYS: receipts. ARGV: user, message id, status, ttl. Read implies delivered, as in Cassandra. */
const ADVANCE = defineScript(`${LUA_RECEIPTS}
mergeReceipt(KEYS[1], ARGV[1], ARGV[2], ARGV[3] == 'read' and ARGV[2] or '')
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
`);

const USER_FIELD = 'u:';

/** Receipts from a hash reply (flat field/value list), in user id order like Cassandra's rows. */
export function decodeReceipts(conversationId: string, flat: string[]): Receipt[] {
  const receipts: Receipt[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i] as string;
    if (!field.startsWith(USER_FIELD)) continue;
    const [delivered = '', read = ''] = (flat[i + 1] as string).split('|');
    receipts.push({
      conversationId,
      userId: field.slice(USER_FIELD.length),
      deliveredUpTo: delivered || null,
      readUpTo: read || null,
    });
  }
  return receipts.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
}

export interface ReceiptsCacheOptions {
  redis: Redis;
  keys: Keys;
  coherence: CacheCoherence;
  counters: CacheCounters;
  ttlSeconds: number;
}

/** The receipts cache (implements the messaging service's ReceiptsCache). */
export function createReceiptsCache(options: ReceiptsCacheOptions) {
  const { redis, keys, coherence, counters } = options;
  const epochKey = keys.cacheEpoch();

  return {
    async get(conversationId: string): Promise<CacheLookup<Receipt[]>> {
      const reply = (await coherence.read('receipts', () =>
        GET(redis, [keys.receipts(conversationId), epochKey], [coherence.newNonce(), options.ttlSeconds]),
      )) as [number, string[] | string] | undefined;
      if (reply?.[0] === 1 && Array.isArray(reply[1])) {
        counters.count('receipts', 'hit');
        return { hit: true, value: decodeReceipts(conversationId, reply[1]) };
      }
      counters.count('receipts', 'miss');
      return reply && typeof reply[1] === 'string' ? { hit: false, ticket: reply[1] } : { hit: false };
    },

    /** Stores a Cassandra read of all the conversation's receipts, if its ticket is still good. */
    async set(conversationId: string, receipts: Receipt[], ticket: string): Promise<void> {
      const parts = parseTicket(ticket);
      if (!parts) return;
      const applied = await coherence.read('receipts', () =>
        SET(
          redis,
          [keys.receipts(conversationId), epochKey],
          [
            parts.epoch,
            parts.nonce,
            options.ttlSeconds,
            ...receipts.flatMap((receipt) => [receipt.userId, receipt.deliveredUpTo ?? '', receipt.readUpTo ?? '']),
          ],
        ),
      );
      if (applied === 1) counters.count('receipts', 'fill');
      else if (applied === 0) counters.count('receipts', 'staleFill');
    },

    /** Write-through of a watermark that moved in Cassandra. */
    async advance(
      conversationId: string,
      userId: string,
      messageId: string,
      status: 'delivered' | 'read',
    ): Promise<void> {
      await coherence.write('receipts', () =>
        ADVANCE(redis, [keys.receipts(conversationId)], [userId, messageId, status, options.ttlSeconds]),
      );
    },
  };
}

export type ReceiptsCacheImpl = ReturnType<typeof createReceiptsCache>;
