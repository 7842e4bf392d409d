import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { formatRateLimit, formatRateLimitPolicy } from '../../src/http/middleware/rate-limit.js';
import type { LimitDecision } from '../../src/limits/rate-limits.js';

const decision = (
  overrides: Partial<LimitDecision> & { name: string; quota: number; window: number },
): LimitDecision => ({
  allowed: true,
  limit: overrides.quota,
  remaining: overrides.quota,
  resetMs: overrides.window * 1000,
  retryAfterSeconds: overrides.window,
  policy: { name: overrides.name, quota: overrides.quota, windowSeconds: overrides.window },
  ...overrides,
});

describe('RateLimit headers (draft-ietf-httpapi-ratelimit-headers)', () => {
  it('writes RateLimit-Policy as a structured-field list of named policies with q and w', () => {
    const value = formatRateLimitPolicy([
      decision({ name: 'sends-burst', quota: 30, window: 10 }),
      decision({ name: 'sends-sustained', quota: 1000, window: 3600 }),
    ]);
    expect(value).toBe('"sends-burst";q=30;w=10, "sends-sustained";q=1000;w=3600');
  });

  it('writes RateLimit with the remaining quota and whole seconds until the window resets', () => {
    const value = formatRateLimit([
      decision({ name: 'sends-burst', quota: 30, window: 10, remaining: 12, resetMs: 6200 }),
    ]);
    expect(value).toBe('"sends-burst";r=12;t=7');
  });

  it('gives a refused policy r=0 and its Retry-After as t', () => {
    const value = formatRateLimit([
      decision({
        name: 'login-account',
        quota: 5,
        window: 3600,
        allowed: false,
        remaining: 0,
        resetMs: 899_001,
        retryAfterSeconds: 900,
      }),
    ]);
    expect(value).toBe('"login-account";r=0;t=900');
  });
});

describe('rate-limit configuration', () => {
  const base = { JWT_SECRET: 'x'.repeat(32) };

  it('turns limits on by default with production defaults', () => {
    const { rateLimit } = loadConfig(base);
    expect(rateLimit.enabled).toBe(true);
    expect(rateLimit.trustedProxies).toEqual([]);
    expect(rateLimit.loginAccount).toEqual({ limit: 10, windowSeconds: 3600, lockSeconds: 900 });
    expect(rateLimit.sendBurst).toEqual({ limit: 30, windowSeconds: 10 });
    expect(rateLimit.ws).toEqual({
      maxConnectionsPerUser: 10,
      framesPerSecond: 20,
      frameBurst: 40,
      abuseCloseAfter: 50,
      abuseWindowSeconds: 10,
    });
  });

  it('parses TRUSTED_PROXIES and refuses an entry that is not an address or CIDR', () => {
    expect(loadConfig({ ...base, TRUSTED_PROXIES: '10.0.0.0/8, ::1' }).rateLimit.trustedProxies).toEqual([
      '10.0.0.0/8',
      '::1',
    ]);
    expect(() => loadConfig({ ...base, TRUSTED_PROXIES: '10.0.0.0/8,proxy.internal' })).toThrow(/TRUSTED_PROXIES/);
  });

  it('RATE_LIMIT_ENABLED=false turns the master switch off', () => {
    expect(loadConfig({ ...base, RATE_LIMIT_ENABLED: 'false' }).rateLimit.enabled).toBe(false);
  });
});
