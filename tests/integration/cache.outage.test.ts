import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { startServer, type TestServer } from '../support/server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import {
  eventually,
  expectPageCorrect,
  expectServedFromCacheAgain,
  readWindow,
  sendDirect,
  uniquePrefix,
} from './cache.support.js';

/**
 * Redis down, unreachable, paused or slow: sends still answer 201, reads come from Cassandra and
 * equal its pages, nothing answers 5xx; when Redis is back the cache is used again and nothing
 * from before the outage is served. Each test runs its own redis-server child (the shared one is
 * never touched); a TCP proxy cuts a node off while Redis keeps its data.
 */
describe('cache when Redis fails', () => {
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
  });

  afterAll(async () => {
    await plain?.close();
    await redis?.close();
  });

  async function node(url: string, prefix: string) {
    const server = await startServer({ REDIS_URL: url, REDIS_KEY_PREFIX: prefix });
    started.push(server);
    return {
      server,
      api: apiClient(server.url),
      caches: server.container.deps.caches,
      counters: server.container.deps.cacheCounters,
    };
  }

  async function proxy(): Promise<TcpProxy> {
    const tcp = await startTcpProxy('127.0.0.1', redis.port);
    started.push(tcp);
    return tcp;
  }

  it('answers sends with 201 and reads with the full history while Redis is stopped, and fills anew once it is back', async () => {
    const target = await node(redis.url, uniquePrefix());
    const alice = await registerUser(target.api, 'alice');
    const bob = await registerUser(target.api, 'bob');
    for (let i = 0; i < 10; i++) await sendDirect(target.api, alice, bob, `before ${i}`);
    await expectPageCorrect(target.api, reference, bob, alice);
    await expectServedFromCacheAgain(target, reference, bob, alice);

    await redis.stop();
    const during: string[] = [];
    for (let i = 0; i < 5; i++)
      during.push(await sendDirect(target.api, i % 2 ? bob : alice, i % 2 ? alice : bob, `during ${i}`));
    const ids = await expectPageCorrect(target.api, reference, bob, alice);
    expect(ids.slice(0, 5)).toEqual([...during].reverse());
    const ready = await target.api.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('degraded');

    await redis.start();
    const fills = target.counters.get('recent', 'fill');
    await expectServedFromCacheAgain(target, reference, bob, alice);
    expect(target.counters.get('recent', 'fill')).toBeGreaterThan(fills);
    const after = await sendDirect(target.api, alice, bob, 'after');
    expect((await expectPageCorrect(target.api, reference, bob, alice))[0]).toBe(after);
  });

  it('does not serve the old window of a conversation that got messages while Redis was unreachable but kept its data', async () => {
    const prefix = uniquePrefix();
    const tcp = await proxy();
    const target = await node(tcp.url, prefix);
    const alice = await registerUser(target.api, 'alice');
    const bob = await registerUser(target.api, 'bob');
    for (let i = 0; i < 8; i++) await sendDirect(target.api, alice, bob, `before ${i}`);
    await expectPageCorrect(target.api, reference, bob, alice);
    await expectServedFromCacheAgain(target, reference, bob, alice);
    const conversationId = (await target.api.get(`/api/v1/messages?peerId=${alice.id}`, bob.token)).body.messages[0]
      .conversationId as string;

    tcp.cut();
    const during = [
      await sendDirect(target.api, alice, bob, 'during 1'),
      await sendDirect(target.api, bob, alice, 'during 2'),
    ];
    expect((await expectPageCorrect(target.api, reference, bob, alice)).slice(0, 2)).toEqual([...during].reverse());
    // Redis still holds the old window, and its epoch still matches: only the bump can stop it.
    const stale = await readWindow(redis.admin, prefix, conversationId);
    expect(stale.valid).toBe(true);
    expect(stale.ids).not.toContain(during[0]);

    tcp.restore();
    await expectServedFromCacheAgain(target, reference, bob, alice);
    expect((await expectPageCorrect(target.api, reference, bob, alice)).slice(0, 2)).toEqual([...during].reverse());
    expect(target.counters.snapshot().coherence.epochBump).toBeGreaterThan(0);
  });

  it('stops another node from serving a window that misses a cut-off node’s message, and reaps its lease', async () => {
    const prefix = uniquePrefix();
    const tcp = await proxy();
    const cutOff = await node(tcp.url, prefix);
    const other = await node(redis.url, prefix);
    const alice = await registerUser(other.api, 'alice');
    const bob = await registerUser(other.api, 'bob');
    for (let i = 0; i < 6; i++) await sendDirect(other.api, alice, bob, `before ${i}`);
    await expectPageCorrect(other.api, reference, bob, alice);
    await expectServedFromCacheAgain(other, reference, bob, alice);

    tcp.cut();
    const lost = await sendDirect(cutOff.api, alice, bob, 'written by the cut-off node');
    // The cut-off node's fence in Cassandra is up before that 201: the other node serves the
    // message at once (no lease-time staleness any more), and keeps doing so after the reaping.
    expect((await expectPageCorrect(other.api, reference, bob, alice))[0]).toBe(lost);
    await eventually(
      'the cut-off node’s lease is reaped',
      async () => {
        return other.counters.snapshot().coherence.expiredLease > 0;
      },
      20_000,
    );
    expect((await expectPageCorrect(other.api, reference, bob, alice))[0]).toBe(lost);

    // The cache is trusted again once the cut-off node is back, has bumped and cleared its fence.
    tcp.restore();
    await expectServedFromCacheAgain(other, reference, bob, alice);
    await expectServedFromCacheAgain(cutOff, reference, bob, alice);
    expect((await expectPageCorrect(other.api, reference, bob, alice))[0]).toBe(lost);
  });

  it('answers sends with 201 and correct pages while Redis is paused, and serves nothing stale after', async () => {
    const target = await node(redis.url, uniquePrefix());
    const alice = await registerUser(target.api, 'alice');
    const bob = await registerUser(target.api, 'bob');
    for (let i = 0; i < 5; i++) await sendDirect(target.api, alice, bob, `before ${i}`);
    await expectPageCorrect(target.api, reference, bob, alice);
    await expectServedFromCacheAgain(target, reference, bob, alice);

    await redis.admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
    const during = [
      await sendDirect(target.api, alice, bob, 'paused 1'),
      await sendDirect(target.api, bob, alice, 'paused 2'),
    ];
    expect((await expectPageCorrect(target.api, reference, bob, alice)).slice(0, 2)).toEqual([...during].reverse());

    await expectServedFromCacheAgain(target, reference, bob, alice);
    expect((await expectPageCorrect(target.api, reference, bob, alice)).slice(0, 2)).toEqual([...during].reverse());
  });

  it('answers sends with 201 and correct pages while Redis is slow (busy in DEBUG SLEEP), and serves nothing stale after', async () => {
    const target = await node(redis.url, uniquePrefix());
    const alice = await registerUser(target.api, 'alice');
    const bob = await registerUser(target.api, 'bob');
    for (let i = 0; i < 5; i++) await sendDirect(target.api, alice, bob, `before ${i}`);
    await expectPageCorrect(target.api, reference, bob, alice);
    await expectServedFromCacheAgain(target, reference, bob, alice);

    const sleeping = redis.admin.call('DEBUG', 'SLEEP', '1.5');
    const during = [
      await sendDirect(target.api, alice, bob, 'slow 1'),
      await sendDirect(target.api, bob, alice, 'slow 2'),
    ];
    expect((await expectPageCorrect(target.api, reference, bob, alice)).slice(0, 2)).toEqual([...during].reverse());
    await sleeping;

    await expectServedFromCacheAgain(target, reference, bob, alice);
    expect((await expectPageCorrect(target.api, reference, bob, alice)).slice(0, 2)).toEqual([...during].reverse());
  });
});
