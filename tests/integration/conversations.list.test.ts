import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

describe('GET /conversations', () => {
  let server: TestServer;
  let api: ApiClient;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;

  beforeAll(async () => {
    server = await startServer();
    api = apiClient(server.url);
    [alice, bob, carol] = (await Promise.all([
      registerUser(api, 'inbox'),
      registerUser(api, 'inbox'),
      registerUser(api, 'inbox'),
    ])) as [TestUser, TestUser, TestUser];
  });
  afterAll(async () => server?.close());

  const list = async (user: TestUser) => {
    const response = await api.get('/api/v1/conversations', user.token);
    expect(response.status).toBe(200);
    return response.body.conversations as Array<Record<string, unknown>>;
  };

  it('lists a one-to-one conversation for both users once it holds a message, and for nobody else', async () => {
    expect(await list(alice)).toEqual([]);
    const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'hi bob' }, alice.token);
    expect(sent.status).toBe(201);
    const conversationId = sent.body.message.conversationId;
    const entry = { id: conversationId, kind: 'direct', groupId: null, name: null };
    expect(await list(alice)).toEqual([expect.objectContaining({ ...entry, peerId: bob.id })]);
    // Bob learns of a conversation someone else started: what a reconnecting client catches up on.
    expect(await list(bob)).toEqual([expect.objectContaining({ ...entry, peerId: alice.id })]);
    expect(await list(carol)).toEqual([]);
    await api.post('/api/v1/messages', { receiverId: alice.id, content: 'hi alice' }, bob.token);
    expect(await list(alice)).toHaveLength(1);
  });

  it('lists the groups the caller belongs to, and drops one the caller left', async () => {
    const created = await api.post('/api/v1/groups', { name: 'Inbox crew', memberIds: [carol.id] }, alice.token);
    const groupId = created.body.group.id;
    const entry = expect.objectContaining({ id: groupId, kind: 'group', peerId: null, groupId, name: 'Inbox crew' });
    expect(await list(carol)).toContainEqual(entry);
    expect(await list(bob)).not.toContainEqual(entry);
    expect((await api.delete(`/api/v1/groups/${groupId}/members/${carol.id}`, carol.token)).status).toBe(204);
    expect(await list(carol)).not.toContainEqual(entry);
    expect(await list(alice)).toContainEqual(entry);
  });

  it('requires a bearer token', async () => {
    expectProblem(await api.get('/api/v1/conversations'), 401, 'UNAUTHENTICATED');
  });
});
