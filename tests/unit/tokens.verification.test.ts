import { sign } from 'hono/jwt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { createTokenService } from '../../src/services/tokens.js';

const secret = 'unit-test-secret-that-is-long-enough!!';
const tokens = createTokenService({ secret, ttlSeconds: 3600 });
const now = () => Math.floor(Date.now() / 1000);

describe('bearer tokens', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('verifies a token it issued and returns its user id', async () => {
    const userId = newId();
    expect(await tokens.verify(await tokens.issue(userId))).toBe(userId);
  });

  it('rejects a token signed with another secret', async () => {
    const other = createTokenService({ secret: `${secret}-other`, ttlSeconds: 3600 });
    expect(await tokens.verify(await other.issue(newId()))).toBeUndefined();
  });

  it('rejects a tampered payload', async () => {
    const [header, , signature] = (await tokens.issue(newId())).split('.');
    const forged = Buffer.from(JSON.stringify({ sub: newId(), exp: now() + 60 })).toString('base64url');
    expect(await tokens.verify(`${header}.${forged}.${signature}`)).toBeUndefined();
  });

  it('rejects an expired token', async () => {
    const token = await sign({ sub: newId(), iat: now() - 7200, exp: now() - 10 }, secret, 'HS256');
    expect(await tokens.verify(token)).toBeUndefined();
  });

  it('rejects a token without an expiry', async () => {
    const token = await sign({ sub: newId(), iat: now() }, secret, 'HS256');
    expect(await tokens.verify(token)).toBeUndefined();
  });

  it('accepts a token issued by a node whose clock is a little ahead, not one far ahead', async () => {
    const userId = newId();
    const slightlyAhead = await sign({ sub: userId, iat: now() + 20, exp: now() + 3600 }, secret, 'HS256');
    const farAhead = await sign({ sub: userId, iat: now() + 600, exp: now() + 3600 }, secret, 'HS256');
    expect(await tokens.verify(slightlyAhead)).toBe(userId);
    expect(await tokens.verify(farAhead)).toBeUndefined();
  });

  it('stops accepting a token it verified before once that token expires', async () => {
    const shortLived = createTokenService({ secret, ttlSeconds: 60 });
    const userId = newId();
    const token = await shortLived.issue(userId);
    expect(await shortLived.verify(token)).toBe(userId);
    expect(await shortLived.verify(token)).toBe(userId); // remembered
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    expect(await shortLived.verify(token)).toBeUndefined();
  });

  it('rejects a token whose subject is not a user id', async () => {
    const token = await sign({ sub: 'admin', iat: now(), exp: now() + 60 }, secret, 'HS256');
    expect(await tokens.verify(token)).toBeUndefined();
    expect(await tokens.verify('not-a-jwt')).toBeUndefined();
  });
});
