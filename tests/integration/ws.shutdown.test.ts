import { afterAll, describe, expect, it } from 'vitest';
import { apiClient, registerUser } from '../support/api.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, eventually } from '../support/ws-client.js';

const nodes: ServerProcess[] = [];

afterAll(async () => {
  // SIGTERM: a SIGKILLed node's sync row would hold the other tests' catch-up back until reaped.
  await Promise.all(nodes.map((node) => node.stop('SIGTERM')));
});

describe('graceful shutdown', () => {
  it('closes every socket with 1001 on SIGTERM, releases presence and exits 0', async () => {
    const [leaving, staying] = await Promise.all([
      startServerProcess({ NODE_ID: 'shutdown-leaving', PRESENCE_VISIBILITY: 'everyone' }),
      startServerProcess({ NODE_ID: 'shutdown-staying', PRESENCE_VISIBILITY: 'everyone' }),
    ]);
    nodes.push(leaving, staying);
    const api = apiClient(staying.url);
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const aliceSockets = await Promise.all([connectWs(leaving.url, alice.token), connectWs(leaving.url, alice.token)]);
    const bobSocket = await connectWs(leaving.url, bob.token);
    const before = await api.get(`/api/v1/presence?userIds=${alice.id},${bob.id}`, alice.token);
    expect(before.body.presence.map((entry: { status: string }) => entry.status)).toEqual(['online', 'online']);

    const exitCode = leaving.stop('SIGTERM');
    for (const socket of [...aliceSockets, bobSocket]) {
      const { code, reason } = await socket.closed;
      expect(code).toBe(1001);
      expect(reason).toBe('server shutting down');
    }
    expect(await exitCode).toBe(0);

    // The leaving node released its connections before exiting: offline at once, not after the TTL.
    const after = await api.get(`/api/v1/presence?userIds=${alice.id},${bob.id}`, alice.token);
    expect(after.body.presence).toEqual([
      { userId: alice.id, status: 'offline', lastSeenAt: expect.any(String) },
      { userId: bob.id, status: 'offline', lastSeenAt: expect.any(String) },
    ]);

    // Clients reconnect to another node and are served there.
    const again = await connectWs(staying.url, alice.token);
    expect(again.ready.userId).toBe(alice.id);
    await eventually(async () => {
      const response = await api.get(`/api/v1/presence?userIds=${alice.id}`, alice.token);
      return response.body.presence[0].status === 'online' ? true : undefined;
    });
    await again.close();
  });
});
