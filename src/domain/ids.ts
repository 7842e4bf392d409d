import { randomFillSync } from 'node:crypto';
import { decodeTime, monotonicFactory, ulid } from 'ulid';

/**
 * Random bytes for ids, drawn from the OS CSPRNG 4 KiB at a time. The ulid package's own source
 * asks crypto for one byte per character (16 calls per id), which showed in send profiles.
 * byte / 256 picks one of 32 characters uniformly (256 is a multiple of 32).
 */
const pool = new Uint8Array(4096);
let poolIndex = pool.length;
function pooledRandom(): number {
  if (poolIndex >= pool.length) {
    randomFillSync(pool);
    poolIndex = 0;
  }
  return (pool[poolIndex++] as number) / 256;
}

/** One monotonic ULID source per process: ids sort by creation time, also within a millisecond. */
const nextUlid = monotonicFactory(pooledRandom);

export const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/** A new id (users, groups, messages) at the current server time, never client time. */
export function newId(): string {
  return nextUlid();
}

/**
 * An id at a chosen time (imports, backfills, tests that need old messages). Not monotonic:
 * the monotonic factory would clamp a past time to the latest time it has seen.
 */
export function idAt(ms: number): string {
  // ulid(0) would mean "now" to the ulid package; build the time part ourselves.
  return encodeTime(ms) + ulid(Date.now(), pooledRandom).slice(10);
}

export function isUlid(value: string): boolean {
  return ULID_PATTERN.test(value);
}

/** Milliseconds since the epoch encoded in a ULID. */
export function ulidTime(id: string): number {
  return decodeTime(id);
}

const ENCODING = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function encodeTime(ms: number): string {
  let out = '';
  let rest = ms;
  for (let i = 0; i < 10; i++) {
    out = ENCODING.charAt(rest % 32) + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

/** The smallest ULID of a millisecond: a lower bound on the clustering key for "from" queries. */
export function minUlidAt(ms: number): string {
  return `${encodeTime(ms)}0000000000000000`;
}

/** The largest ULID of a millisecond: an upper bound on the clustering key for "to" queries. */
export function maxUlidAt(ms: number): string {
  return `${encodeTime(ms)}ZZZZZZZZZZZZZZZZ`;
}

/**
 * A write timestamp (microseconds) that never decreases as ULIDs increase. Cassandra keeps the cell
 * with the highest write timestamp and, on a tie, the greater value; writing a watermark with this
 * timestamp therefore keeps the highest message id whatever the order writes arrive in.
 */
export function ulidWriteTimestampMicros(id: string): bigint {
  const ms = BigInt(decodeTime(id));
  // The first two random characters (10 bits) scaled to 0..999 keep the order within a millisecond.
  const high = ENCODING.indexOf(id.charAt(10)) * 32 + ENCODING.indexOf(id.charAt(11));
  return ms * 1000n + BigInt(Math.floor((high * 1000) / 1024));
}
