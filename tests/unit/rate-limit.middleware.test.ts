import { Hono } from 'hono';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../src/cache/client.js';
import { createKeys } from '../../src/cache/keys.js';
import { loadConfig } from '../../src/config.js';
import { createTrustedProxies } from '../../src/domain/client-address.js';
import { AppError } from '../../src/domain/errors.js';
import type { AppEnv } from '../../src/http/context.js';
import { loginRateLimit, restRateLimit } from '../../src/http/middleware/rate-limit.js';
import { problemResponse } from '../../src/http/problem.js';
import { createRateLimits } from '../../src/limits/rate-limits.js';
import { createLogger } from '../../src/logger.js';
import type { TokenService } from '../../src/services/tokens.js';

/**
 * The middleware in process, no I/O: the Redis client is never connected, so every limiter
 * answers from its in-memory insurance limiter (the same code path as a Redis outage).
 */
const config = loadConfig({
  JWT_SECRET: 'x'.repeat(32),
  LOG_LEVEL: 'silent',
  LOGIN_ACCOUNT_MAX_FAILURES: '2',
  LOGIN_ACCOUNT_LOCK_SECONDS: '30',
  REST_IP_LIMIT: '1000',
  REST_USER_LIMIT: '3',
  TRUSTED_PROXIES: '10.0.0.0/8',
});
const logger = createLogger(config);
const redis = createRedisClient(config.redis, logger, 'unit-never-connected');
afterAll(() => redis.disconnect());

const tokens: Pick<TokenService, 'issue' | 'verify'> = {
  issue: async (userId) => `t-${userId}`,
  verify: async (token) => (token.startsWith('t-') ? token.slice(2) : undefined),
};

function buildApp() {
  const limits = createRateLimits({ config: config.rateLimit, redis, keys: createKeys('unit'), logger });
  const address = { trustedProxies: createTrustedProxies(config.rateLimit.trustedProxies) };
  const app = new Hono<AppEnv>();
  app.use('*', async (c, next) => {
    c.set('requestId', 'req-1');
    await next();
  });
  app.use('/api/*', restRateLimit({ ip: limits.restIp, user: limits.restUser, address, identify: { tokens } }));
  app.use(
    '/api/*',
    loginRateLimit({ account: limits.loginAccount, ipFailures: limits.loginIpFailures, ip: limits.loginIp, address }),
  );
  app.post('/api/v1/auth/token', async (c) => {
    const body = (await c.req.json()) as { username?: string; password?: string };
    if (typeof body.username !== 'string' || !body.password) throw new AppError('VALIDATION_FAILED', 'both required');
    if (body.password !== 'right') throw new AppError('UNAUTHENTICATED', 'Wrong username or password');
    return c.json({ token: 'ok' });
  });
  app.get('/api/v1/ping', (c) => c.json({ ok: true }));
  app.onError((error, c) => problemResponse(c, error instanceof AppError ? error : new AppError('INTERNAL', 'x')));
  return app;
}

const peer = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });
const login = (app: Hono<AppEnv>, username: unknown, password: string, remoteAddress = '198.51.100.1') =>
  app.request(
    '/api/v1/auth/token',
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) },
    peer(remoteAddress),
  );

describe('loginRateLimit', () => {
  it('refuses the attempt after N failures with the full 429 envelope, even with the right password', async () => {
    const app = buildApp();
    expect((await login(app, 'ada', 'wrong')).status).toBe(401);
    expect((await login(app, 'ADA', 'wrong', '198.51.100.2')).status).toBe(401);
    const refused = await login(app, 'ada', 'right', '198.51.100.3');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(await refused.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED', requestId: 'req-1' });
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(refused.headers.get('ratelimit-policy')).toContain('"login-account";q=2;w=3600');
    expect(refused.headers.get('ratelimit')).toContain('"login-account";r=0;t=30');
  });

  it('does not count a request that fails validation as a failed login', async () => {
    const app = buildApp();
    for (let i = 0; i < 5; i++) expect((await login(app, 'grace', '')).status).toBe(400);
    expect((await login(app, 'grace', 'wrong')).status).toBe(401);
    expect((await login(app, 'grace', 'right')).status).toBe(200);
  });

  it('starts the run of failures again after a correct password', async () => {
    const app = buildApp();
    expect((await login(app, 'linus', 'wrong')).status).toBe(401);
    expect((await login(app, 'linus', 'right')).status).toBe(200);
    expect((await login(app, 'linus', 'wrong')).status).toBe(401);
    expect((await login(app, 'linus', 'right')).status).toBe(200);
  });
});

describe('restRateLimit', () => {
  const ping = (app: Hono<AppEnv>, remoteAddress: string, headers: Record<string, string> = {}) =>
    app.request('/api/v1/ping', { headers }, peer(remoteAddress));

  it('counts a signed-in user across addresses and sends the headers on allowed responses', async () => {
    const app = buildApp();
    const auth = { authorization: 'Bearer t-01J0000000000000000000000A' };
    const first = await ping(app, '198.51.100.1', auth);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('"rest-ip";q=1000;w=60, "rest-user";q=3;w=60');
    expect(first.headers.get('ratelimit')).toMatch(/^"rest-ip";r=999;t=\d+, "rest-user";r=2;t=\d+$/);
    expect((await ping(app, '198.51.100.2', auth)).status).toBe(200);
    expect((await ping(app, '198.51.100.3', auth)).status).toBe(200);
    const refused = await ping(app, '198.51.100.4', auth);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit')).toContain('"rest-user";r=0;');
    // The address's point for the refused request was given back.
    const other = await ping(app, '198.51.100.4');
    expect(other.headers.get('ratelimit')).toMatch(/^"rest-ip";r=999;/);
  });

  it('keys a request from a trusted proxy by its X-Forwarded-For client, and ignores the header otherwise', async () => {
    const app = buildApp();
    const viaProxy = await ping(app, '10.1.1.1', { 'x-forwarded-for': '203.0.113.50' });
    const direct = await ping(app, '198.51.100.9', { 'x-forwarded-for': '203.0.113.50' });
    const viaProxyAgain = await ping(app, '10.2.2.2', { 'x-forwarded-for': '6.6.6.6, 203.0.113.50' });
    expect(viaProxy.headers.get('ratelimit')).toMatch(/^"rest-ip";r=999;/);
    expect(direct.headers.get('ratelimit')).toMatch(/^"rest-ip";r=999;/);
    expect(viaProxyAgain.headers.get('ratelimit')).toMatch(/^"rest-ip";r=998;/);
  });
});
