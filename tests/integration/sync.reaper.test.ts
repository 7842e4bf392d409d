import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { type ServerProcess, startServer, startServerProcess, type TestServer } from '../support/server.js';
import { settledPast } from '../support/sync.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const NODE_TIMEOUT = '3000';

describe('a node killed with SIGKILL mid-send', () => {
  let survivor: TestServer;
  let victim: ServerProcess;
  let proxy: TcpProxy;
  let api: ApiClient;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    proxy = await startTcpProxy('127.0.0.1', 9042);
    survivor = await startServer({ SYNC_NODE_TIMEOUT_MS: NODE_TIMEOUT });
    victim = await startServerProcess({
      CASSANDRA_CONTACT_POINTS: `127.0.0.1:${proxy.port}`,
      SYNC_NODE_TIMEOUT_MS: NODE_TIMEOUT,
    });
    api = apiClient(survivor.url);
    [alice, bob] = await Promise.all([registerUser(api, 'reap'), registerUser(api, 'reap')]);
    const warm = await apiClient(victim.url).post(
      '/api/v1/messages',
      { receiverId: bob.id, content: 'warm' },
      alice.token,
    );
    expect(warm.status).toBe(201);
  });
  afterAll(async () => {
    await victim?.stop('SIGKILL');
    await survivor?.close();
    await proxy?.close();
  });

  it('is reaped after L: the stable position moves on, and its unfinished send is visible for good or never', async () => {
    proxy.delay(400);
    const unfinished = apiClient(victim.url)
      .post('/api/v1/messages', { receiverId: bob.id, content: 'killed mid-send' }, alice.token)
      .catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 700));
    await victim.stop('SIGKILL');
    await unfinished;
    proxy.delay(0);

    // A message sent after the kill is below S only once the dead node's row is settled.
    const after = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'after the kill' }, alice.token);
    expect(after.status).toBe(201);
    await settledPast(survivor.container, after.body.message.id);

    const contents = async () => {
      const page = await api.get(`/api/v1/messages?peerId=${alice.id}&limit=100`, bob.token);
      return (page.body.messages as Array<{ content: string }>).map((message) => message.content);
    };
    const first = (await contents()).filter((content) => content === 'killed mid-send').length;
    expect(first).toBeLessThanOrEqual(1);
    // Settled means settled: whatever is still travelling cannot change it later.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await contents()).filter((content) => content === 'killed mid-send').length).toBe(first);
  });
});
