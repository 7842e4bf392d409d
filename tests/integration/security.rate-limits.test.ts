import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../src/cache/client.js';
import { createKeys } from '../../src/cache/keys.js';
import { loadConfig } from '../../src/config.js';
import { createRateLimits } from '../../src/limits/rate-limits.js';
import { createLogger } from '../../src/logger.js';
import {
  type ApiClient,
  type ApiResponse,
  apiClient,
  expectProblem,
  registerUser,
  uniqueUsername,
} from '../support/api.js';
import { testEnv } from '../support/env.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { startServer, type TestServer } from '../support/server.js';

/**
 * Rate limits against the real app, real Redis and Cassandra. Every test turns limits on with a
 * Redis key prefix of its own (so budgets never leak between tests) and small limits for the
 * behaviour under test; the others are set out of reach.
 */
const PASSWORD = 'correct-horse-battery';

const uniquePrefix = () => `rltest${randomBytes(4).toString('hex')}`;

const limitsEnv = (overrides: Record<string, string> = {}) => ({
  RATE_LIMIT_ENABLED: 'true',
  REDIS_KEY_PREFIX: uniquePrefix(),
  REST_IP_LIMIT: '100000',
  REST_USER_LIMIT: '100000',
  REGISTER_IP_LIMIT: '1000',
  LOGIN_IP_LIMIT: '1000',
  LOGIN_IP_MAX_FAILURES: '1000',
  LOGIN_ACCOUNT_MAX_FAILURES: '1000',
  SEND_BURST_LIMIT: '1000',
  SEND_SUSTAINED_LIMIT: '100000',
  ...overrides,
});

/** The whole 429 envelope: problem+json, RATE_LIMITED, Retry-After and both draft headers naming the policy. */
function expectRateLimited(response: ApiResponse, policy: string, maxRetryAfter?: number) {
  expectProblem(response, 429, 'RATE_LIMITED');
  const retryAfter = response.headers.get('retry-after');
  expect(retryAfter).toMatch(/^[1-9]\d*$/);
  if (maxRetryAfter !== undefined) expect(Number(retryAfter)).toBeLessThanOrEqual(maxRetryAfter);
  expect(response.headers.get('ratelimit-policy')).toMatch(new RegExp(`"${policy}";q=\\d+;w=\\d+`));
  expect(response.headers.get('ratelimit')).toMatch(new RegExp(`"${policy}";r=0;t=${retryAfter}(,|$)`));
  return Number(retryAfter);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('rate limits', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanup.length > 0) await cleanup.pop()?.();
  });

  async function server(overrides: Record<string, string>): Promise<[TestServer, ApiClient]> {
    const started = await startServer(overrides);
    cleanup.push(() => started.close());
    return [started, apiClient(started.url)];
  }

  const login = (api: ApiClient, username: string, password: string, headers?: Record<string, string>) =>
    api.post('/api/v1/auth/token', { username, password }, undefined, headers);

  it('locks an account after N failed logins and keeps refusing the correct password until Retry-After', async () => {
    // Trusting loopback lets the test speak from a second address through X-Forwarded-For.
    const [, api] = await server(
      limitsEnv({ LOGIN_ACCOUNT_MAX_FAILURES: '3', LOGIN_ACCOUNT_LOCK_SECONDS: '2', TRUSTED_PROXIES: '127.0.0.1' }),
    );
    const user = await registerUser(api, 'lock');

    for (let attempt = 0; attempt < 3; attempt++) {
      const wrong = await login(api, user.username, 'wrong-password');
      expectProblem(wrong, 401, 'UNAUTHENTICATED');
      expect(wrong.headers.get('ratelimit-policy')).toContain('"login-account";q=3;w=3600');
    }
    const locked = await login(api, user.username, PASSWORD);
    const retryAfter = expectRateLimited(locked, 'login-account', 2);
    // The lock is the account's, not the address's: another client is refused too (upper case
    // names the same account).
    expectRateLimited(
      await login(api, user.username.toUpperCase(), PASSWORD, { 'x-forwarded-for': '198.51.100.20' }),
      'login-account',
    );
    expectRateLimited(await login(api, user.username, PASSWORD), 'login-account');

    await sleep(retryAfter * 1000 + 100);
    const after = await login(api, user.username, PASSWORD);
    expect(after.status).toBe(200);
    // A success ends the run of failures: a new typo starts from zero.
    expect(after.headers.get('ratelimit')).toContain('"login-account";r=');
    expectProblem(await login(api, user.username, 'wrong-again'), 401, 'UNAUTHENTICATED');
    expect((await login(api, user.username, PASSWORD)).status).toBe(200);
  });

  it('lets at most N of many parallel wrong passwords reach the password check', async () => {
    // A generous Redis timeout: this is about the shared count, and under a loaded CI machine a
    // 100 ms timeout would hand some attempts to the per-node fallback (tested on its own below).
    const [, api] = await server(
      limitsEnv({
        LOGIN_ACCOUNT_MAX_FAILURES: '3',
        LOGIN_ACCOUNT_LOCK_SECONDS: '60',
        REDIS_COMMAND_TIMEOUT_MS: '3000',
      }),
    );
    const user = await registerUser(api, 'parallel');
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => login(api, user.username, 'wrong-password').then((r) => r.status)),
    );
    expect(outcomes.filter((status) => status === 401)).toHaveLength(3);
    expect(outcomes.filter((status) => status === 429)).toHaveLength(17);
  });

  it('limits logins per client IP across accounts', async () => {
    const [, api] = await server(
      limitsEnv({ LOGIN_IP_MAX_FAILURES: '3', LOGIN_IP_LOCK_SECONDS: '60', TRUSTED_PROXIES: '127.0.0.1' }),
    );
    const user = await registerUser(api, 'spray');
    const sprayer = { 'x-forwarded-for': '203.0.113.7' };
    // One guess each at three accounts (existing or not: a 401 either way).
    for (const username of [uniqueUsername('v'), uniqueUsername('v'), user.username]) {
      expectProblem(await login(api, username, 'Summer2026!', sprayer), 401, 'UNAUTHENTICATED');
    }
    const refused = await login(api, uniqueUsername('v'), 'Summer2026!', sprayer);
    expect(expectRateLimited(refused, 'login-ip-failures')).toBeGreaterThan(50);
    // Even the right password for a real account, from that address.
    expectRateLimited(await login(api, user.username, PASSWORD, sprayer), 'login-ip-failures');
    // Other addresses are not affected.
    expect((await login(api, user.username, PASSWORD, { 'x-forwarded-for': '203.0.113.8' })).status).toBe(200);
  });

  it('caps all login attempts per client IP, successful or not', async () => {
    const [, api] = await server(limitsEnv({ LOGIN_IP_LIMIT: '2' }));
    const user = await registerUser(api, 'cap');
    expect((await login(api, user.username, PASSWORD)).status).toBe(200);
    expect((await login(api, user.username, PASSWORD)).status).toBe(200);
    expectRateLimited(await login(api, user.username, PASSWORD), 'login-ip');
  });

  it('limits registrations per IP', async () => {
    const [, api] = await server(limitsEnv({ REGISTER_IP_LIMIT: '2' }));
    const first = await api.post('/api/v1/users', { username: uniqueUsername('reg'), password: PASSWORD });
    expect(first.status).toBe(201);
    expect(first.headers.get('ratelimit-policy')).toContain('"register-ip";q=2;w=3600');
    expect(first.headers.get('ratelimit')).toMatch(/"register-ip";r=1;t=\d+/);
    expect((await api.post('/api/v1/users', { username: uniqueUsername('reg'), password: PASSWORD })).status).toBe(201);
    const refused = await api.post('/api/v1/users', { username: uniqueUsername('reg'), password: PASSWORD });
    expectRateLimited(refused, 'register-ip', 3600);
  });

  it("limits a user's send burst and says when to retry", async () => {
    const [, api] = await server(limitsEnv({ SEND_BURST_LIMIT: '3', SEND_BURST_WINDOW_SECONDS: '2' }));
    const [alice, bob] = await Promise.all([registerUser(api, 'burst'), registerUser(api, 'burst')]);
    const send = (content: string) => api.post('/api/v1/messages', { receiverId: bob.id, content }, alice.token);

    for (const remaining of [2, 1, 0]) {
      const sent = await send(`hello ${remaining}`);
      expect(sent.status).toBe(201);
      expect(sent.headers.get('ratelimit-policy')).toContain('"sends-burst";q=3;w=2');
      expect(sent.headers.get('ratelimit-policy')).toContain('"sends-sustained";q=100000;w=3600');
      expect(sent.headers.get('ratelimit')).toMatch(new RegExp(`"sends-burst";r=${remaining};t=[0-2]`));
    }
    const refused = await send('one too many');
    const retryAfter = expectRateLimited(refused, 'sends-burst', 2);
    // Another user's budget is their own.
    expect((await api.post('/api/v1/messages', { receiverId: alice.id, content: 'hi' }, bob.token)).status).toBe(201);
    // The refused message was not stored.
    const history = await api.get(`/api/v1/messages?peerId=${bob.id}`, alice.token);
    expect(history.body.messages.map((message: { content: string }) => message.content)).not.toContain('one too many');

    await sleep(retryAfter * 1000 + 100);
    expect((await send('after waiting')).status).toBe(201);
  });

  it('two API nodes share one budget', async () => {
    // Shared only while Redis answers: a generous timeout keeps a loaded machine from handing a
    // request to the per-node fallback.
    const env = limitsEnv({ SEND_BURST_LIMIT: '4', SEND_BURST_WINDOW_SECONDS: '60', REDIS_COMMAND_TIMEOUT_MS: '3000' });
    const [[, one], [, two]] = await Promise.all([server(env), server(env)]);
    const [alice, bob] = await Promise.all([registerUser(one, 'shared'), registerUser(one, 'shared')]);
    const send = (api: ApiClient) => api.post('/api/v1/messages', { receiverId: bob.id, content: 'x' }, alice.token);

    const statuses = [];
    for (const api of [one, two, one, two]) statuses.push((await send(api)).status);
    expect(statuses).toEqual([201, 201, 201, 201]);
    expectRateLimited(await send(two), 'sends-burst', 60);
    expectRateLimited(await send(one), 'sends-burst', 60);
  });

  it('falls back to per-node limits when Redis is away', async () => {
    const redis: RedisChild = await startRedisChild();
    cleanup.push(() => redis.close());
    const [, api] = await server(
      limitsEnv({ REDIS_URL: redis.url, SEND_BURST_LIMIT: '3', SEND_BURST_WINDOW_SECONDS: '60' }),
    );
    const [alice, bob] = await Promise.all([registerUser(api, 'away'), registerUser(api, 'away')]);
    const send = () => api.post('/api/v1/messages', { receiverId: bob.id, content: 'x' }, alice.token);

    expect((await send()).status).toBe(201);
    expect(await redis.admin.keys('*:rl:sends-burst:*')).toHaveLength(1);
    await redis.stop();

    // Redis is gone: requests still answer, fast, and the node counts on its own (a fresh budget).
    const statuses = [];
    const durations = [];
    for (let i = 0; i < 4; i++) {
      const started = performance.now();
      statuses.push((await send()).status);
      durations.push(performance.now() - started);
    }
    expect(statuses).toEqual([201, 201, 201, 429]);
    expectRateLimited(await send(), 'sends-burst', 60);
    // The limiter never waits on the missing Redis (no offline queue, rejectIfRedisNotReady). The
    // first send after the loss is slow whatever the limits (≈2.3 s with RATE_LIMIT_ENABLED=false
    // too: the cache layer fencing itself), so only the later ones are timed.
    expect(Math.max(...durations.slice(1))).toBeLessThan(500);
  });

  it('answers from memory within one command timeout when Redis hangs, then stops waiting for it', async () => {
    const redisChild = await startRedisChild();
    cleanup.push(() => redisChild.close());
    const config = loadConfig(testEnv(limitsEnv({ REDIS_URL: redisChild.url, SEND_BURST_LIMIT: '5' })));
    const logger = createLogger({ ...config, log: { level: 'silent' } });
    const redis = createRedisClient(config.redis, logger, 'rate-limit-test');
    await redis.connect();
    cleanup.push(async () => redis.disconnect());
    const limits = createRateLimits({
      config: config.rateLimit,
      redis,
      keys: createKeys(config.redis.keyPrefix),
      logger,
    });
    expect((await limits.sendBurst.consume('hung-user')).remaining).toBe(4);

    // The server stops answering without closing the connection.
    await redisChild.admin.call('CLIENT', 'PAUSE', '3000', 'ALL');
    const timed = async () => {
      const started = performance.now();
      const decision = await limits.sendBurst.consume('hung-user');
      return { decision, ms: performance.now() - started };
    };
    const first = await timed();
    expect(first.decision.allowed).toBe(true);
    expect(first.ms).toBeLessThan(config.redis.commandTimeoutMs + 150);
    const rest = [];
    for (let i = 0; i < 5; i++) rest.push(await timed());
    // Memory now answers at once, and still limits: its own budget of 5 runs out.
    expect(Math.max(...rest.map((r) => r.ms))).toBeLessThan(20);
    expect(rest.map((r) => r.decision.allowed)).toEqual([true, true, true, true, false]);
  });

  it('ignores X-Forwarded-For from an untrusted peer; honours it from a trusted proxy', async () => {
    const [[, direct], [, proxied]] = await Promise.all([
      server(limitsEnv({ REST_IP_LIMIT: '2' })),
      server(limitsEnv({ REST_IP_LIMIT: '2', TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1' })),
    ]);
    const openapi = (api: ApiClient, forwardedFor: string) =>
      api.request('GET', '/api/v1/openapi.json', { headers: { 'x-forwarded-for': forwardedFor } });

    // Untrusted peer: a new X-Forwarded-For per request buys nothing.
    expect((await openapi(direct, '198.51.100.1')).status).toBe(200);
    expect((await openapi(direct, '198.51.100.2')).status).toBe(200);
    expectRateLimited(await openapi(direct, '198.51.100.3'), 'rest-ip');

    // Trusted proxy: each client address has its own budget…
    for (const client of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      expect((await openapi(proxied, client)).status).toBe(200);
    }
    // …keyed by the rightmost address that is not a proxy; what the client wrote to the left is ignored.
    expect((await openapi(proxied, '6.6.6.1, 203.0.113.9, 10.1.1.1')).status).toBe(200);
    expect((await openapi(proxied, '6.6.6.2, 203.0.113.9')).status).toBe(200);
    expectRateLimited(await openapi(proxied, '6.6.6.3, 203.0.113.9, 10.2.2.2'), 'rest-ip');
  });

  it('limits every request of a signed-in user, whatever their address', async () => {
    const [, api] = await server(limitsEnv({ REST_USER_LIMIT: '3', TRUSTED_PROXIES: '127.0.0.1' }));
    const user = await registerUser(api, 'rest');
    const me = (address: string) =>
      api.request('GET', '/api/v1/users/me', { token: user.token, headers: { 'x-forwarded-for': address } });
    for (const address of ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
      expect((await me(address)).status).toBe(200);
    expectRateLimited(await me('198.51.100.4'), 'rest-user');
  });

  it('RATE_LIMIT_ENABLED=false turns every limit off', async () => {
    const tiny = Object.fromEntries(
      Object.entries(limitsEnv()).map(([name, value]) => [name, /_LIMIT$|_MAX_FAILURES$/.test(name) ? '1' : value]),
    );
    const [, api] = await server({ ...tiny, RATE_LIMIT_ENABLED: 'false' });
    const [alice, bob] = await Promise.all([registerUser(api, 'off'), registerUser(api, 'off')]);
    for (let i = 0; i < 3; i++)
      expectProblem(await login(api, alice.username, 'wrong-password'), 401, 'UNAUTHENTICATED');
    const loggedIn = await login(api, alice.username, PASSWORD);
    expect(loggedIn.status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: `m${i}` }, alice.token);
      expect(sent.status).toBe(201);
      expect(sent.headers.get('ratelimit')).toBeNull();
      expect(sent.headers.get('ratelimit-policy')).toBeNull();
    }
  });
});
