import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { startServer, type TestServer } from '../support/server.js';
import {
  eventually,
  expectPageCorrect,
  expectServedFromCacheAgain,
  readWindow,
  sendDirect,
  uniquePrefix,
} from './cache.support.js';

/**
 * Redis down, slow, paused, refusing writes or flushed: a send answers 201 (quickly), reads equal
 * Cassandra's pages, and a write-through lost meanwhile is repaired within T, because every window
 * expires at most T after the read that filled it. Each test runs on a private redis-server child
 * (the shared one is never touched).
 */
describe('cache when Redis fails', () => {
  const T = 1500;
  let redis: RedisChild;
  let plain: TestServer;
  let reference: ApiClient;
  const started: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    redis = await startRedisChild();
    plain = await startServer({ CACHE_ENABLED: 'false' });
    reference = apiClient(plain.url);
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((part) => part.close()));
    if (!redis.running()) await redis.start();
    await redis.admin.config('SET', 'maxmemory', '0').catch(() => {});
    await redis.admin.config('SET', 'maxmemory-policy', 'volatile-lru').catch(() => {});
  });

  afterAll(async () => {
    await plain?.close();
    await redis?.close();
  });

  async function node(prefix = uniquePrefix()) {
    const server = await startServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, CACHE_STALENESS_MS: String(T) });
    started.push(server);
    return { prefix, api: apiClient(server.url), counters: server.container.deps.cacheCounters };
  }

  async function conversation(target: { api: ApiClient }, messages: number) {
    const alice = await registerUser(target.api, 'alice');
    const bob = await registerUser(target.api, 'bob');
    for (let i = 0; i < messages; i++) await sendDirect(target.api, alice, bob, `before ${i}`);
    const page = await target.api.get(`/api/v1/messages?peerId=${alice.id}`, bob.token);
    return { alice, bob, conversationId: page.body.messages[0].conversationId as string };
  }

  /** A send that must answer 201 within `withinMs` whatever Redis is doing. */
  async function timedSend(api: ApiClient, from: TestUser, to: TestUser, content: string, withinMs = 1000) {
    const startedAt = Date.now();
    const id = await sendDirect(api, from, to, content);
    expect(Date.now() - startedAt).toBeLessThan(withinMs);
    return id;
  }

  it('answers a send with 201 while Redis is stopped, serves the full history from Cassandra, and caches again once Redis is back', async () => {
    const target = await node();
    const { alice, bob } = await conversation(target, 10);
    await expectServedFromCacheAgain(target, reference, bob, alice);

    await redis.stop();
    const during: string[] = [];
    for (let i = 0; i < 4; i++)
      during.push(await timedSend(target.api, i % 2 ? bob : alice, i % 2 ? alice : bob, `down ${i}`));
    expect((await expectPageCorrect(target.api, reference, bob, alice)).slice(0, 4)).toEqual([...during].reverse());
    const ready = await target.api.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('degraded');

    // A restarted Redis is empty: the first page fills anew and holds every message.
    await redis.start();
    await expectServedFromCacheAgain(target, reference, bob, alice);
    expect((await expectPageCorrect(target.api, reference, bob, alice)).slice(0, 4)).toEqual([...during].reverse());
  });

  it('answers a send with 201 in bounded time while Redis is slow (DEBUG SLEEP) or pauses writes (CLIENT PAUSE WRITE)', async () => {
    const target = await node();
    const { alice, bob } = await conversation(target, 5);
    await expectServedFromCacheAgain(target, reference, bob, alice);

    const sleeping = redis.admin.call('DEBUG', 'SLEEP', '2');
    const slow = [await timedSend(target.api, alice, bob, 'slow 1'), await timedSend(target.api, bob, alice, 'slow 2')];
    expect((await expectPageCorrect(target.api, reference, bob, alice)).slice(0, 2)).toEqual([...slow].reverse());
    await sleeping;

    await redis.admin.call('CLIENT', 'PAUSE', '2000', 'WRITE');
    const paused = [
      await timedSend(target.api, alice, bob, 'paused 1'),
      await timedSend(target.api, bob, alice, 'paused 2'),
    ];
    expect((await expectPageCorrect(target.api, reference, bob, alice)).slice(0, 2)).toEqual([...paused].reverse());
    await redis.admin.call('CLIENT', 'UNPAUSE');
    expect(target.counters.get('recent', 'error')).toBeGreaterThan(0);
    await expectServedFromCacheAgain(target, reference, bob, alice);
  });

  it('answers a send with 201 while Redis refuses writes (OOM), and repairs the lost append within T', async () => {
    const target = await node();
    const { alice, bob, conversationId } = await conversation(target, 5);
    await expectServedFromCacheAgain(target, reference, bob, alice);
    expect((await readWindow(redis.admin, target.prefix, conversationId)).filled).toBe(true);

    await redis.admin.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.admin.config('SET', 'maxmemory', '1');
    const lost = await timedSend(target.api, alice, bob, 'sent while Redis refuses writes');
    const ackedAt = Date.now();
    await redis.admin.config('SET', 'maxmemory', '0');

    // The append was refused: the window filled before the send does not have the message…
    expect(target.counters.get('recent', 'error')).toBeGreaterThan(0);
    const window = await readWindow(redis.admin, target.prefix, conversationId);
    expect(window.filled).toBe(true);
    expect(window.ids).not.toContain(lost);
    // …and within T of the acknowledgement every first page has it, served from the cache again.
    const path = `/api/v1/messages?peerId=${alice.id}&limit=50`;
    await eventually('the lost message is on the cached first page', async () => {
      const page = await target.api.get(path, bob.token);
      expect(page.status).toBe(200);
      return page.body.messages[0]?.id === lost;
    });
    expect(Date.now() - ackedAt).toBeLessThan(T + 1000);
    await expectServedFromCacheAgain(target, reference, bob, alice);
    expect((await expectPageCorrect(target.api, reference, bob, alice))[0]).toBe(lost);
  });

  it('never serves a cached page that misses an older message after FLUSHALL', async () => {
    const target = await node();
    const { alice, bob, conversationId } = await conversation(target, 8);
    await expectServedFromCacheAgain(target, reference, bob, alice);

    await redis.admin.flushall();
    // Appends find no window and create none; the next first page fills from Cassandra.
    const after = [
      await sendDirect(target.api, alice, bob, 'after flush 1'),
      await sendDirect(target.api, bob, alice, 'after flush 2'),
    ];
    expect((await readWindow(redis.admin, target.prefix, conversationId)).ids).toEqual([]);
    await expectServedFromCacheAgain(target, reference, bob, alice);
    const ids = await expectPageCorrect(target.api, reference, bob, alice);
    expect(ids).toHaveLength(10);
    expect(ids.slice(0, 2)).toEqual([...after].reverse());
  });
});
