import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { startServer, type TestServer } from '../support/server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import {
  eventually,
  expectPageCorrect,
  expectServedFromCacheAgain,
  sendDirect,
  sleep,
  uniquePrefix,
} from './cache.support.js';

/**
 * A node cut off from Redis while another node still reaches it (a partial partition) keeps
 * answering sends; its fence in Cassandra must keep the other node from serving windows that
 * miss those messages — after the cut-off node's lease was reaped, and after it crashed while
 * fenced. Each test runs its own redis-server child; a TCP proxy cuts one node off.
 */
describe('cache fences of nodes cut off from Redis', () => {
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
  });

  afterAll(async () => {
    await plain?.close();
    await redis?.close();
  });

  async function node(url: string, prefix: string, env: Record<string, string> = {}) {
    const server = await startServer({ REDIS_URL: url, REDIS_KEY_PREFIX: prefix, ...env });
    let open = true;
    const handle = {
      close: async () => {
        if (!open) return;
        open = false;
        await server.close();
      },
    };
    started.push(handle);
    const caches = server.container.deps.caches;
    if (!caches) throw new Error('the cache is enabled in these tests');
    return {
      server,
      close: handle.close,
      api: apiClient(server.url),
      caches,
      counters: server.container.deps.cacheCounters,
    };
  }
  type Node = Awaited<ReturnType<typeof node>>;

  async function proxy(): Promise<TcpProxy> {
    const tcp = await startTcpProxy('127.0.0.1', redis.port);
    started.push(tcp);
    return tcp;
  }

  /** The other node's first page, read repeatedly: it always starts with the cut-off node's messages. */
  async function expectAlwaysIncludes(target: Node, user: TestUser, peer: TestUser, newestFirst: string[], reads = 15) {
    for (let i = 0; i < reads; i++) {
      const ids = await expectPageCorrect(target.api, reference, user, peer);
      expect(ids.slice(0, newestFirst.length)).toEqual(newestFirst);
      await sleep(150);
    }
  }

  async function fenceRows(target: Node, prefix: string) {
    const result = await target.server.container.deps.db.execute(
      'SELECT node_id FROM cache_fences WHERE scope = ?',
      [prefix],
      { idempotent: true },
    );
    return result.rows.map((row) => row.node_id as string);
  }

  async function warmUp(other: Node) {
    const alice = await registerUser(other.api, 'alice');
    const bob = await registerUser(other.api, 'bob');
    for (let i = 0; i < 6; i++) await sendDirect(other.api, alice, bob, `before ${i}`);
    await expectPageCorrect(other.api, reference, bob, alice);
    await expectServedFromCacheAgain(other, reference, bob, alice);
    return { alice, bob };
  }

  it('keeps another node from serving windows that miss messages a cut-off node accepts after its lease was reaped, and uses the cache again once it is back', async () => {
    const prefix = uniquePrefix();
    const tcp = await proxy();
    const cutOff = await node(tcp.url, prefix);
    const other = await node(redis.url, prefix);
    const { alice, bob } = await warmUp(other);

    tcp.cut();
    await eventually(
      'the cut-off node’s lease is reaped',
      async () => other.counters.snapshot().coherence.expiredLease > 0,
      20_000,
    );
    // The reaping bumped the epoch; let the other node fill and serve a window again first.
    await expectServedFromCacheAgain(other, reference, bob, alice);

    const during: string[] = [];
    for (let i = 0; i < 3; i++)
      during.push(await sendDirect(cutOff.api, i % 2 ? bob : alice, i % 2 ? alice : bob, `cut ${i}`));
    expect(cutOff.caches.coherence.fenced()).toBe(true);
    const skips = other.counters.get('recent', 'skip');
    await expectAlwaysIncludes(other, bob, alice, [...during].reverse());
    expect(other.caches.coherence.fencedBy()).toEqual([cutOff.caches.coherence.instanceId]);
    expect(other.counters.get('recent', 'skip')).toBeGreaterThan(skips);
    // More messages while the partition lasts (the fence is up: no new wait) are seen too.
    during.push(await sendDirect(cutOff.api, alice, bob, 'cut 3'));
    await expectAlwaysIncludes(other, bob, alice, [...during].reverse(), 5);

    tcp.restore();
    await eventually('the cut-off node clears its fence after its epoch bump', async () => {
      return !cutOff.caches.coherence.fenced() && (await fenceRows(other, prefix)).length === 0;
    });
    await expectServedFromCacheAgain(other, reference, bob, alice);
    await expectServedFromCacheAgain(cutOff, reference, bob, alice);
    expect((await expectPageCorrect(other.api, reference, bob, alice)).slice(0, during.length)).toEqual(
      [...during].reverse(),
    );
    expect(cutOff.counters.snapshot().coherence.epochBump).toBeGreaterThan(0);
  });

  it('bumps the epoch once the fence of a node that crashed while cut off expires, and then serves from the cache again', async () => {
    const prefix = uniquePrefix();
    const tcp = await proxy();
    const cutOff = await node(tcp.url, prefix);
    // The bump for a dead fence also marks every conversation uncertain (the crashed node may have
    // lost an uncertainty mark); a short period keeps the test short.
    const other = await node(redis.url, prefix, { CACHE_UNCERTAIN_MS: '2000' });
    const { alice, bob } = await warmUp(other);

    tcp.cut();
    const lost = await sendDirect(cutOff.api, alice, bob, 'sent by the node that then crashes');
    const id = cutOff.caches.coherence.instanceId;
    // Stopping a node with unbumped losses leaves its lease and its fence behind, as a crash does.
    await cutOff.close();
    expect(await fenceRows(other, prefix)).toEqual([id]);
    const bumps = other.counters.snapshot().coherence.epochBump;
    await expectAlwaysIncludes(other, bob, alice, [lost], 5);
    expect(other.caches.coherence.fencedBy()).toEqual([id]);

    // Its alive flag expires (10 s); the other node then bumps the epoch and deletes the fence.
    await eventually(
      'the crashed node’s fence is gone',
      async () => {
        await expectAlwaysIncludes(other, bob, alice, [lost], 1);
        return (await fenceRows(other, prefix)).length === 0;
      },
      25_000,
    );
    expect(other.counters.snapshot().coherence.epochBump).toBeGreaterThan(bumps);
    await expectServedFromCacheAgain(other, reference, bob, alice);
    expect((await expectPageCorrect(other.api, reference, bob, alice))[0]).toBe(lost);
  });
});
