import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { metricTotal, type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, type TestSocket } from '../support/ws-client.js';

let node: ServerProcess;
let api: ApiClient;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  // A tiny send-buffer limit so kernel buffers fill (and the limit trips) after a few hundred KB.
  node = await startServerProcess({ WS_MAX_BUFFERED_BYTES: '16384', PRESENCE_VISIBILITY: 'everyone' });
  api = apiClient(node.url);
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  await node?.stop('SIGTERM');
});

/** Upper bound on messages sent before giving up: ~16 MB of frames, far above loopback socket buffers (~4 MB). */
const MAX_MESSAGES = 4000;
const BATCH = 20;

describe('slow consumers', () => {
  it('closes a client that stops reading with 4000 while a healthy client keeps receiving', async () => {
    const [sender, slow, healthy] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const group = await api.post(
      '/api/v1/groups',
      { name: 'firehose', memberIds: [slow.id, healthy.id] },
      sender.token,
    );
    expect(group.status).toBe(201);
    const groupId = group.body.group.id as string;

    const slowSocket = await connectWs(node.url, slow.token);
    const healthySocket = await connectWs(node.url, healthy.token);
    sockets.push(slowSocket, healthySocket);
    // Stop reading: the server's writes pile up in the kernel, then in its own send buffer.
    (slowSocket.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

    const content = 'x'.repeat(4000);
    const sent: string[] = [];
    let slowClosed = false;
    while (!slowClosed && sent.length < MAX_MESSAGES) {
      const batch = await Promise.all(
        Array.from({ length: BATCH }, () => api.post('/api/v1/messages', { groupId, content }, sender.token)),
      );
      for (const response of batch) {
        expect(response.status).toBe(201);
        sent.push(response.body.message.id);
      }
      // The server releases a closed connection's presence at once: the user reads offline.
      const presence = await api.get(`/api/v1/presence?userIds=${slow.id}`, sender.token);
      slowClosed = presence.body.presence[0].status === 'offline';
    }
    expect(slowClosed).toBe(true);

    // The healthy client got every message (concurrent sends publish in any order).
    const expected = new Set(sent);
    const received = new Set<string>();
    await healthySocket.waitFor('message.created', (data) => {
      if (expected.has(data.message.id)) received.add(data.message.id);
      return received.size === expected.size;
    });
    // Exactly once each, but for publishes the node retried after a Redis timeout (the first
    // attempt may have gone through: at-least-once, clients drop a repeat by id; src/ws/README.md).
    const frames = healthySocket.ofType('message.created').length;
    const retried = await metricTotal(node.metricsUrl, 'switchboard_pubsub_publish_retries_total');
    expect(frames).toBeGreaterThanOrEqual(sent.length);
    expect(frames - sent.length).toBeLessThanOrEqual(retried);

    // Once it reads again, the slow client finds the close frame behind what was buffered.
    (slowSocket.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const { code, reason } = await slowSocket.closed;
    expect(code).toBe(4000);
    expect(reason).toBe('slow consumer');
    expect(slowSocket.ofType('message.created').length).toBeLessThan(sent.length);
  });
});
