import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { type TestRedis, testRedis } from '../support/redis.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { connectWs, eventually, type TestSocket } from '../support/ws-client.js';

/**
 * Page reloads across nodes: the old socket closes on one node while the new one opens on the
 * other, so one node takes the user offline while the other brings them back online. Watchers
 * must end on the state the user is really in, whichever node's change came last.
 *
 * On a loaded Redis Cluster at a 100 ms command timeout this failed 3 times in 9 runs: a close
 * whose index claim timed out (it had run, late) never ran its presence script, so the user kept
 * a phantom connection for the whole TTL and the wait for one live connection per user below
 * timed out (seen in Redis: the old connection still in the user's set, in no node's index).
 * Fixed in src/cache/presence.ts (`remove`); presence.timeouts.test.ts reproduces it
 * deterministically. Run so: REDIS_COMMAND_TIMEOUT_MS=100 TEST_REDIS_TOPOLOGY=cluster.
 */
const USERS = 16;
const ROUNDS = 40;

let nodeA: ServerProcess;
let nodeB: ServerProcess;
let api: ApiClient;
let redis: TestRedis;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  [nodeA, nodeB] = await Promise.all([
    startServerProcess({ NODE_ID: 'ordering-a', PRESENCE_VISIBILITY: 'everyone' }),
    startServerProcess({ NODE_ID: 'ordering-b', PRESENCE_VISIBILITY: 'everyone' }),
  ]);
  api = apiClient(nodeA.url);
  redis = testRedis();
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  redis?.disconnect();
  await Promise.all([nodeA?.stop('SIGTERM'), nodeB?.stop('SIGTERM')]);
});

async function connect(node: ServerProcess, user: TestUser) {
  const socket = await connectWs(node.url, user.token);
  sockets.push(socket);
  return socket;
}

/** Live connections Redis holds for a user (every close on the server side is done once this drops). */
const liveConnections = async (userId: string) => redis.zcard(`sb:v1:presence:conns:{${userId}}`);

const lastStatus = (watcher: TestSocket, userId: string) =>
  watcher
    .ofType('presence')
    .filter((frame) => frame.data.userId === userId)
    .at(-1)?.data.status as string | undefined;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('presence event order', () => {
  it('leaves every watcher on the user’s final state through many reloads that hop between nodes', async () => {
    const users = await Promise.all(Array.from({ length: USERS }, () => registerUser(api)));
    const [watcher, marker] = await Promise.all([registerUser(api), registerUser(api)]);
    const watchers = await Promise.all([connect(nodeA, watcher), connect(nodeB, watcher)]);
    const watchedIds = [...users.map((user) => user.id), marker.id];
    for (const socket of watchers) {
      socket.send({ type: 'presence.subscribe', data: { userIds: watchedIds } });
      await socket.waitFor('presence', (data) => data.userId === marker.id);
    }

    let current = await Promise.all(users.map((user) => connect(nodeA, user)));
    for (const socket of watchers) {
      await eventually(async () =>
        users.every((user) => lastStatus(socket, user.id) === 'online') ? true : undefined,
      );
    }

    const wrong: string[] = [];
    let markerOnline = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const [from, to] = round % 2 === 0 ? [nodeA, nodeB] : [nodeB, nodeA];
      // A reload: the new socket opens on the other node while the old one closes, staggered a
      // little differently per user so the two nodes' changes land close together in Redis.
      current = await Promise.all(
        users.map(async (user, index) => {
          const old = current[index] as TestSocket;
          const opening = connect(to, user);
          await delay((index * 3 + round) % 7);
          await old.close();
          return opening;
        }),
      );
      await eventually(
        async () =>
          (await Promise.all(users.map((user) => liveConnections(user.id)))).every((n) => n === 1) ? true : undefined,
        15_000,
        10,
      );
      // The marker: a change published after every change of this round (the closes ran on
      // `from`, whose commands reach Redis in order); each watcher's node receives the channels
      // it listens to in the order Redis ran the publishes, so this arrives last.
      const markerSocket = await connect(from, marker);
      markerOnline++;
      for (const socket of watchers) {
        await eventually(
          async () =>
            socket
              .ofType('presence')
              .filter((frame) => frame.data.userId === marker.id && frame.data.status === 'online').length >=
            markerOnline
              ? true
              : undefined,
          15_000,
          10,
        );
        for (const user of users) {
          const status = lastStatus(socket, user.id);
          if (status !== 'online') wrong.push(`round ${round}: ${socket.ready.connectionId} saw ${user.id} ${status}`);
        }
      }
      await markerSocket.close();
    }

    expect(wrong).toEqual([]);
    const presence = await api.get(`/api/v1/presence?userIds=${users.map((user) => user.id).join(',')}`, watcher.token);
    expect(presence.body.presence.map((entry: { status: string }) => entry.status)).toEqual(users.map(() => 'online'));
  });
});
