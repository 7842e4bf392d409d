import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directConversationId } from '../../src/domain/conversations.js';
import { createGroupRepository } from '../../src/store/groups.js';
import { createMessageRepository } from '../../src/store/messages.js';
import { createReceiptRepository } from '../../src/store/receipts.js';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { dropPrefix, inspector, patientCache, readWindow, uniquePrefix } from './cache.support.js';

/**
 * A cache miss reads Cassandra and then fills Redis; writes may land in between. These tests
 * force each interleaving on real Redis and Cassandra (the lookup, the Cassandra read and the
 * fill are the cache's own calls, the write is a real API request), then race them freely.
 */
describe('cache fills racing writes', () => {
  const prefix = uniquePrefix();
  let server: TestServer;
  let plain: TestServer;
  let api: ApiClient;
  let reference: ApiClient;

  beforeAll(async () => {
    [server, plain] = await Promise.all([
      startServer(patientCache(prefix)),
      startServer({ REDIS_KEY_PREFIX: prefix, CACHE_ENABLED: 'false' }),
    ]);
    api = apiClient(server.url);
    reference = apiClient(plain.url);
  });

  const redis = inspector();

  afterAll(async () => {
    await Promise.all([server?.close(), plain?.close()]);
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  const caches = () => {
    const layer = server.container.deps.caches;
    if (!layer) throw new Error('cache disabled');
    return layer;
  };
  const counters = () => server.container.deps.cacheCounters;
  const messagesRepo = () => createMessageRepository(server.container.deps.db);
  const windowKey = (conversationId: string) => `${prefix}:v1:recent:${conversationId}`;

  async function conversation(messages: number) {
    const alice = await registerUser(api, 'alice');
    const bob = await registerUser(api, 'bob');
    for (let i = 0; i < messages; i++) {
      const response = await api.post('/api/v1/messages', { receiverId: bob.id, content: `m${i}` }, alice.token);
      expect(response.status).toBe(201);
    }
    return { alice, bob, conversationId: directConversationId(alice.id, bob.id) };
  }

  const newestFromCassandra = (conversationId: string, limit: number) =>
    messagesRepo().page({
      conversationId,
      lowId: '00000000000000000000000000',
      highId: '7ZZZZZZZZZZZZZZZZZZZZZZZZZ',
      exclude: undefined,
      order: 'desc',
      limit,
    });

  /** The page the caching node serves must be a cache hit and equal the page from Cassandra. */
  async function expectCachedPageCorrect(user: TestUser, peer: TestUser, limit = 50) {
    const path = `/api/v1/messages?peerId=${peer.id}&limit=${limit}`;
    const before = counters().get('recent', 'hit');
    const fromCache = await api.get(path, user.token);
    expect(counters().get('recent', 'hit')).toBe(before + 1);
    expect(fromCache.body).toEqual((await reference.get(path, user.token)).body);
    return fromCache.body.messages as Array<{ id: string }>;
  }

  it('keeps a message sent between a miss and its fill when the fill read Cassandra before the send', async () => {
    for (const existing of [0, 3, 60]) {
      const { alice, bob, conversationId } = await conversation(existing);
      await redis.del(windowKey(conversationId));
      const lookup = await caches().recent.newest(conversationId, 51);
      expect(lookup.hit).toBe(false);
      const stale = await newestFromCassandra(conversationId, 51);
      const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'in between' }, alice.token);
      expect(sent.status).toBe(201);
      await caches().recent.fill(conversationId, stale, stale.length <= 50, lookup.hit ? '' : (lookup.ticket ?? ''));
      const page = await expectCachedPageCorrect(bob, alice);
      expect(page[0]?.id).toBe(sent.body.message.id);
    }
  });

  it('keeps a message whose write-through lands after the fill', async () => {
    const { alice, bob, conversationId } = await conversation(5);
    await redis.del(windowKey(conversationId));
    const lookup = await caches().recent.newest(conversationId, 51);
    const stale = await newestFromCassandra(conversationId, 51);
    // The send's write-through runs after the fill (its Cassandra write may be before or after).
    await caches().recent.fill(conversationId, stale, true, lookup.hit ? '' : (lookup.ticket ?? ''));
    const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'after the fill' }, alice.token);
    const page = await expectCachedPageCorrect(bob, alice);
    expect(page.map((message) => message.id)).toContain(sent.body.message.id);
  });

  it('keeps a partial window contiguous when retried sends write old messages through again', async () => {
    const { alice, bob } = await conversation(0);
    const early = [];
    for (const key of ['retry-a', 'retry-b']) {
      const body = { receiverId: bob.id, content: `early ${key}`, clientMessageId: `${key}-${alice.id}` };
      const first = await api.post('/api/v1/messages', body, alice.token);
      expect(first.status).toBe(201);
      early.push(body);
    }
    for (let i = 0; i < 40; i++) {
      expect(
        (await api.post('/api/v1/messages', { receiverId: bob.id, content: `later ${i}` }, alice.token)).status,
      ).toBe(201);
    }
    // A small first page fills a partial window (the newest 11); then both retries write through again.
    await api.get(`/api/v1/messages?peerId=${alice.id}&limit=10`, bob.token);
    for (const body of early) expect((await api.post('/api/v1/messages', body, alice.token)).status).toBe(200);
    for (const limit of [10, 11, 12]) {
      const path = `/api/v1/messages?peerId=${alice.id}&limit=${limit}`;
      expect((await api.get(path, bob.token)).body).toEqual((await reference.get(path, bob.token)).body);
    }
  });

  it('refuses a fill whose ticket predates an epoch bump or an invalidation', async () => {
    const invalidated = await conversation(4);
    await redis.del(windowKey(invalidated.conversationId));
    let lookup = await caches().recent.newest(invalidated.conversationId, 51);
    let stale = await newestFromCassandra(invalidated.conversationId, 51);
    await caches().recent.invalidate(invalidated.conversationId);
    const refused = counters().get('recent', 'staleFill');
    await caches().recent.fill(invalidated.conversationId, stale, true, lookup.hit ? '' : (lookup.ticket ?? ''));
    expect(counters().get('recent', 'staleFill')).toBe(refused + 1);
    expect((await readWindow(redis, prefix, invalidated.conversationId)).valid).toBe(false);

    // (The invalidated conversation stays uncertain for a while: the epoch part uses another one.)
    const { alice, bob, conversationId } = await conversation(4);
    await redis.del(windowKey(conversationId));
    lookup = await caches().recent.newest(conversationId, 51);
    stale = await newestFromCassandra(conversationId, 51);
    // Another node bumps the epoch (it lost a write-through).
    await redis.set(`${prefix}:v1:cache:epoch`, 'bumped-by-another-node', 'EX', 3600);
    await caches().recent.fill(conversationId, stale, true, lookup.hit ? '' : (lookup.ticket ?? ''));
    expect(counters().get('recent', 'staleFill')).toBe(refused + 2);
    expect((await readWindow(redis, prefix, conversationId)).valid).toBe(false);

    // The next read fills under the new epoch and serves Cassandra's page.
    await api.get(`/api/v1/messages?peerId=${alice.id}`, bob.token);
    await expectCachedPageCorrect(bob, alice);
  });

  it('does not store receipts read before a receipt update, nor members read before a membership change', async () => {
    const { alice, bob, conversationId } = await conversation(6);
    const db = server.container.deps.db;
    const [last, , earlier] = await newestFromCassandra(conversationId, 3);
    if (!last || !earlier) throw new Error('no messages');
    const read = (messageId: string) =>
      api.post(`/api/v1/conversations/${conversationId}/receipts`, { messageId, status: 'read' }, bob.token);
    expect((await read(earlier.id)).status).toBe(200);

    // Receipts: the read happens before Bob reads everything; its fill lands after.
    await redis.del(`${prefix}:v1:receipts:${conversationId}`);
    const receiptLookup = await caches().receipts.get(conversationId);
    const staleReceipts = await createReceiptRepository(db).listForConversation(conversationId);
    expect(staleReceipts.find((receipt) => receipt.userId === bob.id)?.readUpTo).toBe(earlier.id);
    expect((await read(last.id)).status).toBe(200);
    await caches().receipts.set(conversationId, staleReceipts, receiptLookup.hit ? '' : (receiptLookup.ticket ?? ''));
    await api.get(`/api/v1/messages?peerId=${bob.id}`, alice.token);
    const page = await api.get(`/api/v1/messages?peerId=${bob.id}`, alice.token);
    expect(page.body.messages[0].status).toBe('read');
    expect(page.body).toEqual((await reference.get(`/api/v1/messages?peerId=${bob.id}`, alice.token)).body);

    // Members: the read happens before a newcomer joins; its fill lands after the invalidation.
    const newcomer = await registerUser(api, 'newcomer');
    const group = await api.post('/api/v1/groups', { name: 'race', memberIds: [bob.id] }, alice.token);
    const groupId: string = group.body.group.id;
    const memberLookup = await caches().members.get(groupId);
    const staleMembers = (await createGroupRepository(db).listMembers(groupId)).map((member) => member.userId);
    expect((await api.post(`/api/v1/groups/${groupId}/members`, { userId: newcomer.id }, alice.token)).status).toBe(
      201,
    );
    await caches().members.set(groupId, staleMembers, memberLookup.hit ? '' : (memberLookup.ticket ?? ''));
    expect((await api.get(`/api/v1/messages?groupId=${groupId}`, newcomer.token)).status).toBe(200);
    expect((await caches().members.get(groupId)).hit).toBe(true);
    expect((await api.get(`/api/v1/messages?groupId=${groupId}`, newcomer.token)).status).toBe(200);
  });

  it('never loses a sent message from the cached page when misses race sends, over many rounds', async () => {
    const { alice, bob, conversationId } = await conversation(55);
    const sentIds: string[] = [];
    for (let round = 0; round < 60; round++) {
      await redis.del(windowKey(conversationId));
      // A miss (which fills) racing two sends and a second miss; limits vary the fill size.
      const limit = [10, 50, 100][round % 3];
      const results = await Promise.all([
        api.get(`/api/v1/messages?peerId=${alice.id}&limit=${limit}`, bob.token),
        api.post('/api/v1/messages', { receiverId: bob.id, content: `race ${round}a` }, alice.token),
        api.post('/api/v1/messages', { receiverId: alice.id, content: `race ${round}b` }, bob.token),
        api.get(`/api/v1/messages?peerId=${bob.id}&limit=${limit}`, alice.token),
      ]);
      expect(results.map((response) => response.status)).toEqual([200, 201, 201, 200]);
      sentIds.push(results[1]?.body.message.id, results[2]?.body.message.id);
      // Warm (filled by the race, or by this read) and then served from Redis: must equal Cassandra.
      await api.get(`/api/v1/messages?peerId=${alice.id}&limit=50`, bob.token);
      const page = await expectCachedPageCorrect(bob, alice);
      const ids = new Set(page.map((message) => message.id));
      for (const id of sentIds.slice(-2)) expect(ids.has(id)).toBe(true);
    }
  });
});
