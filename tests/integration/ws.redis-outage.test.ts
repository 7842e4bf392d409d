import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { type RedisChild, startRedisChild } from '../support/redis-server.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { CATCH_UP_WITHIN_MS } from '../support/sync.js';
import { connectWs, eventually, type TestSocket } from '../support/ws-client.js';

/** Two nodes on a private redis-server that the test kills and restarts (empty) under them. */
let redis: RedisChild;
let nodeA: ServerProcess;
let nodeB: ServerProcess;
let api: ApiClient;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  redis = await startRedisChild();
  const env = (id: string) => ({ NODE_ID: id, REDIS_URL: redis.url, PRESENCE_TTL_SECONDS: '5' });
  [nodeA, nodeB] = await Promise.all([startServerProcess(env('outage-a')), startServerProcess(env('outage-b'))]);
  api = apiClient(nodeA.url);
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  await Promise.all([nodeA?.stop('SIGTERM'), nodeB?.stop('SIGTERM')]);
  await redis?.close();
});

describe('real-time fan-out through a Redis outage', () => {
  it('keeps sending over REST while Redis is down, and delivers again once it is back', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const aliceOnA = await connectWs(nodeA.url, alice.token);
    const bobOnB = await connectWs(nodeB.url, bob.token);
    sockets.push(aliceOnA, bobOnB);

    const before = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'before' }, alice.token);
    await bobOnB.waitFor('message.created', (data) => data.message.id === before.body.message.id);

    await redis.stop();
    const during = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'during' }, alice.token);
    expect(during.status).toBe(201);
    // The WebSocket connections survive the outage; the missed message is in history for catch-up
    // (once the stable position passes it: see CATCH_UP_WITHIN_MS).
    const caughtUp = await eventually(async () => {
      const history = await api.get(`/api/v1/messages?peerId=${alice.id}&after=${before.body.message.id}`, bob.token);
      return history.body.messages.length > 0
        ? history.body.messages.map((message: { id: string }) => message.id)
        : undefined;
    }, CATCH_UP_WITHIN_MS);
    expect(caughtUp).toEqual([during.body.message.id]);

    await redis.start();
    // Node B resubscribes on reconnect: a message sent after that reaches bob live again.
    let delivered = false;
    for (let attempt = 0; attempt < 100 && !delivered; attempt++) {
      const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: `after ${attempt}` }, alice.token);
      expect(sent.status).toBe(201);
      delivered = await bobOnB
        .waitFor('message.created', (data) => data.message.id === sent.body.message.id, 300)
        .then(() => true)
        .catch(() => false);
    }
    expect(delivered).toBe(true);
    expect(aliceOnA.ws.readyState).toBe(aliceOnA.ws.OPEN);

    // The restarted Redis is empty; the nodes' presence refresh puts both users back online.
    await eventually(async () => {
      const presence = await api.get(`/api/v1/presence?userIds=${alice.id},${bob.id}`, alice.token);
      return presence.status === 200 &&
        presence.body.presence.every((entry: { status: string }) => entry.status === 'online')
        ? true
        : undefined;
    }, 20_000);
  });
});
