import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { recordCassandraCalls } from '../support/cassandra-calls.js';
import { startServer, type TestServer } from '../support/server.js';
import { dropPrefix, inspector, patientCache, readWindow, uniquePrefix, withoutCursor } from './cache.support.js';

/**
 * What the cache answers is what Cassandra answers: every first page served from Redis is compared
 * with the same page from a node whose cache is disabled (CACHE_ENABLED=false reads Cassandra only).
 */
describe('cache consistency with Cassandra', () => {
  const prefix = uniquePrefix();
  let cached: TestServer;
  let plain: TestServer;
  let api: ApiClient;
  let reference: ApiClient;

  beforeAll(async () => {
    [cached, plain] = await Promise.all([
      startServer(patientCache(prefix)),
      startServer({ REDIS_KEY_PREFIX: prefix, CACHE_ENABLED: 'false' }),
    ]);
    api = apiClient(cached.url);
    reference = apiClient(plain.url);
  });

  const redis = inspector();

  afterAll(async () => {
    await Promise.all([cached?.close(), plain?.close()]);
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  const counters = () => cached.container.deps.cacheCounters;
  const hits = () => counters().get('recent', 'hit');

  async function send(from: TestUser, target: { receiverId: string } | { groupId: string }, content: string) {
    const response = await api.post(
      '/api/v1/messages',
      { ...target, content, timestamp: Date.now() - 1000 },
      from.token,
    );
    expect(response.status).toBe(201);
    return response.body.message as { id: string; conversationId: string };
  }

  /** The page from the caching node, asserted to be a cache hit, and the page from Cassandra. */
  async function cachedAndReference(path: string, token: string) {
    await api.get(path, token); // a miss fills the window (or it is already warm)
    const before = hits();
    const fromCache = await api.get(path, token);
    expect(fromCache.status).toBe(200);
    expect(hits()).toBe(before + 1);
    const fromCassandra = await reference.get(path, token);
    expect(fromCassandra.status).toBe(200);
    return { fromCache: withoutCursor(fromCache.body), fromCassandra: withoutCursor(fromCassandra.body) };
  }

  it('serves a one-to-one first page from Redis identical to the page read from Cassandra, also after receipts move', async () => {
    const alice = await registerUser(api, 'alice');
    const bob = await registerUser(api, 'bob');
    const sent: Array<{ id: string; conversationId: string }> = [];
    for (let i = 0; i < 60; i++) {
      const from = i % 3 === 0 ? bob : alice;
      sent.push(await send(from, { receiverId: from === bob ? alice.id : bob.id }, `message ${i} ${'x'.repeat(80)}`));
    }
    for (const limit of [1, 10, 49, 50]) {
      const pages = await cachedAndReference(`/api/v1/messages?peerId=${alice.id}&limit=${limit}`, bob.token);
      expect(pages.fromCache.messages).toHaveLength(limit);
      expect(pages.fromCache).toEqual(pages.fromCassandra);
    }

    // Bob has everything up to #40 delivered and up to #30 read; Alice then reads some too.
    const conversationId = sent[0]?.conversationId as string;
    const receipt = async (user: TestUser, index: number, status: 'delivered' | 'read') => {
      const response = await api.post(
        `/api/v1/conversations/${conversationId}/receipts`,
        { messageId: sent[index]?.id, status },
        user.token,
      );
      expect(response.status).toBe(200);
    };
    await receipt(bob, 40, 'delivered');
    await receipt(bob, 30, 'read');
    await receipt(alice, 57, 'read');
    for (const [user, peer] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      const pages = await cachedAndReference(`/api/v1/messages?peerId=${peer.id}&limit=50`, user.token);
      expect(pages.fromCache).toEqual(pages.fromCassandra);
      const statuses = new Set(pages.fromCache.messages.map((message: { status: string }) => message.status));
      expect(statuses).toEqual(new Set(['sent', 'delivered', 'read']));
    }
    // An older receipt never moves a watermark back, in the cache as in Cassandra.
    await receipt(bob, 5, 'read');
    const pages = await cachedAndReference(`/api/v1/messages?conversationId=${conversationId}&limit=50`, bob.token);
    expect(pages.fromCache).toEqual(pages.fromCassandra);
    const receipts = await api.get(`/api/v1/conversations/${conversationId}/receipts`, alice.token);
    expect(receipts.body).toEqual(
      (await reference.get(`/api/v1/conversations/${conversationId}/receipts`, alice.token)).body,
    );
  });

  it('serves a group first page from Redis identical to the page read from Cassandra, also after receipts move', async () => {
    const owner = await registerUser(api, 'owner');
    const members = [await registerUser(api, 'm1'), await registerUser(api, 'm2')];
    const group = await api.post(
      '/api/v1/groups',
      { name: 'cache group', memberIds: members.map((m) => m.id) },
      owner.token,
    );
    expect(group.status).toBe(201);
    const groupId = group.body.group?.id ?? group.body.id;
    const everyone = [owner, ...members];
    const sent: Array<{ id: string; conversationId: string }> = [];
    for (let i = 0; i < 30; i++) {
      sent.push(await send(everyone[i % 3] as TestUser, { groupId }, `group message ${i}`));
    }
    let pages = await cachedAndReference(`/api/v1/messages?groupId=${groupId}&limit=25`, owner.token);
    expect(pages.fromCache).toEqual(pages.fromCassandra);

    for (const member of members) {
      const response = await api.post(
        `/api/v1/conversations/${groupId}/receipts`,
        { messageId: sent[20]?.id, status: member === members[0] ? 'read' : 'delivered' },
        member.token,
      );
      expect(response.status).toBe(200);
    }
    pages = await cachedAndReference(`/api/v1/messages?groupId=${groupId}&limit=25`, owner.token);
    expect(pages.fromCache).toEqual(pages.fromCassandra);
    expect(pages.fromCache.messages.some((message: { status: string }) => message.status === 'delivered')).toBe(true);
  });

  it('applies a from bound to a cached first page exactly as Cassandra does', async () => {
    const alice = await registerUser(api, 'alice');
    const bob = await registerUser(api, 'bob');
    for (let i = 0; i < 12; i++) await send(alice, { receiverId: bob.id }, `early ${i}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const from = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (let i = 0; i < 5; i++) await send(alice, { receiverId: bob.id }, `late ${i}`);
    await api.get(`/api/v1/messages?peerId=${alice.id}&limit=50`, bob.token); // fill
    const pages = await cachedAndReference(
      `/api/v1/messages?peerId=${alice.id}&limit=10&from=${encodeURIComponent(from)}`,
      bob.token,
    );
    expect(pages.fromCache.messages).toHaveLength(5);
    expect(pages.fromCache).toEqual(pages.fromCassandra);
  });

  it('answers a warm first page without a single Cassandra query, for one-to-one and group conversations', async () => {
    const alice = await registerUser(api, 'alice');
    const bob = await registerUser(api, 'bob');
    const group = await api.post('/api/v1/groups', { name: 'zero queries', memberIds: [bob.id] }, alice.token);
    const groupId = group.body.group?.id ?? group.body.id;
    const dm = await send(alice, { receiverId: bob.id }, 'direct');
    await send(bob, { groupId }, 'group');
    await api.post(
      `/api/v1/conversations/${dm.conversationId}/receipts`,
      { messageId: dm.id, status: 'read' },
      bob.token,
    );

    const paths = [`/api/v1/messages?peerId=${bob.id}`, `/api/v1/messages?groupId=${groupId}`];
    for (const path of paths) expect((await api.get(path, alice.token)).status).toBe(200); // warm up
    // Every query but the sync reporter's (this node's position row, written and read every
    // SYNC_REPORT_INTERVAL_MS whatever the requests): it once landed inside the window and counted.
    const calls = recordCassandraCalls(cached.container, (query) => !query.includes('sync_positions'));
    try {
      for (const path of paths) {
        const response = await api.get(path, alice.token);
        expect(response.status).toBe(200);
        expect(response.body.messages).toHaveLength(1);
      }
      expect(calls.calls).toBe(0);
      // The counter does see real queries: a second page goes to Cassandra.
      await api.get(`/api/v1/messages?peerId=${bob.id}&before=${dm.id}`, alice.token);
      expect(calls.calls).toBeGreaterThan(0);
    } finally {
      calls.restore();
    }
  });

  it('lets a member added to a group read it at once and stops a removed one, though members are cached', async () => {
    const owner = await registerUser(api, 'owner');
    const member = await registerUser(api, 'member');
    const newcomer = await registerUser(api, 'newcomer');
    const group = await api.post('/api/v1/groups', { name: 'membership', memberIds: [member.id] }, owner.token);
    const groupId = group.body.group?.id ?? group.body.id;
    await send(owner, { groupId }, 'hello');
    const path = `/api/v1/messages?groupId=${groupId}`;
    expect((await api.get(path, owner.token)).status).toBe(200);
    expect((await api.get(path, owner.token)).status).toBe(200);
    expect(counters().get('members', 'hit')).toBeGreaterThan(0);
    expect((await api.get(path, newcomer.token)).status).toBe(403);

    expect((await api.post(`/api/v1/groups/${groupId}/members`, { userId: newcomer.id }, owner.token)).status).toBe(
      201,
    );
    expect((await api.get(path, newcomer.token)).status).toBe(200);

    expect((await api.delete(`/api/v1/groups/${groupId}/members/${member.id}`, owner.token)).status).toBe(204);
    expect((await api.get(path, member.token)).status).toBe(403);
    expect(withoutCursor((await api.get(path, owner.token)).body)).toEqual(
      withoutCursor((await reference.get(path, owner.token)).body),
    );
  });

  it('refills a deleted window from Cassandra with the same page, and keeps the newest N + 1 in id order', async () => {
    const alice = await registerUser(api, 'alice');
    const bob = await registerUser(api, 'bob');
    let conversationId = '';
    for (let i = 0; i < 70; i++) conversationId = (await send(alice, { receiverId: bob.id }, `m${i}`)).conversationId;
    const path = `/api/v1/messages?peerId=${alice.id}&limit=50`;
    const first = await cachedAndReference(path, bob.token);
    await redis.del(`${prefix}:v1:recent:{${conversationId}}`);
    const second = await cachedAndReference(path, bob.token);
    expect(second.fromCache).toEqual(first.fromCassandra);
    expect(second.fromCache).toEqual(second.fromCassandra);
    const window = await readWindow(redis, prefix, conversationId);
    const newest = await reference.get(`/api/v1/messages?peerId=${alice.id}&limit=51`, bob.token);
    expect(window.filled).toBe(true);
    expect(window.complete).toBe(false);
    expect(window.ids).toEqual(newest.body.messages.map((message: { id: string }) => message.id));
    // An absolute expiry, at most T (60 s here) after the fill: never a window without one.
    expect(window.ttlMs).toBeGreaterThan(0);
    expect(window.ttlMs).toBeLessThanOrEqual(60_000);
  });
});
