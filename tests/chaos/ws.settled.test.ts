import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { CATCH_UP_WITHIN_MS, sleep } from '../support/sync.js';
import { connectWs } from '../support/ws-client.js';

/**
 * The `settled` frame (src/ws/settled-notices.ts) while the stable position is held. A frozen
 * node (SIGSTOP) stops reporting, so every node's S stands at its last position: a message
 * stored meanwhile is acknowledged and published, but a client that connects after the publish
 * neither hears it live nor gets it from its first catch-up. This file freezes a node of the
 * shared test keyspace on purpose, so it runs in the `faults` project, alone.
 */
describe('the settled frame while a frozen node holds the stable position', () => {
  let nodeA: ServerProcess;
  let frozen: ServerProcess;
  let api: ApiClient;
  let ada: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    [nodeA, frozen] = await Promise.all([startServerProcess(), startServerProcess()]);
    api = apiClient(nodeA.url);
    [ada, bob] = await Promise.all([registerUser(api, 'settled'), registerUser(api, 'settled')]);
  });
  afterAll(async () => {
    frozen?.child.kill('SIGCONT');
    await Promise.all([frozen?.stop('SIGTERM'), nodeA?.stop('SIGTERM')]);
  });

  it('comes only once the position has passed what was stored before ready, and that catch-up returns it', async () => {
    frozen.child.kill('SIGSTOP');
    await sleep(500); // a few report intervals: node A's S now stands at the frozen node's last report
    const sent = await api.post('/api/v1/messages', { receiverId: ada.id, content: 'stored before ready' }, bob.token);
    expect(sent.status).toBe(201);
    const { id, conversationId } = sent.body.message;

    const socket = await connectWs(nodeA.url, ada.token);
    const catchUp = async () => {
      const page = await api.get(
        `/api/v1/messages?conversationId=${conversationId}&after=00000000000000000000000000&limit=100`,
        ada.token,
      );
      expect(page.status).toBe(200);
      return (page.body.messages as Array<{ id: string }>).map((message) => message.id);
    };
    try {
      // The case the frame exists for: not heard live (published before the socket subscribed)…
      expect(await catchUp()).not.toContain(id);
      // …and no `settled` while the position cannot pass it: told now, the client's catch-up
      // would stop below the message again and nothing would make it look once more.
      await sleep(2_000);
      expect(socket.ofType('settled')).toEqual([]);
      expect(socket.ofType('message.created')).toEqual([]);

      frozen.child.kill('SIGCONT');
      await socket.waitFor('settled', () => true, CATCH_UP_WITHIN_MS);
      expect(await catchUp()).toContain(id);
      await sleep(1_000);
      expect(socket.ofType('settled')).toHaveLength(1);
    } finally {
      await socket.close();
    }
  });
});
