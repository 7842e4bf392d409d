import type { Receipt } from '../domain/types.js';
import { createCoalescer } from './coalesce.js';
import { bestEffort, type CacheCounters } from './counters.js';
import type { Keys } from './keys.js';
import { type CacheScripts, missTime } from './scripts.js';

/**
 * The watermarks of a conversation, read through (layout in receipts-read.lua). Watermarks only
 * move forward and every write is a per-field maximum, as in Cassandra, so a fill that read before
 * an advance and lands after it cannot move a watermark back; the entry's absolute expiry (the
 * miss's Redis time + T, only ever earlier) bounds everything else (cache/README.md).
 */

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

export function createReceiptsCache(options: {
  scripts: CacheScripts;
  keys: Keys;
  counters: CacheCounters;
  stalenessMs: number;
}) {
  const { scripts, keys, counters, stalenessMs } = options;
  const loads = createCoalescer<Receipt[]>(stalenessMs);

  return {
    /** Every receipt of the conversation; on a miss `load()` reads Cassandra (shared) and fills. */
    async getOrLoad(conversationId: string, load: () => Promise<Receipt[]>): Promise<Receipt[]> {
      const key = keys.receipts(conversationId);
      const reply = await bestEffort(counters, 'receipts', () => scripts.receiptsRead(key, stalenessMs));
      if (Array.isArray(reply) && reply[0] === 1) {
        counters.count('receipts', 'hit');
        return decodeReceipts(conversationId, reply[1] as string[]);
      }
      counters.count('receipts', 'miss');
      const missedAt = missTime(reply);
      return loads.run(conversationId, async () => {
        const receipts = await load();
        if (missedAt !== undefined) {
          const applied = await bestEffort(counters, 'receipts', () =>
            scripts.receiptsFill(
              key,
              missedAt + stalenessMs,
              ...receipts.flatMap((receipt) => [receipt.userId, receipt.deliveredUpTo ?? '', receipt.readUpTo ?? '']),
            ),
          );
          if (applied === 1) counters.count('receipts', 'fill');
        }
        return receipts;
      });
    },

    /** Write-through of a watermark that moved in Cassandra. Best effort: never rejects. */
    async advance(
      conversationId: string,
      userId: string,
      messageId: string,
      status: 'delivered' | 'read',
    ): Promise<void> {
      await bestEffort(counters, 'receipts', () =>
        scripts.receiptsAdvance(keys.receipts(conversationId), userId, messageId, status),
      );
    },
  };
}

export type ReceiptsCacheImpl = ReturnType<typeof createReceiptsCache>;
