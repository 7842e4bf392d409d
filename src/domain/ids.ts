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

/**
 * A monotonic id source whose ids can be floored (issue #13's stable position). `next()` is
 * strictly greater than every id it returned before and than every floor it was raised to;
 * `lowerBound()` is at most every id it will return from now on, so a node can report "I will
 * never mint below this". Why a floor: a node whose clock runs 60 s behind would otherwise mint
 * ids below a cursor another node already handed out, and a reader at that cursor would never
 * see those messages. With the floor raised to the highest position any node reported, a slow
 * clock costs nothing but ids that share one millisecond (the random part counts up).
 */
export function createIdSource(options: { now?: () => number } = {}) {
  const now = options.now ?? Date.now;
  let last = '';
  // The wall clock can step backwards (NTP): lowerBound() must hold for ids minted after the step.
  let clockHigh = 0;
  const tick = () => {
    clockHigh = Math.max(clockHigh, now());
    return clockHigh;
  };
  return {
    next(): string {
      const candidate = encodeTime(tick()) + randomChars(16);
      last = candidate > last ? candidate : incrementId(last);
      return last;
    },
    /** Every later `next()` is greater than `id`. */
    raiseFloor(id: string): void {
      if (id > last) last = id;
    },
    /** No id returned from now on is below this (ids are greater than the last one, and not older than the clock). */
    lowerBound(): string {
      const clock = minUlidAt(tick());
      return clock > last ? clock : last;
    },
  };
}

export type IdSource = ReturnType<typeof createIdSource>;

function randomChars(count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) out += ENCODING.charAt(Math.floor(pooledRandom() * 32));
  return out;
}

/** The next 26-character id in sort order (base-32 increment with carry). */
export function incrementId(id: string): string {
  const chars = id.split('');
  for (let i = chars.length - 1; i >= 0; i--) {
    const digit = ENCODING.indexOf(chars[i] as string);
    if (digit < 31) {
      chars[i] = ENCODING.charAt(digit + 1);
      return chars.join('');
    }
    chars[i] = '0';
  }
  throw new Error('id space exhausted');
}

/** The previous 26-character id in sort order: `message_id <= idBefore(x)` is `message_id < x`. */
export function idBefore(id: string): string {
  const chars = id.split('');
  for (let i = chars.length - 1; i >= 0; i--) {
    const digit = ENCODING.indexOf(chars[i] as string);
    if (digit > 0) {
      chars[i] = ENCODING.charAt(digit - 1);
      return chars.join('');
    }
    chars[i] = 'Z';
  }
  throw new Error('no id before the smallest id');
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
