import { describe, expect, it } from 'vitest';
import { bucketEnd, bucketFor, bucketForMessage, bucketOverlaps } from '../../src/domain/buckets.js';
import { idAt } from '../../src/domain/ids.js';

const MINUTE = 60_000;

describe('bucketFor', () => {
  it('starts the window at the last multiple of its length', () => {
    expect(bucketFor(0, MINUTE)).toEqual({ start: 0, lengthMs: MINUTE });
    expect(bucketFor(59_999, MINUTE)).toEqual({ start: 0, lengthMs: MINUTE });
    expect(bucketFor(60_000, MINUTE)).toEqual({ start: 60_000, lengthMs: MINUTE });
    expect(bucketFor(1_700_000_123_456, MINUTE).start).toBe(1_700_000_100_000);
  });

  it('puts every time into exactly one window of a given length', () => {
    for (const time of [0, 1, 59_999, 60_000, 60_001, 1_700_000_000_000, 1_700_000_059_999]) {
      const bucket = bucketFor(time, MINUTE);
      expect(bucket.start <= time && time < bucketEnd(bucket)).toBe(true);
    }
  });
});

describe('bucketForMessage', () => {
  it('uses the time inside the message id', () => {
    const time = 1_700_000_061_234;
    expect(bucketForMessage(idAt(time), MINUTE)).toEqual(bucketFor(time, MINUTE));
  });
});

describe('bucketOverlaps', () => {
  const bucket = { start: 60_000, lengthMs: MINUTE };

  it('includes ranges that touch the first or the last millisecond of the window', () => {
    expect(bucketOverlaps(bucket, 0, 60_000)).toBe(true);
    expect(bucketOverlaps(bucket, 119_999, 200_000)).toBe(true);
    expect(bucketOverlaps(bucket, 70_000, 80_000)).toBe(true);
    expect(bucketOverlaps(bucket, 0, 10_000_000)).toBe(true);
  });

  it('excludes ranges that end before the window or start after it', () => {
    expect(bucketOverlaps(bucket, 0, 59_999)).toBe(false);
    expect(bucketOverlaps(bucket, 120_000, 130_000)).toBe(false);
  });
});
