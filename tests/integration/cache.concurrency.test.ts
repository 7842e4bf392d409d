import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { type ServerProcess, startServer, startServerProcess, type TestServer } from '../support/server.js';
import { dropPrefix, inspector, patientCache, readWindow, uniquePrefix, withoutCursor } from './cache.support.js';

/**
 * Two API processes write one conversation at once while readers on both keep missing, filling
 * and unioning into the window (and the window is deleted now and then, as an eviction would): at
 * the end the cached window is exactly Cassandra's newest N + 1, in id order.
 */
describe('cache under concurrent writers on several nodes', () => {
  const prefix = uniquePrefix();
  const TOTAL = 500;
  const N = 50;
  let nodes: ServerProcess[] = [];
  let plain: TestServer;
  let reference: ApiClient;

  beforeAll(async () => {
    // A long T: this test is about fills racing appends (union), not about expiry.
    const env = { ...patientCache(prefix), CACHE_RECENT_MESSAGES: String(N) };
    [nodes[0], nodes[1], plain] = (await Promise.all([
      startServerProcess(env),
      startServerProcess(env),
      startServer({ ...env, CACHE_ENABLED: 'false' }),
    ])) as [ServerProcess, ServerProcess, TestServer];
    nodes = nodes.filter(Boolean);
    reference = apiClient(plain.url);
  });

  const redis = inspector();

  afterAll(async () => {
    await Promise.all([...nodes.map((node) => node.stop()), plain?.close()]);
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('holds exactly the newest N + 1 messages in id order after 500 concurrent sends through two processes', async () => {
    const clients = nodes.map((node) => apiClient(node.url));
    const [api0, api1] = clients as [ApiClient, ApiClient];
    const owner = await registerUser(api0, 'owner');
    const others = [await registerUser(api1, 'm1'), await registerUser(api0, 'm2'), await registerUser(api1, 'm3')];
    const group = await api0.post('/api/v1/groups', { name: 'busy', memberIds: others.map((u) => u.id) }, owner.token);
    expect(group.status).toBe(201);
    const groupId: string = group.body.group.id;
    const senders: TestUser[] = [owner, ...others];

    let sent = 0;
    let writing = true;
    const failures: string[] = [];
    // 8 concurrent senders, alternating between the two processes.
    const writer = async (index: number) => {
      const api = clients[index % 2] as ApiClient;
      const user = senders[index % senders.length] as TestUser;
      while (sent < TOTAL) {
        const n = sent++;
        const response = await api.post(
          '/api/v1/messages',
          { groupId, content: `msg ${n} ${'y'.repeat(90)}` },
          user.token,
        );
        if (response.status !== 201) failures.push(`send ${response.status}`);
      }
    };
    // Readers on both processes with page sizes below and above N, so fills race the appends.
    const reader = async (index: number) => {
      const api = clients[index % 2] as ApiClient;
      const limits = [5, 20, 50, 100];
      let round = 0;
      while (writing) {
        const limit = limits[round++ % limits.length];
        const response = await api.get(`/api/v1/messages?groupId=${groupId}&limit=${limit}`, owner.token);
        if (response.status !== 200) failures.push(`read ${response.status}`);
        // Now and then drop the window, as an eviction or expiry would, while writes go on.
        if (round % 15 === 0 && sent < TOTAL * 0.7) await redis.del(`${prefix}:v1:recent:{${groupId}}`);
      }
    };
    const writers = Array.from({ length: 8 }, (_, i) => writer(i));
    const readers = Array.from({ length: 4 }, (_, i) => reader(i));
    await Promise.all(writers);
    writing = false;
    await Promise.all(readers);
    expect(failures).toEqual([]);

    // Cassandra's newest N + 1, read by a node without cache.
    const newest = await reference.get(`/api/v1/messages?groupId=${groupId}&limit=${N + 1}`, owner.token);
    expect(newest.status).toBe(200);
    const expectedIds = newest.body.messages.map((message: { id: string }) => message.id);
    expect(expectedIds).toHaveLength(N + 1);

    // The window as the writers left it, before any further read could refill it.
    const window = await readWindow(redis, prefix, groupId);
    expect(window.filled).toBe(true);
    expect(window.ids).toEqual(expectedIds);

    // And the pages both processes serve equal Cassandra's.
    const page = `/api/v1/messages?groupId=${groupId}&limit=${N}`;
    const expected = withoutCursor((await reference.get(page, owner.token)).body);
    for (const api of clients) expect(withoutCursor((await api.get(page, owner.token)).body)).toEqual(expected);
    expect((await readWindow(redis, prefix, groupId)).ids).toEqual(expectedIds);
  });
});
