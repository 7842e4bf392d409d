import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroupRepository } from '../../src/store/groups.js';
import { type ApiClient, apiClient, expectProblem, registerUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { connectWs, type TestSocket } from '../support/ws-client.js';

/**
 * A membership write that times out but lands must still be followed everywhere. Node "slow"
 * reaches Cassandra through a proxy that holds the answers to writes past the node's request
 * timeout (the writes themselves reach Cassandra at once and are applied); node "direct" has
 * the member's socket and never reconciles during the test, so only the change's own
 * propagation can make it deliver the group's messages.
 */
let proxy: TcpProxy;
let slow: TestServer;
let direct: TestServer;
let slowApi: ApiClient;
let directApi: ApiClient;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  proxy = await startTcpProxy('127.0.0.1', 9042);
  [slow, direct] = await Promise.all([
    startServer({
      NODE_ID: 'uncertain-slow',
      CASSANDRA_CONTACT_POINTS: `127.0.0.1:${proxy.port}`,
      CASSANDRA_REQUEST_TIMEOUT_MS: '1000',
    }),
    startServer({ NODE_ID: 'uncertain-direct', WS_MEMBERSHIP_RECONCILE_MS: '3600000' }),
  ]);
  slowApi = apiClient(slow.url);
  directApi = apiClient(direct.url);
});

afterAll(async () => {
  proxy?.delayCqlWriteReplies(0);
  await Promise.all(sockets.map((socket) => socket.close()));
  await Promise.all([slow?.close(), direct?.close()]);
  await proxy?.close();
});

describe('membership writes that time out and land', () => {
  it('a member added by a write that timed out gets the group’s messages live, and the group is in their groups_by_user', async () => {
    const [owner, member] = await Promise.all([registerUser(directApi, 'unc'), registerUser(directApi, 'unc')]);
    const created = await directApi.post('/api/v1/groups', { name: 'uncertain', memberIds: [] }, owner.token);
    expect(created.status).toBe(201);
    const groupId = created.body.group.id as string;
    const memberSocket = await connectWs(direct.url, member.token);
    sockets.push(memberSocket);

    // Every attempt at the write (three, 1 s timeout each) is answered 4 s late: the client gives up.
    proxy.delayCqlWriteReplies(4000);
    let added: Awaited<ReturnType<ApiClient['post']>>;
    try {
      added = await slowApi.post(`/api/v1/groups/${groupId}/members`, { userId: member.id }, owner.token);
    } finally {
      proxy.delayCqlWriteReplies(0);
    }
    expectProblem(added, 503, 'UNAVAILABLE');

    // It landed in both tables at once (one logged batch)…
    const repo = createGroupRepository(direct.container.deps.db);
    expect(await repo.findMember(groupId, member.id)).toMatchObject({ userId: member.id, role: 'member' });
    expect(await repo.listGroupIdsOfUser(member.id)).toContain(groupId);
    // …and was propagated anyway: the member's node re-read Cassandra, subscribed, and told the client.
    await memberSocket.waitFor('resync', (data) => data.reason === 'joined a group');
    const sent = await directApi.post('/api/v1/messages', { groupId, content: 'welcome' }, owner.token);
    expect(sent.status).toBe(201);
    await memberSocket.waitFor('message.created', (data) => data.message.id === sent.body.message.id);
    // A retry of the request finds the member there: an honest 409, not a second row.
    expectProblem(
      await directApi.post(`/api/v1/groups/${groupId}/members`, { userId: member.id }, owner.token),
      409,
      'CONFLICT',
    );
  });

  it('a member removed by a write that timed out stops getting the group’s messages', async () => {
    const [owner, stays, removed] = await Promise.all([
      registerUser(directApi, 'unc'),
      registerUser(directApi, 'unc'),
      registerUser(directApi, 'unc'),
    ]);
    const created = await directApi.post(
      '/api/v1/groups',
      { name: 'u2', memberIds: [stays.id, removed.id] },
      owner.token,
    );
    const groupId = created.body.group.id as string;
    const [staysSocket, removedSocket] = await Promise.all([
      connectWs(direct.url, stays.token),
      connectWs(direct.url, removed.token),
    ]);
    sockets.push(staysSocket, removedSocket);

    proxy.delayCqlWriteReplies(4000);
    let answer: Awaited<ReturnType<ApiClient['delete']>>;
    try {
      answer = await slowApi.delete(`/api/v1/groups/${groupId}/members/${removed.id}`, owner.token);
    } finally {
      proxy.delayCqlWriteReplies(0);
    }
    expectProblem(answer, 503, 'UNAVAILABLE');
    const repo = createGroupRepository(direct.container.deps.db);
    expect(await repo.listGroupIdsOfUser(removed.id)).not.toContain(groupId);

    // The notice made the removed member's node re-read: the next group message reaches only the other.
    let lastId = '';
    for (let attempt = 0; attempt < 20; attempt++) {
      const sent = await directApi.post('/api/v1/messages', { groupId, content: `after ${attempt}` }, owner.token);
      lastId = sent.body.message.id;
      await staysSocket.waitFor('message.created', (data) => data.message.id === lastId);
      const marker = await directApi.post('/api/v1/messages', { receiverId: removed.id, content: 'm' }, owner.token);
      await removedSocket.waitFor('message.created', (data) => data.message.id === marker.body.message.id);
      if (!removedSocket.ofType('message.created').some((frame) => frame.data.message.id === lastId)) break;
    }
    expect(removedSocket.ofType('message.created').some((frame) => frame.data.message.id === lastId)).toBe(false);
  });
});
