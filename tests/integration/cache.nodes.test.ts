import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import {
  dropPrefix,
  eventually,
  expectPageCorrect,
  inspector,
  sendDirect,
  uniquePrefix,
  withoutCursor,
} from './cache.support.js';

/**
 * Several nodes over one Redis: the write-through makes a message visible on every node's cached
 * page at once, and when a node is cut off from Redis (its write-throughs and deletes are lost) the
 * bound still holds: every other node reflects its writes within T.
 */
describe('cache across nodes', () => {
  const T = 3000;
  const prefix = uniquePrefix();
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redisPort = Number(new URL(redisUrl).port || 6379);
  let tcp: TcpProxy;
  let other: TestServer;
  let writer: TestServer;
  let cutOff: TestServer;
  let plain: TestServer;
  let reference: ApiClient;
  const redis = inspector();

  beforeAll(async () => {
    tcp = await startTcpProxy('127.0.0.1', redisPort);
    const env = { REDIS_KEY_PREFIX: prefix, CACHE_STALENESS_MS: String(T), REDIS_COMMAND_TIMEOUT_MS: '1000' };
    [other, writer, cutOff, plain] = await Promise.all([
      startServer(env),
      startServer(env),
      startServer({ ...env, REDIS_URL: tcp.url }),
      startServer({ CACHE_ENABLED: 'false' }),
    ]);
    reference = apiClient(plain.url);
  });

  afterAll(async () => {
    await Promise.all([other?.close(), writer?.close(), cutOff?.close(), plain?.close()]);
    await tcp?.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  const hits = (server: TestServer) => server.container.deps.cacheCounters.get('recent', 'hit');
  const firstPage = (api: ApiClient, user: TestUser, peer: TestUser) =>
    api.get(`/api/v1/messages?peerId=${peer.id}&limit=50`, user.token);

  /** Reads until the node answers the page from Redis (it fills on the first miss). */
  async function warm(server: TestServer, user: TestUser, peer: TestUser) {
    const api = apiClient(server.url);
    await eventually('the page is a cache hit', async () => {
      const before = hits(server);
      await expectPageCorrect(api, reference, user, peer);
      return hits(server) > before;
    });
  }

  it('shows a message sent on one node on the other node’s cached first page at once', async () => {
    const api = apiClient(other.url);
    const alice = await registerUser(api, 'alice');
    const bob = await registerUser(api, 'bob');
    for (let i = 0; i < 5; i++) await sendDirect(api, alice, bob, `before ${i}`);
    await warm(other, bob, alice);

    const sent = await sendDirect(apiClient(writer.url), alice, bob, 'through the other node');
    const before = hits(other);
    const page = await firstPage(api, bob, alice);
    expect(hits(other)).toBe(before + 1);
    expect(page.body.messages[0].id).toBe(sent);
    expect(withoutCursor(page.body)).toEqual(withoutCursor((await firstPage(reference, bob, alice)).body));
  });

  it('answers 201 on a node cut off from Redis, and its message is on another node’s cached page within T', async () => {
    const api = apiClient(other.url);
    const alice = await registerUser(api, 'alice');
    const bob = await registerUser(api, 'bob');
    for (let i = 0; i < 5; i++) await sendDirect(api, alice, bob, `before ${i}`);
    await warm(other, bob, alice);

    tcp.cut();
    try {
      const startedAt = Date.now();
      const lost = await sendDirect(apiClient(cutOff.url), alice, bob, 'through the cut-off node');
      const ackedAt = Date.now();
      expect(ackedAt - startedAt).toBeLessThan(1500);

      // Its write-through was lost: the other node's window, filled before, lacks it for now…
      const before = hits(other);
      const stale = await firstPage(api, bob, alice);
      expect(hits(other)).toBe(before + 1);
      expect(stale.body.messages.map((message: { id: string }) => message.id)).not.toContain(lost);
      // …and has it within T of the acknowledgement, served from the cache again afterwards.
      await eventually('the message is on the other node’s first page', async () => {
        return (await firstPage(api, bob, alice)).body.messages[0]?.id === lost;
      });
      expect(Date.now() - ackedAt).toBeLessThan(T + 1000);
      await warm(other, bob, alice);
      expect((await expectPageCorrect(api, reference, bob, alice))[0]).toBe(lost);
    } finally {
      tcp.restore();
    }
  });

  it('refuses a removed member within T on every node, even when the removing node could not delete the cached list', async () => {
    const api = apiClient(other.url);
    const owner = await registerUser(api, 'owner');
    const member = await registerUser(api, 'member');
    const group = await api.post('/api/v1/groups', { name: 'bound', memberIds: [member.id] }, owner.token);
    expect(group.status).toBe(201);
    const groupId = group.body.group.id as string;
    const path = `/api/v1/messages?groupId=${groupId}`;
    expect((await api.get(path, member.token)).status).toBe(200);
    const memberHits = other.container.deps.cacheCounters.get('members', 'hit');
    expect((await api.get(path, member.token)).status).toBe(200);
    expect(other.container.deps.cacheCounters.get('members', 'hit')).toBe(memberHits + 1);

    tcp.cut();
    try {
      const removed = await apiClient(cutOff.url).delete(`/api/v1/groups/${groupId}/members/${member.id}`, owner.token);
      expect(removed.status).toBe(204);
      const removedAt = Date.now();
      // The delete of the cached list was lost with the link: the other node still lets the member in…
      expect((await api.get(path, member.token)).status).toBe(200);
      // …but no longer than T after the removal was acknowledged.
      await eventually('the removed member is refused', async () => (await api.get(path, member.token)).status === 403);
      expect(Date.now() - removedAt).toBeLessThan(T + 1000);
      expect((await api.get(path, owner.token)).status).toBe(200);
    } finally {
      tcp.restore();
    }
  });
});
