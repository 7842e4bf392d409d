import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directConversationId } from '../../src/domain/conversations.js';
import { createGroupRepository } from '../../src/store/groups.js';
import { createMessageRepository } from '../../src/store/messages.js';
import { createReceiptRepository } from '../../src/store/receipts.js';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { startServer, type TestServer } from '../support/server.js';
import { eventually, patientCache, readWindow, sleep, uniquePrefix } from './cache.support.js';

/**
 * A full LRU cache evicts all the time: that must not stop fills (only the loss of the very key a
 * fill would write may refuse it), and the loss of that key — evicted or expired between a miss
 * and its fill, taking a concurrent write with it — must never let the fill hide the write.
 * On a private redis-server with a small maxmemory and volatile-lru, kept full by unrelated keys.
 */
describe('cache under eviction', () => {
  const prefix = uniquePrefix();
  let redis: RedisChild;
  let server: TestServer;
  let plain: TestServer;
  let api: ApiClient;
  let reference: ApiClient;

  beforeAll(async () => {
    redis = await startRedisChild({ args: ['--maxmemory', '12mb', '--maxmemory-samples', '10'] });
    [server, plain] = await Promise.all([
      startServer({ ...patientCache(prefix), REDIS_URL: redis.url }),
      startServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, CACHE_ENABLED: 'false' }),
    ]);
    api = apiClient(server.url);
    reference = apiClient(plain.url);
  });

  afterAll(async () => {
    await Promise.all([server?.close(), plain?.close()]);
    await redis?.close();
  });

  const caches = () => {
    const layer = server.container.deps.caches;
    if (!layer) throw new Error('cache disabled');
    return layer;
  };
  const counters = () => server.container.deps.cacheCounters;
  const db = () => server.container.deps.db;
  const windowKey = (conversationId: string) => `${prefix}:v1:recent:${conversationId}`;
  const ticketOf = (lookup: { hit: boolean; ticket?: string }) => {
    expect(lookup.hit).toBe(false);
    const ticket = lookup.hit ? '' : (lookup.ticket ?? '');
    expect(ticket).not.toBe('');
    return ticket;
  };

  async function evictedKeys(client: Redis): Promise<number> {
    return Number(/evicted_keys:(\d+)/.exec(await client.info('stats'))?.[1] ?? 0);
  }

  /**
   * Writes unrelated keys with a TTL (volatile-lru may evict them) in batches, so that once Redis
   * is at maxmemory every batch evicts. `burst` writes until at least `evictions` more keys have
   * been evicted; `start` keeps writing in the background until `stop`.
   */
  function filler(client: Redis) {
    const value = 'f'.repeat(1024);
    let n = 0;
    const batch = async () => {
      const pipeline = client.pipeline();
      for (let i = 0; i < 50; i++) pipeline.set(`filler:${prefix}:${n++}`, value, 'EX', 3600);
      await pipeline.exec();
    };
    let running = false;
    let loop: Promise<void> = Promise.resolve();
    return {
      async burst(evictions: number) {
        const target = (await evictedKeys(client)) + evictions;
        for (let i = 0; i < 2000 && (await evictedKeys(client)) < target; i++) await batch();
        expect(await evictedKeys(client)).toBeGreaterThanOrEqual(target);
      },
      /**
       * Fills Redis to maxmemory, then lets Redis's LRU clock (1 s resolution) move on, so the
       * filler keys are older than anything the test touches next, as in a cache that has been
       * full for a while (otherwise a key the test just wrote ties with them for eviction).
       */
      async fillUp() {
        await this.burst(100);
        await sleep(2100);
      },
      start() {
        running = true;
        loop = (async () => {
          // About 1 MB/s: Redis evicts ~1000 keys a second while the 12 MB it holds turn over in
          // ~10 s, so keys a test just used are the most recently used ones.
          for (let i = 0; running && i < 20_000; i++) {
            await batch();
            await sleep(50);
          }
        })();
      },
      async stop() {
        running = false;
        await loop;
      },
    };
  }

  /** Drops the filler keys: Redis is below maxmemory again and evicts nothing for a while. */
  async function dropFillers() {
    for await (const keys of redis.admin.scanStream({ match: `filler:${prefix}:*`, count: 1000 })) {
      if ((keys as string[]).length > 0) await redis.admin.unlink(...(keys as string[]));
    }
  }

  async function conversation(messages: number) {
    const alice = await registerUser(api, 'alice');
    const bob = await registerUser(api, 'bob');
    for (let i = 0; i < messages; i++) {
      const response = await api.post(
        '/api/v1/messages',
        { receiverId: bob.id, content: `m${i} ${'z'.repeat(90)}` },
        alice.token,
      );
      expect(response.status).toBe(201);
    }
    return { alice, bob, conversationId: directConversationId(alice.id, bob.id) };
  }

  const newestFromCassandra = (conversationId: string, limit: number) =>
    createMessageRepository(db()).page({
      conversationId,
      lowId: '00000000000000000000000000',
      highId: '7ZZZZZZZZZZZZZZZZZZZZZZZZZ',
      exclude: undefined,
      order: 'desc',
      limit,
    });

  /** The first page is a cache hit on the caching node and equals the page read from Cassandra. */
  async function expectHitEqualToCassandra(user: TestUser, peer: TestUser) {
    const path = `/api/v1/messages?peerId=${peer.id}&limit=50`;
    const hits = counters().get('recent', 'hit');
    const fromCache = await api.get(path, user.token);
    expect(fromCache.status).toBe(200);
    expect(counters().get('recent', 'hit')).toBe(hits + 1);
    expect(fromCache.body).toEqual((await reference.get(path, user.token)).body);
    return fromCache.body.messages as Array<{ id: string }>;
  }

  it('applies a fill although Redis evicted other keys between its lookup and the fill', async () => {
    const fill = filler(redis.admin);
    await fill.fillUp(); // Redis is at maxmemory: every further write evicts
    const { alice, bob, conversationId } = await conversation(60);
    const ticket = ticketOf(await caches().recent.newest(conversationId, 51));
    const rows = await newestFromCassandra(conversationId, 51);
    await fill.burst(50);
    const fills = counters().get('recent', 'fill');
    await caches().recent.fill(conversationId, rows, rows.length <= 50, ticket);
    expect(counters().get('recent', 'fill')).toBe(fills + 1);
    expect((await readWindow(redis.admin, prefix, conversationId)).valid).toBe(true);
    await expectHitEqualToCassandra(bob, alice);
  });

  it('fills windows and serves hits while Redis evicts keys all the time', async () => {
    const fill = filler(redis.admin);
    await fill.fillUp();
    const conversations = [];
    for (let i = 0; i < 8; i++) conversations.push(await conversation(55));
    const evictedBefore = await evictedKeys(redis.admin);
    const stale = counters().get('recent', 'staleFill');
    const receiptHits = counters().get('receipts', 'hit');
    const bumps = counters().snapshot().coherence.epochBump;
    fill.start();
    try {
      for (const { alice, bob } of conversations) {
        const path = `/api/v1/messages?peerId=${alice.id}&limit=50`;
        expect((await api.get(path, bob.token)).status).toBe(200); // a miss that fills
        await expectHitEqualToCassandra(bob, alice);
      }
    } finally {
      await fill.stop();
    }
    // Evictions really went on throughout, yet no fill was refused, the cache guard (epoch, leases)
    // was never evicted (that would bump the epoch), and receipts were served from Redis too.
    expect(await evictedKeys(redis.admin)).toBeGreaterThan(evictedBefore + conversations.length);
    expect(counters().get('recent', 'staleFill')).toBe(stale);
    expect(counters().snapshot().coherence.epochBump).toBe(bumps);
    expect(counters().get('receipts', 'hit')).toBeGreaterThan(receiptHits);
  });

  it('refuses a fill whose window was lost (evicted or expired) after a send wrote through into it', async () => {
    // No memory pressure here: what refuses the fill is the loss of this very key, not evictions.
    await dropFillers();
    const evicted = await evictedKeys(redis.admin);
    const losses: Array<(key: string) => Promise<void>> = [
      async (key) => {
        await redis.admin.del(key); // as an eviction does
      },
      async (key) => {
        await redis.admin.pexpire(key, 1); // a real expiry
        await eventually('the window expired', async () => (await redis.admin.exists(key)) === 0, 5000);
      },
    ];
    for (const [round, lose] of losses.entries()) {
      for (const existing of [0, 5, 60]) {
        const { alice, bob, conversationId } = await conversation(existing);
        await redis.admin.del(windowKey(conversationId));
        const ticket = ticketOf(await caches().recent.newest(conversationId, 51));
        const rows = await newestFromCassandra(conversationId, 51);
        const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: `lost ${round}` }, alice.token);
        expect(sent.status).toBe(201);
        expect((await readWindow(redis.admin, prefix, conversationId)).ids).toContain(sent.body.message.id);
        await lose(windowKey(conversationId));
        const stale = counters().get('recent', 'staleFill');
        await caches().recent.fill(conversationId, rows, rows.length <= 50, ticket);
        expect(counters().get('recent', 'staleFill')).toBe(stale + 1);
        expect((await readWindow(redis.admin, prefix, conversationId)).valid).toBe(false);
        // The next miss fills from Cassandra, the sent message included.
        await api.get(`/api/v1/messages?peerId=${alice.id}&limit=50`, bob.token);
        expect((await expectHitEqualToCassandra(bob, alice))[0]?.id).toBe(sent.body.message.id);
      }
    }
    expect(await evictedKeys(redis.admin)).toBe(evicted);
  });

  it('refuses a fill whose window was lost and recreated by a send between its lookup and the fill', async () => {
    const { alice, bob, conversationId } = await conversation(3);
    await redis.admin.del(windowKey(conversationId));
    const ticket = ticketOf(await caches().recent.newest(conversationId, 51));
    const rows = await newestFromCassandra(conversationId, 51);
    await redis.admin.del(windowKey(conversationId));
    const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'recreates' }, alice.token);
    expect(sent.status).toBe(201);
    // A second miss gives the recreated window a nonce of its own; the first ticket must not match it.
    const second = ticketOf(await caches().recent.newest(conversationId, 51));
    expect(second).not.toBe(ticket);
    const stale = counters().get('recent', 'staleFill');
    await caches().recent.fill(conversationId, rows, true, ticket);
    expect(counters().get('recent', 'staleFill')).toBe(stale + 1);
    expect((await readWindow(redis.admin, prefix, conversationId)).valid).toBe(false);
    await api.get(`/api/v1/messages?peerId=${alice.id}&limit=50`, bob.token);
    expect((await expectHitEqualToCassandra(bob, alice))[0]?.id).toBe(sent.body.message.id);
  });

  it('refuses receipts and members read before a change whose key was lost before the fill', async () => {
    const { alice, bob, conversationId } = await conversation(4);
    const [last, , earlier] = await newestFromCassandra(conversationId, 3);
    if (!last || !earlier) throw new Error('no messages');
    const read = (messageId: string) =>
      api.post(`/api/v1/conversations/${conversationId}/receipts`, { messageId, status: 'read' }, bob.token);
    expect((await read(earlier.id)).status).toBe(200);

    // Receipts: read before Bob reads everything; the receipts key is lost with the update in it.
    const receiptsKey = `${prefix}:v1:receipts:${conversationId}`;
    await redis.admin.del(receiptsKey);
    const receiptTicket = ticketOf(await caches().receipts.get(conversationId));
    const staleReceipts = await createReceiptRepository(db()).listForConversation(conversationId);
    expect((await read(last.id)).status).toBe(200);
    await redis.admin.del(receiptsKey);
    await caches().receipts.set(conversationId, staleReceipts, receiptTicket);
    expect((await caches().receipts.get(conversationId)).hit).toBe(false);
    const path = `/api/v1/messages?peerId=${bob.id}`;
    await api.get(path, alice.token);
    const page = await api.get(path, alice.token);
    expect(page.body.messages[0].status).toBe('read');
    expect(page.body).toEqual((await reference.get(path, alice.token)).body);

    // Members: read before a newcomer joins; the members key is lost with the invalidation.
    const newcomer = await registerUser(api, 'newcomer');
    const group = await api.post('/api/v1/groups', { name: 'lost key', memberIds: [bob.id] }, alice.token);
    const groupId: string = group.body.group.id;
    const membersKey = `${prefix}:v1:members:${groupId}`;
    const memberTicket = ticketOf(await caches().members.get(groupId));
    const staleMembers = (await createGroupRepository(db()).listMembers(groupId)).map((member) => member.userId);
    expect((await api.post(`/api/v1/groups/${groupId}/members`, { userId: newcomer.id }, alice.token)).status).toBe(
      201,
    );
    await redis.admin.del(membersKey);
    await caches().members.set(groupId, staleMembers, memberTicket);
    expect((await caches().members.get(groupId)).hit).toBe(false);
    expect((await api.get(`/api/v1/messages?groupId=${groupId}`, newcomer.token)).status).toBe(200);
  });

  it('bumps the cache epoch when the leases set is lost, since it may have held an expired lease', async () => {
    const { alice, bob } = await conversation(3);
    await api.get(`/api/v1/messages?peerId=${alice.id}`, bob.token);
    await expectHitEqualToCassandra(bob, alice);
    const bumps = counters().snapshot().coherence.epochBump;
    await redis.admin.del(`${prefix}:v1:cache:leases`);
    await eventually('a heartbeat bumps the epoch', async () => counters().snapshot().coherence.epochBump > bumps);
    // The old window no longer answers; the next miss fills anew.
    const misses = counters().get('recent', 'miss');
    await api.get(`/api/v1/messages?peerId=${alice.id}&limit=50`, bob.token);
    expect(counters().get('recent', 'miss')).toBe(misses + 1);
    await expectHitEqualToCassandra(bob, alice);
  });
});
