import { ulidTime } from './ids.js';

/**
 * Messages are partitioned by (conversation, bucket): a bucket is the start of a fixed time window.
 * Buckets bound partition size (a busy conversation spreads over many partitions) while one page of
 * history still touches one or two partitions.
 */
export interface Bucket {
  /** Window start, epoch ms (inclusive). */
  start: number;
  /** Window length the bucket was written with; stored so a later change of length loses nothing. */
  lengthMs: number;
}

export function bucketFor(timeMs: number, lengthMs: number): Bucket {
  return { start: timeMs - (timeMs % lengthMs), lengthMs };
}

export function bucketForMessage(messageId: string, lengthMs: number): Bucket {
  return bucketFor(ulidTime(messageId), lengthMs);
}

export const bucketEnd = (bucket: Bucket): number => bucket.start + bucket.lengthMs;

/** Whether a bucket can hold messages with times in [fromMs, toMs] (both inclusive). */
export function bucketOverlaps(bucket: Bucket, fromMs: number, toMs: number): boolean {
  return bucket.start <= toMs && bucketEnd(bucket) > fromMs;
}
