import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { createTokenService, decodeCanonical } from '../../src/services/tokens.js';

const secret = 'unit-test-secret-that-is-long-enough!!';
const now = () => Math.floor(Date.now() / 1000);
const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const HS256_HEADER = b64({ alg: 'HS256', typ: 'JWT' });

/** A token over exactly these segments, correctly signed: only the encoding rules can refuse it. */
function signRaw(header: string, payload: string, options: { key?: string; hash?: 'sha256' | 'sha512' } = {}) {
  const input = `${header}.${payload}`;
  return `${input}.${createHmac(options.hash ?? 'sha256', options.key ?? secret)
    .update(input)
    .digest('base64url')}`;
}

/** A fake session store: which sessions stand, and how often it was asked. */
function fakeSessions() {
  const live = new Set<string>();
  const state = {
    live,
    calls: 0,
    failing: false,
    check: async (userId: string, sessionId: string) => {
      state.calls++;
      if (state.failing) throw new Error('store unavailable');
      return live.has(`${userId}:${sessionId}`);
    },
  };
  return state;
}

function setup(options: { ttlSeconds?: number; checkCacheMs?: number; key?: string } = {}) {
  const sessions = fakeSessions();
  const tokens = createTokenService({
    secret: options.key ?? secret,
    ttlSeconds: options.ttlSeconds ?? 3600,
    sessions: sessions.check,
    checkCacheMs: options.checkCacheMs ?? 5000,
  });
  const userId = newId();
  const sessionId = newId();
  sessions.live.add(`${userId}:${sessionId}`);
  const claims = (overrides: Record<string, unknown> = {}) => ({
    sub: userId,
    sid: sessionId,
    iat: now(),
    exp: now() + 600,
    ...overrides,
  });
  return { tokens, sessions, userId, sessionId, claims };
}

/** Every other last character that decodes to the same bytes as `segment`'s (unused low bits). */
function sameBytesVariants(segment: string): string[] {
  const bytes = Buffer.from(segment, 'base64url');
  return [...BASE64URL_ALPHABET]
    .filter((char) => char !== segment.at(-1))
    .map((char) => segment.slice(0, -1) + char)
    .filter((variant) => Buffer.from(variant, 'base64url').equals(bytes));
}

describe('access tokens', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('verifies a token it issued and returns its user id; the claims are sub, sid, iat and exp', async () => {
    const { tokens, userId, sessionId } = setup({ ttlSeconds: 900 });
    const token = await tokens.issue(userId, sessionId);
    expect(await tokens.verify(token)).toBe(userId);
    const [header, payload] = token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(Object.keys(payload).sort()).toEqual(['exp', 'iat', 'sid', 'sub']);
    expect(payload).toMatchObject({ sub: userId, sid: sessionId });
    expect(payload.exp - payload.iat).toBe(900);
    expect(tokens.ttlSeconds).toBe(900);
  });

  it('rejects a token signed with another secret', async () => {
    const { tokens, userId, sessionId } = setup();
    const other = createTokenService({ secret: `${secret}-other`, ttlSeconds: 3600, sessions: async () => true });
    expect(await tokens.verify(await other.issue(userId, sessionId))).toBeUndefined();
  });

  it('rejects a tampered payload', async () => {
    const { tokens, userId, sessionId, claims } = setup();
    const [header, , signature] = (await tokens.issue(userId, sessionId)).split('.');
    expect(await tokens.verify(`${header}.${b64(claims({ exp: now() + 7200 }))}.${signature}`)).toBeUndefined();
  });

  it('rejects an expired token and one without an expiry', async () => {
    const { tokens, claims } = setup();
    expect(await tokens.verify(signRaw(HS256_HEADER, b64(claims({ iat: now() - 7200, exp: now() - 10 }))))).toBe(
      undefined,
    );
    const { exp: _exp, ...noExpiry } = claims();
    expect(await tokens.verify(signRaw(HS256_HEADER, b64(noExpiry)))).toBeUndefined();
    // The same claims with an expiry verify: the refusals above are about exp, not the helper.
    expect(await tokens.verify(signRaw(HS256_HEADER, b64(claims())))).toBeDefined();
  });

  it('accepts a token issued by a node whose clock is a little ahead, not one far ahead', async () => {
    const { tokens, userId, claims } = setup();
    expect(await tokens.verify(signRaw(HS256_HEADER, b64(claims({ iat: now() + 20 }))))).toBe(userId);
    expect(await tokens.verify(signRaw(HS256_HEADER, b64(claims({ iat: now() + 600, exp: now() + 3600 }))))).toBe(
      undefined,
    );
  });

  it('stops accepting a token it verified before once that token expires', async () => {
    const { tokens, userId, sessionId } = setup({ ttlSeconds: 60 });
    const token = await tokens.issue(userId, sessionId);
    expect(await tokens.verify(token)).toBe(userId);
    expect(await tokens.verify(token)).toBe(userId); // remembered
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    expect(await tokens.verify(token)).toBeUndefined();
  });

  it('rejects a token whose subject or session is not an id, or that has no session', async () => {
    const { tokens, claims } = setup();
    expect(await tokens.verify(signRaw(HS256_HEADER, b64(claims({ sub: 'admin' }))))).toBeUndefined();
    expect(await tokens.verify(signRaw(HS256_HEADER, b64(claims({ sid: 'x' }))))).toBeUndefined();
    const { sid: _sid, ...noSession } = claims();
    expect(await tokens.verify(signRaw(HS256_HEADER, b64(noSession)))).toBeUndefined();
    expect(await tokens.verify('not-a-jwt')).toBeUndefined();
    expect(await tokens.verify('')).toBeUndefined();
  });
});

describe('only the canonical encoding of a token verifies', () => {
  it('refuses a trailing "=" on the signature', async () => {
    const { tokens, userId, sessionId } = setup();
    const token = await tokens.issue(userId, sessionId);
    // Node decodes the padded form to the same bytes: only the canonical rule can refuse it.
    const signature = token.split('.')[2] ?? '';
    expect(Buffer.from(`${signature}=`, 'base64url')).toEqual(Buffer.from(signature, 'base64url'));
    expect(await tokens.verify(`${token}=`)).toBeUndefined();
    expect(await tokens.verify(`${token}==`)).toBeUndefined();
    expect(await tokens.verify(token)).toBe(userId);
  });

  it("refuses each substitution of the signature's last character that decodes to the same bytes", async () => {
    const { tokens, userId, sessionId } = setup();
    const token = await tokens.issue(userId, sessionId);
    // Verified (and cached) first: a variant must not be a cache hit either.
    expect(await tokens.verify(token)).toBe(userId);
    const signature = token.split('.')[2] ?? '';
    const variants = sameBytesVariants(signature);
    // 32 bytes in 43 characters leave the last character 2 unused bits: 3 other spellings.
    expect(variants).toHaveLength(3);
    const head = token.slice(0, token.lastIndexOf('.') + 1);
    for (const variant of variants) expect(await tokens.verify(head + variant), variant).toBeUndefined();
    expect(await tokens.verify(token)).toBe(userId);
  });

  it('refuses the standard-base64 alphabet ("+", "/") in the signature', async () => {
    const { tokens, userId, claims } = setup();
    // A signature that has "-" or "_" in base64url (so "+" or "/" in standard base64).
    let token = '';
    for (let i = 0; !/[-_]/.test(token.split('.')[2] ?? ''); i++) token = signRaw(HS256_HEADER, b64(claims({ n: i })));
    expect(await tokens.verify(token)).toBe(userId);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const standard = signature.replaceAll('-', '+').replaceAll('_', '/');
    expect(await tokens.verify(`${header}.${payload}.${standard}`)).toBeUndefined();
  });

  it('refuses padding in the header or the payload even when the signature covers it', async () => {
    const { tokens, userId, claims } = setup();
    let json = JSON.stringify(claims());
    while (Buffer.byteLength(json) % 3 === 0) json += ' ';
    const payload = b64(json);
    const padding = '='.repeat((4 - (payload.length % 4)) % 4);
    expect(padding.length).toBeGreaterThan(0);
    expect(await tokens.verify(signRaw(HS256_HEADER, payload))).toBe(userId);
    expect(await tokens.verify(signRaw(HS256_HEADER, payload + padding))).toBeUndefined();
    expect(await tokens.verify(signRaw(`${HS256_HEADER}=`, payload))).toBeUndefined();
  });

  it('refuses a payload whose last character carries non-zero unused bits, even when the signature covers it', async () => {
    const { tokens, userId, claims } = setup();
    let json = JSON.stringify(claims());
    while (Buffer.byteLength(json) % 3 === 0) json += ' ';
    const payload = b64(json);
    const variants = sameBytesVariants(payload);
    expect(variants.length).toBeGreaterThan(0);
    expect(await tokens.verify(signRaw(HS256_HEADER, payload))).toBe(userId);
    for (const variant of variants) expect(await tokens.verify(signRaw(HS256_HEADER, variant))).toBeUndefined();
  });

  it('refuses alg "none", HS512, and any other header than {"alg":"HS256","typ":"JWT"}', async () => {
    const { tokens, claims } = setup();
    const payload = b64(claims());
    expect(await tokens.verify(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`)).toBeUndefined();
    expect(await tokens.verify(`${b64({ alg: 'none' })}.${payload}.`)).toBeUndefined();
    expect(await tokens.verify(signRaw(b64({ alg: 'HS512', typ: 'JWT' }), payload, { hash: 'sha512' }))).toBe(
      undefined,
    );
    expect(await tokens.verify(signRaw(b64({ typ: 'JWT', alg: 'HS256' }), payload))).toBeUndefined();
    expect(await tokens.verify(signRaw(b64({ alg: 'HS256', typ: 'JWT', kid: 'x' }), payload))).toBeUndefined();
    expect(await tokens.verify(signRaw(b64({ alg: 'HS256' }), payload))).toBeUndefined();
  });

  it('decodeCanonical accepts exactly the canonical spelling', () => {
    expect(decodeCanonical('YQ')).toEqual(Buffer.from('a'));
    for (const other of ['YR', 'YS', 'YT', 'YQ=', 'YQ==', 'Y Q', 'Y+', 'Y'])
      expect(decodeCanonical(other)).toBeUndefined();
  });
});

describe('session checks', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses a correctly signed token whose session does not stand (unknown user, revoked session)', async () => {
    const { tokens, sessions, userId, sessionId } = setup();
    const ghost = await tokens.issue(newId(), newId());
    expect(await tokens.verify(ghost)).toBeUndefined();
    const token = await tokens.issue(userId, sessionId);
    expect(await tokens.verify(token)).toBe(userId);
    sessions.live.clear();
    tokens.forget(userId, sessionId);
    expect(await tokens.verify(token)).toBeUndefined();
  });

  it('trusts a check for checkCacheMs, then asks the store again', async () => {
    const { tokens, sessions, userId, sessionId } = setup({ checkCacheMs: 5000 });
    const token = await tokens.issue(userId, sessionId);
    expect(await tokens.verify(token)).toBe(userId);
    expect(await tokens.verify(token)).toBe(userId);
    expect(sessions.calls).toBe(1);
    // Revoked elsewhere (another node): still trusted here until the bound...
    sessions.live.clear();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 4000);
    expect(await tokens.verify(token)).toBe(userId);
    // ...and refused once it has passed.
    vi.setSystemTime(Date.now() + 1500);
    expect(await tokens.verify(token)).toBeUndefined();
    expect(sessions.calls).toBe(2);
  });

  it('asks the store on every request when checkCacheMs is 0', async () => {
    const { tokens, sessions, userId, sessionId } = setup({ checkCacheMs: 0 });
    const token = await tokens.issue(userId, sessionId);
    await tokens.verify(token);
    await tokens.verify(token);
    expect(sessions.calls).toBe(2);
  });

  it('shares one store read among concurrent checks of a session', async () => {
    const { tokens, sessions, userId, sessionId } = setup();
    const token = await tokens.issue(userId, sessionId);
    expect(await Promise.all([tokens.verify(token), tokens.verify(token), tokens.verify(token)])).toEqual([
      userId,
      userId,
      userId,
    ]);
    expect(sessions.calls).toBe(1);
  });

  it('forget(userId) drops every cached session of that user at once', async () => {
    const { tokens, sessions, userId, sessionId } = setup();
    const otherSession = newId();
    sessions.live.add(`${userId}:${otherSession}`);
    const [a, b] = [await tokens.issue(userId, sessionId), await tokens.issue(userId, otherSession)];
    expect([await tokens.verify(a), await tokens.verify(b)]).toEqual([userId, userId]);
    sessions.live.clear();
    tokens.forget(userId);
    expect([await tokens.verify(a), await tokens.verify(b)]).toEqual([undefined, undefined]);
  });

  it('fails (rather than authenticating) when the store cannot answer', async () => {
    const { tokens, sessions, userId, sessionId } = setup();
    sessions.failing = true;
    await expect(tokens.verify(await tokens.issue(userId, sessionId))).rejects.toThrow('store unavailable');
  });

  it('authenticate returns the claims of a valid token', async () => {
    const { tokens, userId, sessionId } = setup({ ttlSeconds: 120 });
    const claims = await tokens.authenticate(await tokens.issue(userId, sessionId));
    expect(claims).toEqual({ userId, sessionId, issuedAt: expect.any(Number), expiresAt: expect.any(Number) });
    expect((claims?.expiresAt ?? 0) - (claims?.issuedAt ?? 0)).toBe(120);
  });
});
