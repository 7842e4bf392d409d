import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, eventually, type TestSocket } from '../support/ws-client.js';

/** Short presence TTL so a killed node's users lapse quickly. */
const TTL_SECONDS = 5;
// Presence mechanics between strangers; who may see whom is tested in security.presence.test.ts.
const env = (id: string) => ({
  NODE_ID: id,
  PRESENCE_TTL_SECONDS: String(TTL_SECONDS),
  PRESENCE_VISIBILITY: 'everyone',
});

let nodeA: ServerProcess;
let nodeB: ServerProcess;
let api: ApiClient;
const sockets: TestSocket[] = [];
const extraNodes: ServerProcess[] = [];

beforeAll(async () => {
  [nodeA, nodeB] = await Promise.all([startServerProcess(env('presence-a')), startServerProcess(env('presence-b'))]);
  api = apiClient(nodeA.url);
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  await Promise.all([
    nodeA?.stop('SIGTERM'),
    nodeB?.stop('SIGTERM'),
    ...extraNodes.map((node) => node.stop('SIGKILL')),
  ]);
});

async function connect(node: ServerProcess, user: TestUser) {
  const socket = await connectWs(node.url, user.token);
  sockets.push(socket);
  return socket;
}

async function presenceOf(viewer: TestUser, userId: string) {
  const response = await api.get(`/api/v1/presence?userIds=${userId}`, viewer.token);
  expect(response.status).toBe(200);
  return response.body.presence[0] as { userId: string; status: string; lastSeenAt: string | null };
}

const is = (userId: string, status: string) => (data: { userId: string; status: string }) =>
  data.userId === userId && data.status === status;

describe('presence', () => {
  it('is online while any connection is open on any node, and offline with lastSeenAt after the last closes', async () => {
    const [alice, viewer] = await Promise.all([registerUser(api), registerUser(api)]);
    expect(await presenceOf(viewer, alice.id)).toEqual({ userId: alice.id, status: 'offline', lastSeenAt: null });

    const onA = await connect(nodeA, alice);
    const onB = await connect(nodeB, alice);
    expect(await presenceOf(viewer, alice.id)).toEqual({ userId: alice.id, status: 'online', lastSeenAt: null });

    await onA.close();
    expect((await presenceOf(viewer, alice.id)).status).toBe('online');

    const beforeClose = Date.now();
    await onB.close();
    const offline = await eventually(async () => {
      const presence = await presenceOf(viewer, alice.id);
      return presence.status === 'offline' ? presence : undefined;
    });
    expect(Date.parse(offline.lastSeenAt as string)).toBeGreaterThanOrEqual(beforeClose - 1000);

    const profile = await api.get(`/api/v1/users/${alice.id}`, viewer.token);
    expect(profile.status).toBe(200);
    expect(profile.body.presence).toEqual({ status: 'offline', lastSeenAt: offline.lastSeenAt });
  });

  it('shows online on the user profile while connected', async () => {
    const [alice, viewer] = await Promise.all([registerUser(api), registerUser(api)]);
    await connect(nodeB, alice);
    const profile = await api.get(`/api/v1/users/${alice.id}`, viewer.token);
    expect(profile.body).toMatchObject({ user: { id: alice.id }, presence: { status: 'online', lastSeenAt: null } });
  });

  it('sends subscribers on another node the current state, then online and offline changes', async () => {
    const [alice, watcher] = await Promise.all([registerUser(api), registerUser(api)]);
    const watcherOnA = await connect(nodeA, watcher);
    watcherOnA.send({ type: 'presence.subscribe', data: { userIds: [alice.id] } });
    const initial = await watcherOnA.waitFor('presence', (data) => data.userId === alice.id);
    expect(initial.data).toEqual({ userId: alice.id, status: 'offline', lastSeenAt: null });

    const aliceOnB = await connect(nodeB, alice);
    await watcherOnA.waitFor('presence', is(alice.id, 'online'));
    // A second connection is no change: no second "online".
    const second = await connect(nodeB, alice);
    await second.close();
    await aliceOnB.close();
    const offline = await watcherOnA.waitFor(
      'presence',
      (data) => is(alice.id, 'offline')(data) && data.lastSeenAt !== null,
    );
    expect(Date.parse(offline.data.lastSeenAt)).toBeGreaterThan(0);
    expect(
      watcherOnA.ofType('presence').map((frame) => `${frame.data.status}:${frame.data.lastSeenAt === null}`),
    ).toEqual(['offline:true', 'online:true', 'offline:false']);
  });

  it('stops sending changes of a user after presence.unsubscribe', async () => {
    const [alice, bob, watcher] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const watcherOnA = await connect(nodeA, watcher);
    watcherOnA.send({ type: 'presence.subscribe', data: { userIds: [alice.id, bob.id] } });
    await watcherOnA.waitFor('presence', (data) => data.userId === bob.id);
    watcherOnA.send({ type: 'presence.unsubscribe', data: { userIds: [alice.id] } });
    // The pong proves the unsubscribe was processed (frames are handled in order up to here).
    watcherOnA.send({ type: 'ping', data: { n: 1 } });
    await watcherOnA.waitFor('pong');

    await connect(nodeB, alice);
    await connect(nodeB, bob);
    await watcherOnA.waitFor('presence', is(bob.id, 'online'));
    expect(watcherOnA.ofType('presence').filter((frame) => frame.data.userId === alice.id)).toHaveLength(1);
  });

  it('takes the users of a killed node offline within the TTL and tells subscribers', async () => {
    const doomed = await startServerProcess(env('presence-doomed'));
    extraNodes.push(doomed);
    const [alice, watcher] = await Promise.all([registerUser(api), registerUser(api)]);
    const watcherOnA = await connect(nodeA, watcher);
    const aliceOnDoomed = await connectWs(doomed.url, alice.token);
    watcherOnA.send({ type: 'presence.subscribe', data: { userIds: [alice.id] } });
    await watcherOnA.waitFor('presence', is(alice.id, 'online'));

    const killedAt = Date.now();
    await doomed.stop('SIGKILL');
    await aliceOnDoomed.closed;
    const offline = await eventually(
      async () => {
        const presence = await presenceOf(watcher, alice.id);
        return presence.status === 'offline' ? presence : undefined;
      },
      TTL_SECONDS * 1000 + 5000,
    );
    // Last seen is when the node's last refresh lapsed: after the kill, at most one TTL later.
    const lastSeen = Date.parse(offline.lastSeenAt as string);
    expect(lastSeen).toBeGreaterThan(killedAt - 1000);
    expect(lastSeen).toBeLessThanOrEqual(killedAt + TTL_SECONDS * 1000 + 1000);
    // A surviving node's sweeper announces it to subscribers. Both surviving nodes sweep; when a
    // claim times out (the cluster pass, on a loaded machine) both may announce, the later
    // lastSeenAt winning (src/cache/presence.ts): the watcher ends on the state REST answers.
    const frame = await watcherOnA.waitFor(
      'presence',
      (data) => is(alice.id, 'offline')(data) && data.lastSeenAt === offline.lastSeenAt,
      TTL_SECONDS * 1000 + 10_000,
    );
    expect(frame.data.lastSeenAt).toBe(offline.lastSeenAt);
  });
});
