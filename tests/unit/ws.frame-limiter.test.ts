import { describe, expect, it } from 'vitest';
import { createFrameLimiter } from '../../src/ws/frame-limiter.js';

describe('the per-connection frame limiter', () => {
  it('allows a burst, then the average rate, and says when the next frame fits', () => {
    const limiter = createFrameLimiter({ ratePerSecond: 10, burst: 5, closeAfter: 100, now: 0 });
    for (let i = 0; i < 5; i++) expect(limiter.take(0)).toBe('ok');
    expect(limiter.take(0)).toBe('limited');
    expect(limiter.retryAfterMs(0)).toBe(100);
    expect(limiter.take(100)).toBe('ok');
    expect(limiter.take(100)).toBe('limited');
    // Tokens refill up to the burst, never beyond it.
    for (let i = 0; i < 5; i++) expect(limiter.take(60_000)).toBe('ok');
    expect(limiter.take(60_000)).toBe('limited');
  });

  it('turns persistent refusals within the window into "abusive", and forgives after a quiet window', () => {
    const limiter = createFrameLimiter({ ratePerSecond: 1, burst: 1, closeAfter: 3, windowMs: 10_000, now: 0 });
    expect(limiter.take(0)).toBe('ok');
    expect([limiter.take(1), limiter.take(2), limiter.take(3)]).toEqual(['limited', 'limited', 'limited']);
    expect(limiter.take(4)).toBe('abusive');
    const calm = createFrameLimiter({ ratePerSecond: 1, burst: 1, closeAfter: 3, windowMs: 10_000, now: 0 });
    calm.take(0);
    calm.take(1);
    calm.take(2);
    expect(calm.take(20_000)).toBe('ok');
    expect(calm.take(20_001)).toBe('limited');
  });
});
