import { monotonicFactory } from 'ulid';
import { describe, expect, it, vi } from 'vitest';
import { idAt, isUlid, maxUlidAt, minUlidAt, newId, ulidTime, ulidWriteTimestampMicros } from '../../src/domain/ids.js';

/** The largest time a ULID can hold (48 bits of milliseconds). */
const MAX_ULID_TIME = 2 ** 48 - 1;

const SAMPLE_TIMES = [
  0,
  1,
  31,
  32,
  1023,
  1024,
  59_999,
  60_000,
  1_700_000_000_000,
  1_700_000_000_001,
  Date.UTC(2026, 0, 1),
  2 ** 40,
  2 ** 45 + 7,
  MAX_ULID_TIME - 1,
  MAX_ULID_TIME,
];

describe('newId', () => {
  it('returns a ULID at the current server time', () => {
    const before = Date.now();
    const id = newId();
    const after = Date.now();
    expect(isUlid(id)).toBe(true);
    expect(ulidTime(id)).toBeGreaterThanOrEqual(before);
    expect(ulidTime(id)).toBeLessThanOrEqual(after);
  });

  it('returns strictly increasing ids, also many within one millisecond', () => {
    const ids = Array.from({ length: 2000 }, () => newId());
    vi.useFakeTimers({ now: Date.now() + 1000, toFake: ['Date'] });
    try {
      // The clock stands still: every id below shares one millisecond.
      ids.push(...Array.from({ length: 2000 }, () => newId()));
      expect(new Set(ids.slice(2000).map(ulidTime)).size).toBe(1);
    } finally {
      vi.useRealTimers();
    }
    ids.push(newId());
    for (let i = 1; i < ids.length; i++) expect((ids[i] as string) > (ids[i - 1] as string)).toBe(true);
  });

  it('never goes back when the clock does', () => {
    const first = newId();
    vi.useFakeTimers({ now: ulidTime(first) - 60_000, toFake: ['Date'] });
    try {
      const second = newId();
      expect(second > first).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('idAt', () => {
  it('returns a ULID at exactly the chosen time, past or future', () => {
    for (const time of SAMPLE_TIMES.filter((t) => t > 0)) {
      const id = idAt(time);
      expect(isUlid(id)).toBe(true);
      expect(ulidTime(id)).toBe(time);
    }
  });

  it('is not clamped by newer ids made before it', () => {
    newId();
    expect(ulidTime(idAt(1_000_000))).toBe(1_000_000);
  });
});

describe('isUlid', () => {
  it('accepts canonical ULIDs and rejects everything else', () => {
    expect(isUlid('01JD3W6YQ7R5S3T2V1X0Z9Y8W7')).toBe(true);
    expect(isUlid('7ZZZZZZZZZZZZZZZZZZZZZZZZZ')).toBe(true);
    expect(isUlid('00000000000000000000000000')).toBe(true);
    expect(isUlid('8ZZZZZZZZZZZZZZZZZZZZZZZZZ')).toBe(false); // beyond 48 bits of time
    expect(isUlid('01jd3w6yq7r5s3t2v1x0z9y8w7')).toBe(false); // lower case is not canonical
    expect(isUlid('01JD3W6YQ7R5S3T2V1X0Z9Y8WU')).toBe(false); // U is not in the alphabet
    expect(isUlid('01JD3W6YQ7R5S3T2V1X0Z9Y8W')).toBe(false);
    expect(isUlid('01JD3W6YQ7R5S3T2V1X0Z9Y8W77')).toBe(false);
    expect(isUlid('')).toBe(false);
  });
});

describe('minUlidAt / maxUlidAt', () => {
  it('encode exactly the given time', () => {
    for (const time of SAMPLE_TIMES) {
      expect(ulidTime(minUlidAt(time))).toBe(time);
      expect(ulidTime(maxUlidAt(time))).toBe(time);
      expect(isUlid(minUlidAt(time))).toBe(true);
      expect(isUlid(maxUlidAt(time))).toBe(true);
    }
  });

  it('bracket every id of their millisecond', () => {
    // (ulid(0) would mean "now" to the ulid package, so time 0 is checked through its bounds only.)
    for (const time of SAMPLE_TIMES.filter((t) => t > 0)) {
      const factory = monotonicFactory();
      const ids = [idAt(time), idAt(time), factory(time), factory(time), factory(time)];
      for (const id of ids) {
        expect(minUlidAt(time) <= id).toBe(true);
        expect(id <= maxUlidAt(time)).toBe(true);
      }
    }
  });

  it('increase with time: the largest id of one millisecond sorts before the smallest of the next', () => {
    const sorted = [...SAMPLE_TIMES].sort((a, b) => a - b);
    for (let i = 0; i < sorted.length; i++) {
      const time = sorted[i] as number;
      expect(minUlidAt(time) < maxUlidAt(time)).toBe(true);
      if (time < MAX_ULID_TIME) expect(maxUlidAt(time) < minUlidAt(time + 1)).toBe(true);
      if (i > 0) expect(maxUlidAt(sorted[i - 1] as number) < minUlidAt(time)).toBe(true);
    }
  });

  it('keep ids of neighbouring milliseconds outside the bounds', () => {
    const time = 1_700_000_000_000;
    expect(idAt(time - 1) < minUlidAt(time)).toBe(true);
    expect(idAt(time + 1) > maxUlidAt(time)).toBe(true);
  });
});

describe('ulidWriteTimestampMicros', () => {
  it('lies within the millisecond of the id, in microseconds', () => {
    for (const time of SAMPLE_TIMES.filter((t) => t > 0)) {
      const micros = ulidWriteTimestampMicros(idAt(time));
      expect(micros >= BigInt(time) * 1000n).toBe(true);
      expect(micros <= BigInt(time) * 1000n + 999n).toBe(true);
    }
  });

  it('never decreases as ids increase, within a millisecond and across milliseconds', () => {
    const factory = monotonicFactory();
    const base = 1_700_000_000_000;
    const ids: string[] = [];
    for (let ms = 0; ms < 20; ms++) {
      for (let n = 0; n < 50; n++) ids.push(factory(base + ms));
    }
    // Random ids within one millisecond cover the whole random range, sorted as strings.
    for (let n = 0; n < 500; n++) ids.push(idAt(base + 25));
    ids.sort();
    for (let i = 1; i < ids.length; i++) {
      const previous = ulidWriteTimestampMicros(ids[i - 1] as string);
      const current = ulidWriteTimestampMicros(ids[i] as string);
      expect(current >= previous).toBe(true);
    }
  });

  it('is strictly greater for an id of a later millisecond', () => {
    const early = maxUlidAt(1_700_000_000_000);
    const late = minUlidAt(1_700_000_000_001);
    expect(ulidWriteTimestampMicros(late) > ulidWriteTimestampMicros(early)).toBe(true);
  });
});
