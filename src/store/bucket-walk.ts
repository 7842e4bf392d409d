import { type Bucket, bucketEnd } from '../domain/buckets.js';
import { ulidTime } from '../domain/ids.js';
import type { StoredMessage } from '../domain/types.js';

/** A page request in id space: both bounds inclusive; `exclude` is a cursor id to leave out. */
export interface IdRange {
  lowId: string;
  highId: string;
  exclude: string | undefined;
  order: 'desc' | 'asc';
  /** How many messages to return at most (the caller asks one more to learn if more exist). */
  limit: number;
}

/**
 * One page of a time-bucketed stream (a conversation's messages, a thread's replies), merging
 * across buckets. Buckets are visited from the one that can hold the first message in page order;
 * the walk stops as soon as no further bucket can hold a message that belongs on the page, so a
 * page touches only the buckets it needs. `readBucket` runs one clustering-range query (LIMIT
 * `limit`) on one bucket's partition.
 */
export async function walkBuckets(
  buckets: readonly Bucket[],
  range: IdRange,
  readBucket: (bucket: Bucket, limit: number) => Promise<StoredMessage[]>,
): Promise<StoredMessage[]> {
  const lowTime = ulidTime(range.lowId);
  const highTime = ulidTime(range.highId);
  const candidates = buckets.filter((bucket) => bucket.start <= highTime && bucketEnd(bucket) > lowTime);
  const desc = range.order === 'desc';
  // Visit order: newest window end first (desc) or oldest start first (asc).
  candidates.sort((a, b) => (desc ? bucketEnd(b) - bucketEnd(a) || b.start - a.start : a.start - b.start));
  // Ids compare as strings: ULIDs sort lexicographically in time order.
  const before = (a: StoredMessage, b: StoredMessage) => (desc ? (a.id > b.id ? -1 : 1) : a.id < b.id ? -1 : 1);
  let collected: StoredMessage[] = [];
  for (const bucket of candidates) {
    const last = collected[range.limit - 1];
    if (collected.length >= range.limit && last) {
      const lastTime = ulidTime(last.id);
      if (desc ? bucketEnd(bucket) - 1 < lastTime : bucket.start > lastTime) break;
    }
    for (const message of await readBucket(bucket, range.limit + 1)) {
      if (message.id !== range.exclude) collected.push(message);
    }
    collected.sort(before);
    collected = collected.slice(0, range.limit);
  }
  return collected;
}

/**
 * A message by id in a time-bucketed stream: first the bucket the current window length gives
 * (`likely`, right unless the length changed since), then the other recorded buckets whose window
 * holds the id's time. One partition read in the usual case.
 */
export async function findInBuckets(
  messageId: string,
  likely: Bucket | undefined,
  listBucketsUpTo: (time: number) => Promise<Bucket[]>,
  lookUp: (bucket: Bucket) => Promise<StoredMessage | undefined>,
): Promise<StoredMessage | undefined> {
  const guessed = likely ? await lookUp(likely) : undefined;
  if (guessed) return guessed;
  const time = ulidTime(messageId);
  const holding = (await listBucketsUpTo(time)).filter(
    (bucket) => bucketEnd(bucket) > time && bucket.start !== likely?.start,
  );
  for (const bucket of holding) {
    const found = await lookUp(bucket);
    if (found) return found;
  }
  return undefined;
}
