import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { connectWs, type TestSocket } from '../support/ws-client.js';

/**
 * Presence privacy (PRESENCE_VISIBILITY=shared, the default): presence tells when someone is
 * awake; it once answered for any user id to any signed-in user.
 */
let server: TestServer;
let api: ApiClient;
let viewer: TestUser;
let dmPeer: TestUser;
let groupPeer: TestUser;
let stranger: TestUser;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  server = await startServer();
  api = apiClient(server.url);
  [viewer, dmPeer, groupPeer, stranger] = await Promise.all([
    registerUser(api, 'vis'),
    registerUser(api, 'vis'),
    registerUser(api, 'vis'),
    registerUser(api, 'vis'),
  ]);
  expect((await api.post('/api/v1/messages', { receiverId: dmPeer.id, content: 'hi' }, viewer.token)).status).toBe(201);
  const group = await api.post('/api/v1/groups', { name: 'club', memberIds: [groupPeer.id] }, viewer.token);
  expect(group.status).toBe(201);
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  await server?.close();
});

describe('PRESENCE_VISIBILITY=shared', () => {
  it('answers the presence of oneself, a one-to-one peer and a fellow group member', async () => {
    const response = await api.get(`/api/v1/presence?userIds=${viewer.id},${dmPeer.id},${groupPeer.id}`, viewer.token);
    expect(response.status).toBe(200);
    expect(response.body.presence.map((p: { userId: string }) => p.userId)).toEqual([
      viewer.id,
      dmPeer.id,
      groupPeer.id,
    ]);
  });

  it('refuses with 403 the presence of a user who shares no conversation with the caller, naming them', async () => {
    const response = await api.get(`/api/v1/presence?userIds=${dmPeer.id},${stranger.id}`, viewer.token);
    const problem = expectProblem(response, 403, 'FORBIDDEN');
    expect(problem.issues).toEqual([{ path: 'userIds', message: `no shared conversation with ${stranger.id}` }]);
  });

  it('refuses presence.subscribe to a stranger with a FORBIDDEN error frame and keeps the socket', async () => {
    const socket = await connectWs(server.url, stranger.token);
    sockets.push(socket);
    socket.send({ type: 'presence.subscribe', id: 'watch', data: { userIds: [viewer.id] } });
    const error = await socket.waitFor('error', (data) => data.id === 'watch');
    expect(error.data.code).toBe('FORBIDDEN');
    expect(socket.ofType('presence')).toEqual([]);
    socket.send({ type: 'ping', data: { still: 'open' } });
    expect((await socket.waitFor('pong')).data).toEqual({ still: 'open' });
  });

  it('answers a profile with presence null for a stranger, and with presence for a peer', async () => {
    const hidden = await api.get(`/api/v1/users/${viewer.id}`, stranger.token);
    expect(hidden.status).toBe(200);
    expect(hidden.body).toEqual({ user: expect.objectContaining({ id: viewer.id }), presence: null });
    const shown = await api.get(`/api/v1/users/${viewer.id}`, dmPeer.token);
    expect(shown.body.presence).toEqual({ status: 'offline', lastSeenAt: null });
  });

  it('lets a group member subscribe, and delivers the current presence', async () => {
    const socket = await connectWs(server.url, groupPeer.token);
    sockets.push(socket);
    socket.send({ type: 'presence.subscribe', id: 'watch', data: { userIds: [viewer.id] } });
    const presence = await socket.waitFor('presence', (data) => data.userId === viewer.id);
    expect(presence.data.status).toBe('offline');
    expect(socket.ofType('error')).toEqual([]);
  });
});

describe('PRESENCE_VISIBILITY=everyone', () => {
  let open: TestServer;
  beforeAll(async () => {
    open = await startServer({ PRESENCE_VISIBILITY: 'everyone' });
  });
  afterAll(async () => {
    await open?.close();
  });

  it('answers the presence of any user', async () => {
    const response = await apiClient(open.url).get(`/api/v1/presence?userIds=${viewer.id}`, stranger.token);
    expect(response.status).toBe(200);
    expect(response.body.presence[0].userId).toBe(viewer.id);
  });
});
