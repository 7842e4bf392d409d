import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type CassandraClient, createCassandraClient, createDb } from '../../src/store/client.js';
import { createGroupRepository, type GroupRepository } from '../../src/store/groups.js';
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { testEnv } from '../support/env.js';
import { publishAsNode, type TestRedis, testRedis } from '../support/redis.js';
import { type ServerProcess, startServer, startServerProcess, type TestServer } from '../support/server.js';
import { connectWs, type TestSocket } from '../support/ws-client.js';

/**
 * A removed member must stop getting the group's live events even when the membership notice
 * on their own channel never arrives. The removal here goes straight to Cassandra through the
 * repository, which bypasses the real-time listener: only the nodes' own safety nets remain
 * (the periodic membership reconciliation, the group-channel notice).
 */
const RECONCILE_MS = 400;

let nodeA: ServerProcess;
let nodeB: ServerProcess;
let single: TestServer;
let apiA: ApiClient;
let apiB: ApiClient;
let apiSingle: ApiClient;
let cassandra: CassandraClient;
let groupsRepo: GroupRepository;
let redis: TestRedis;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  const env = (id: string) => ({ NODE_ID: id, WS_MEMBERSHIP_RECONCILE_MS: String(RECONCILE_MS) });
  [nodeA, nodeB, single] = await Promise.all([
    startServerProcess(env('membership-a')),
    startServerProcess(env('membership-b')),
    // The default interval (30 s) is far longer than this test: only the group-channel notice can act.
    startServer({ NODE_ID: 'membership-single' }),
  ]);
  apiA = apiClient(nodeA.url);
  apiB = apiClient(nodeB.url);
  apiSingle = apiClient(single.url);
  cassandra = createCassandraClient(loadConfig(testEnv()).cassandra);
  await cassandra.connect();
  groupsRepo = createGroupRepository(createDb(cassandra));
  redis = testRedis();
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  redis?.disconnect();
  await cassandra?.shutdown();
  await Promise.all([nodeA?.stop('SIGTERM'), nodeB?.stop('SIGTERM'), single?.close()]);
});

async function connect(url: string, user: TestUser) {
  const socket = await connectWs(url, user.token);
  sockets.push(socket);
  return socket;
}

async function send(api: ApiClient, from: TestUser, to: { receiverId: string } | { groupId: string }, content: string) {
  const response = await api.post('/api/v1/messages', { ...to, content }, from.token);
  expect(response.status).toBe(201);
  return response.body.message as { id: string };
}

async function createGroup(api: ApiClient, owner: TestUser, members: TestUser[]) {
  const response = await api.post(
    '/api/v1/groups',
    { name: 'membership', memberIds: members.map((member) => member.id) },
    owner.token,
  );
  expect(response.status).toBe(201);
  return response.body.group.id as string;
}

const created = (id: string) => (data: { message: { id: string } }) => data.message.id === id;

/**
 * Sends one group message and tells whether `removed` got it. The remaining member receiving it
 * proves it was delivered on their node; then a direct message (the marker) to the removed user
 * is published after it, and Redis delivers one subscriber's messages in publish order, so once
 * the marker is there a group message routed to them would already have arrived.
 */
async function groupMessageReaches(
  api: ApiClient,
  sender: TestUser,
  groupId: string,
  remaining: TestSocket[],
  removed: TestSocket,
  removedUser: TestUser,
): Promise<boolean> {
  const message = await send(api, sender, { groupId }, 'group event');
  await Promise.all(remaining.map((socket) => socket.waitFor('message.created', created(message.id))));
  const marker = await send(api, sender, { receiverId: removedUser.id }, 'marker');
  await removed.waitFor('message.created', created(marker.id));
  return removed.ofType('message.created').some((frame) => frame.data.message.id === message.id);
}

describe('group membership of connected users', () => {
  it('stops sending a removed member the group’s events within the reconciliation interval when the membership notice is missed', async () => {
    const [owner, stays, removed] = await Promise.all([registerUser(apiA), registerUser(apiA), registerUser(apiA)]);
    const groupId = await createGroup(apiA, owner, [stays, removed]);
    // The removed user shares node A with a remaining member, so node A keeps the group channel.
    const [removedOnA, staysOnA, ownerOnB] = await Promise.all([
      connect(nodeA.url, removed),
      connect(nodeA.url, stays),
      connect(nodeB.url, owner),
    ]);
    expect(await groupMessageReaches(apiB, owner, groupId, [staysOnA, ownerOnB], removedOnA, removed)).toBe(true);

    // Removed behind the services' back: no membership event is published at all.
    await groupsRepo.removeMember(groupId, removed.id, BigInt(Date.now()) * 1000n);

    // Bounded: a healthy node reconciles within one interval (jittered); this allows many.
    const deadline = Date.now() + RECONCILE_MS * 25;
    let stillReceiving = true;
    while (stillReceiving && Date.now() < deadline) {
      stillReceiving = await groupMessageReaches(apiB, owner, groupId, [staysOnA, ownerOnB], removedOnA, removed);
    }
    expect(stillReceiving).toBe(false);
    // And it stays that way, while the remaining members keep getting the group's events.
    for (let round = 0; round < 3; round++) {
      expect(await groupMessageReaches(apiB, owner, groupId, [staysOnA, ownerOnB], removedOnA, removed)).toBe(false);
    }
    expect(removedOnA.ws.readyState).toBe(removedOnA.ws.OPEN);
  });

  it('applies a removal announced only on the group’s channel', async () => {
    const [owner, stays, removed] = await Promise.all([
      registerUser(apiSingle),
      registerUser(apiSingle),
      registerUser(apiSingle),
    ]);
    const groupId = await createGroup(apiSingle, owner, [stays, removed]);
    const [removedSocket, staysSocket] = await Promise.all([connect(single.url, removed), connect(single.url, stays)]);
    expect(await groupMessageReaches(apiSingle, owner, groupId, [staysSocket], removedSocket, removed)).toBe(true);

    // The removal is stored, and its notice reaches the group channel only (the one on the
    // user's channel is lost): exactly the envelope another node publishes there.
    await groupsRepo.removeMember(groupId, removed.id, BigInt(Date.now()) * 1000n);
    await publishAsNode(
      redis,
      `sb:v1:ch:group:{${groupId}}`,
      JSON.stringify({
        node: 'membership-elsewhere',
        event: { kind: 'membership', groupId, userId: removed.id, change: 'left', at: Date.now() },
      }),
    );

    expect(await groupMessageReaches(apiSingle, owner, groupId, [staysSocket], removedSocket, removed)).toBe(false);
    expect(await groupMessageReaches(apiSingle, owner, groupId, [staysSocket], removedSocket, removed)).toBe(false);
  });

  it('stops delivering to a member removed through the API on another node, and delivers again after re-adding', async () => {
    const [owner, stays, member] = await Promise.all([registerUser(apiA), registerUser(apiA), registerUser(apiA)]);
    const groupId = await createGroup(apiA, owner, [stays, member]);
    const [memberOnA, staysOnA, ownerOnB] = await Promise.all([
      connect(nodeA.url, member),
      connect(nodeA.url, stays),
      connect(nodeB.url, owner),
    ]);
    expect(await groupMessageReaches(apiB, owner, groupId, [staysOnA, ownerOnB], memberOnA, member)).toBe(true);

    const removedResponse = await apiB.delete(`/api/v1/groups/${groupId}/members/${member.id}`, owner.token);
    expect(removedResponse.status).toBe(204);
    // The notice is published before the API answers: the very next group message is not delivered.
    expect(await groupMessageReaches(apiB, owner, groupId, [staysOnA, ownerOnB], memberOnA, member)).toBe(false);

    const added = await apiB.post(`/api/v1/groups/${groupId}/members`, { userId: member.id }, owner.token);
    expect(added.status).toBe(201);
    // Joining needs a new subscription on node A: poll with fresh messages (bounded).
    let back = false;
    for (let attempt = 0; attempt < 50 && !back; attempt++) {
      back = await groupMessageReaches(apiB, owner, groupId, [staysOnA, ownerOnB], memberOnA, member);
    }
    expect(back).toBe(true);
  });
});
