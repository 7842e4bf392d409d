import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, uniqueUsername } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { connectWs } from '../support/ws-client.js';

const PASSWORD = 'correct-horse-battery';
/**
 * Neither fallback can be what closes a socket here: the session sweep runs once an hour and
 * each node trusts a session check for a minute. Only the `session.ended` notice is fast enough.
 */
const SLOW_FALLBACKS = { WS_SESSION_CHECK_MS: '3600000', AUTH_CHECK_CACHE_MS: '60000' };
/** Well under both fallbacks: the notice travels through Redis and each node reads the session once. */
const NOTICE_BOUND_MS = 5000;

describe('an ended session closes its open sockets on every node at once (session.ended notice)', () => {
  let nodeA: TestServer;
  let nodeB: TestServer;
  let api: ApiClient;
  let apiB: ApiClient;

  beforeAll(async () => {
    [nodeA, nodeB] = await Promise.all([
      startServer({ NODE_ID: 'notice-a', ...SLOW_FALLBACKS }),
      startServer({ NODE_ID: 'notice-b', ...SLOW_FALLBACKS }),
    ]);
    api = apiClient(nodeA.url);
    apiB = apiClient(nodeB.url);
  });
  afterAll(async () => {
    await Promise.all([nodeA?.close(), nodeB?.close()]);
  });

  const signIn = async (username: string, client: ApiClient, register = false) => {
    const response = register
      ? await client.post('/api/v1/users', { username, password: PASSWORD })
      : await client.post('/api/v1/auth/token', { username, password: PASSWORD });
    expect([200, 201]).toContain(response.status);
    return { token: response.body.token as string, refreshToken: response.body.refreshToken as string };
  };

  it('logout on one node closes that session’s sockets on the other with 1008 and leaves other sessions open', async () => {
    const username = uniqueUsername('notice');
    const laptop = await signIn(username, api, true);
    const phone = await signIn(username, apiB);
    // Both nodes check (and cache, for a minute) the laptop's session while it still stands.
    const [onA, onB, phoneOnB] = await Promise.all([
      connectWs(nodeA.url, laptop.token),
      connectWs(nodeB.url, laptop.token),
      connectWs(nodeB.url, phone.token),
    ]);
    const loggedOutAt = Date.now();
    expect((await api.post('/api/v1/auth/logout', { refreshToken: laptop.refreshToken })).status).toBe(204);
    const [closedA, closedB] = await Promise.all([onA.closed, onB.closed]);
    expect(Date.now() - loggedOutAt).toBeLessThan(NOTICE_BOUND_MS);
    expect([closedA, closedB]).toEqual([
      { code: 1008, reason: 'session ended' },
      { code: 1008, reason: 'session ended' },
    ]);
    phoneOnB.send({ type: 'ping', data: { still: 'here' } });
    expect((await phoneOnB.waitFor('pong')).data).toEqual({ still: 'here' });
    await phoneOnB.close();
  });

  it('log out everywhere closes every session’s sockets on every node', async () => {
    const username = uniqueUsername('notice');
    const first = await signIn(username, api, true);
    const second = await signIn(username, apiB);
    const sockets = await Promise.all([
      connectWs(nodeA.url, first.token),
      connectWs(nodeB.url, first.token),
      connectWs(nodeB.url, second.token),
    ]);
    const loggedOutAt = Date.now();
    expect((await apiB.post('/api/v1/auth/logout', { all: true }, second.token)).status).toBe(204);
    const closed = await Promise.all(sockets.map((socket) => socket.closed));
    expect(Date.now() - loggedOutAt).toBeLessThan(NOTICE_BOUND_MS);
    expect(closed.map((c) => c.code)).toEqual([1008, 1008, 1008]);
  });
});
