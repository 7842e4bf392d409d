import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketForMessage } from '../../src/domain/buckets.js';
import { directConversationId } from '../../src/domain/conversations.js';
import { newId, ulidTime } from '../../src/domain/ids.js';
import type { StoredMessage } from '../../src/domain/types.js';
import { createMessageRepository } from '../../src/store/messages.js';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { startServer, type TestServer } from '../support/server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { dropPrefix, eventually, inspector, patientCache, readWindow, uniquePrefix } from './cache.support.js';

/**
 * A message write that fails in Cassandra (e.g. a write timeout after a replica applied it) may
 * land later. The messaging service then invalidates the window; for CACHE_UNCERTAIN_MS no window
 * of that conversation is filled, so a read before the late landing cannot make a window valid
 * that then hides the message. The late landing is a real row written straight to Cassandra
 * after the failure, as a hint replay or repair would write it (no write-through).
 */
describe('cache after a message write that failed and may land later', () => {
  const UNCERTAIN_MS = 3000;
  const prefix = uniquePrefix();
  let server: TestServer;
  let plain: TestServer;
  let api: ApiClient;
  let reference: ApiClient;
  const redis = inspector();

  beforeAll(async () => {
    [server, plain] = await Promise.all([
      startServer({ ...patientCache(prefix), CACHE_UNCERTAIN_MS: String(UNCERTAIN_MS) }),
      startServer({ REDIS_KEY_PREFIX: prefix, CACHE_ENABLED: 'false' }),
    ]);
    api = apiClient(server.url);
    reference = apiClient(plain.url);
  });

  afterAll(async () => {
    await Promise.all([server?.close(), plain?.close()]);
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  const caches = (target: TestServer = server) => {
    const layer = target.container.deps.caches;
    if (!layer) throw new Error('cache disabled');
    return layer;
  };

  async function conversation(target: ApiClient, messages: number) {
    const alice = await registerUser(target, 'alice');
    const bob = await registerUser(target, 'bob');
    for (let i = 0; i < messages; i++) {
      const response = await target.post('/api/v1/messages', { receiverId: bob.id, content: `m${i}` }, alice.token);
      expect(response.status).toBe(201);
    }
    return { alice, bob, conversationId: directConversationId(alice.id, bob.id) };
  }

  /** Writes a message to Cassandra only, as a timed-out write that lands late would appear. */
  async function landLate(target: TestServer, from: TestUser, to: TestUser): Promise<string> {
    const id = newId();
    const message: StoredMessage = {
      id,
      conversationId: directConversationId(from.id, to.id),
      senderId: from.id,
      receiverId: to.id,
      groupId: null,
      content: 'landed late',
      createdAt: ulidTime(id),
      clientTimestamp: null,
    };
    const { bucketMs } = target.container.deps.config.messages;
    await createMessageRepository(target.container.deps.db).insert(message, bucketForMessage(id, bucketMs));
    return id;
  }

  it('fills no window within the uncertain period after a failed write, so a write landing late is not hidden', async () => {
    const { alice, bob, conversationId } = await conversation(api, 5);
    const path = `/api/v1/messages?peerId=${alice.id}&limit=50`;
    await api.get(path, bob.token);
    expect((await readWindow(redis, prefix, conversationId)).valid).toBe(true);
    const counters = server.container.deps.cacheCounters;

    // What the messaging service does when the Cassandra write of a message fails.
    await caches().recent.invalidate(conversationId);
    const fills = counters.get('recent', 'fill');
    const first = await api.get(path, bob.token); // a miss that, before the late landing, may not fill
    expect(first.status).toBe(200);
    expect(counters.get('recent', 'fill')).toBe(fills);
    expect((await readWindow(redis, prefix, conversationId)).valid).toBe(false);

    const late = await landLate(server, alice, bob);
    const hits = counters.get('recent', 'hit');
    const second = await api.get(path, bob.token);
    expect(counters.get('recent', 'hit')).toBe(hits);
    expect(second.body.messages[0]?.id).toBe(late);
    expect(second.body).toEqual((await reference.get(path, bob.token)).body);

    // After the period the window fills again, and serves the late message.
    await eventually('the window is filled and answers again', async () => {
      const before = counters.get('recent', 'hit');
      const page = await api.get(path, bob.token);
      expect(page.body).toEqual((await reference.get(path, bob.token)).body);
      return counters.get('recent', 'hit') > before;
    });
    expect((await readWindow(redis, prefix, conversationId)).ids[0]).toBe(late);
  });

  it('keeps other conversations filling while one is uncertain', async () => {
    const uncertain = await conversation(api, 2);
    const other = await conversation(api, 2);
    await caches().recent.invalidate(uncertain.conversationId);
    const path = `/api/v1/messages?peerId=${other.alice.id}&limit=50`;
    await api.get(path, other.bob.token);
    expect((await readWindow(redis, prefix, other.conversationId)).valid).toBe(true);
    expect((await readWindow(redis, prefix, uncertain.conversationId)).valid).toBe(false);
  });

  it('fills no window while the uncertainty set is lost, and marks every conversation uncertain at the next heartbeat', async () => {
    const { alice, bob, conversationId } = await conversation(api, 3);
    const uncertainKey = `${prefix}:v1:cache:uncertain`;
    await redis.del(uncertainKey);
    const path = `/api/v1/messages?peerId=${alice.id}&limit=50`;
    await api.get(path, bob.token);
    expect((await readWindow(redis, prefix, conversationId)).valid).toBe(false);
    await eventually('a heartbeat marks every conversation uncertain', async () => {
      return (await redis.zscore(uncertainKey, '*')) !== null;
    });
    await api.get(path, bob.token);
    expect((await readWindow(redis, prefix, conversationId)).valid).toBe(false);
    await eventually('windows fill again after the period', async () => {
      await api.get(path, bob.token);
      return (await readWindow(redis, prefix, conversationId)).valid;
    });
  });

  describe('when the invalidation itself cannot reach Redis', () => {
    let child: RedisChild;
    let tcp: TcpProxy;
    let cutOff: TestServer;

    beforeAll(async () => {
      child = await startRedisChild();
      tcp = await startTcpProxy('127.0.0.1', child.port);
      cutOff = await startServer({
        REDIS_URL: tcp.url,
        REDIS_KEY_PREFIX: uniquePrefix(),
        CACHE_UNCERTAIN_MS: '5000',
      });
    });

    afterAll(async () => {
      await cutOff?.close();
      await tcp?.close();
      await child?.close();
    });

    it('makes the epoch bump that covers the lost invalidation mark every conversation uncertain', async () => {
      const target = apiClient(cutOff.url);
      const prefixOf = cutOff.container.deps.config.redis.keyPrefix;
      const { alice, bob, conversationId } = await conversation(target, 3);
      const path = `/api/v1/messages?peerId=${alice.id}&limit=50`;
      await target.get(path, bob.token);
      expect((await readWindow(child.admin, prefixOf, conversationId)).valid).toBe(true);

      tcp.cut();
      await caches(cutOff).recent.invalidate(directConversationId(alice.id, newId())); // lost: Redis unreachable
      tcp.restore();
      await eventually('the node trusts the cache again', async () => caches(cutOff).coherence.usable());

      // The bump invalidated the window; until the period passes, no conversation is refilled.
      await target.get(path, bob.token);
      expect((await readWindow(child.admin, prefixOf, conversationId)).valid).toBe(false);
      expect(await child.admin.zscore(`${prefixOf}:v1:cache:uncertain`, '*')).not.toBeNull();
      const late = await landLate(cutOff, alice, bob);
      const page = await target.get(path, bob.token);
      expect(page.body.messages[0]?.id).toBe(late);

      await eventually('windows fill again after the period', async () => {
        await target.get(path, bob.token);
        return (await readWindow(child.admin, prefixOf, conversationId)).valid;
      });
      expect((await readWindow(child.admin, prefixOf, conversationId)).ids[0]).toBe(late);
    });
  });
});
