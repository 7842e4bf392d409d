import { ulidTime } from '../domain/ids.js';
import type { ThreadSummary } from '../domain/types.js';
import { createCoalescer } from './coalesce.js';
import { bestEffort, type CacheCounters } from './counters.js';
import type { Keys } from './keys.js';
import { type CacheScripts, missTime } from './scripts.js';

/**
 * The thread summaries of one conversation's window (all its roots there, so an absent root is
 * a root without replies), read through with the receipts' scripts: the layout is the same hash
 * of `u:<id>` → `<a>|<b>` fields whose every write is a per-field maximum (receipts-read.lua,
 * receipts-fill.lua). Here `a` is the reply count as ten digits (so text order is number order)
 * and `b` the last reply id; both only grow, as watermarks do, so a fill that read before a newer
 * reply cannot move a summary back, and the absolute expiry (the miss's Redis time + T) bounds
 * the rest. No write-through: a summary is at most T old on a cached page (cache/README.md).
 */
const ROOT_FIELD = 'u:';
const COUNT_DIGITS = 10;

export function decodeSummaries(flat: string[]): Map<string, ThreadSummary> {
  const found = new Map<string, ThreadSummary>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i] as string;
    if (!field.startsWith(ROOT_FIELD)) continue;
    const [count = '', lastReplyId = ''] = (flat[i + 1] as string).split('|');
    if (count === '' || lastReplyId === '') continue;
    found.set(field.slice(ROOT_FIELD.length), {
      replyCount: Number(count),
      lastReplyId,
      lastReplyAt: ulidTime(lastReplyId),
    });
  }
  return found;
}

export function createThreadSummariesCache(options: {
  scripts: CacheScripts;
  keys: Keys;
  counters: CacheCounters;
  stalenessMs: number;
}) {
  const { scripts, keys, counters, stalenessMs } = options;
  const loads = createCoalescer<Map<string, ThreadSummary>>(stalenessMs);

  return {
    /** Every root's summary in the window; on a miss `load()` reads Cassandra (shared) and fills. */
    async getOrLoad(
      conversationId: string,
      window: number,
      load: () => Promise<Map<string, ThreadSummary>>,
    ): Promise<Map<string, ThreadSummary>> {
      const key = keys.threadSummaries(conversationId, window);
      const reply = await bestEffort(counters, 'threads', () => scripts.receiptsRead(key, stalenessMs));
      if (Array.isArray(reply) && reply[0] === 1) {
        counters.count('threads', 'hit');
        return decodeSummaries(reply[1] as string[]);
      }
      counters.count('threads', 'miss');
      const missedAt = missTime(reply);
      return loads.run(key, async () => {
        const summaries = await load();
        if (missedAt !== undefined) {
          const applied = await bestEffort(counters, 'threads', () =>
            scripts.receiptsFill(
              key,
              missedAt + stalenessMs,
              ...[...summaries].flatMap(([rootId, summary]) => [
                rootId,
                String(summary.replyCount).padStart(COUNT_DIGITS, '0'),
                summary.lastReplyId,
              ]),
            ),
          );
          if (applied === 1) counters.count('threads', 'fill');
        }
        return summaries;
      });
    },
  };
}
