import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

/** Replies (`replyToId`): a send that answers an earlier message of the same conversation. */
describe('POST /api/v1/messages with replyToId', () => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServer();
    api = apiClient(server.url);
  });
  afterAll(async () => server?.close());

  const send = (from: TestUser, body: Record<string, unknown>, headers?: Record<string, string>) =>
    api.post('/api/v1/messages', body, from.token, headers);

  async function sent(from: TestUser, body: Record<string, unknown>) {
    const response = await send(from, body);
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body.message as { id: string; conversationId: string; replyToId: string | null };
  }

  async function group(owner: TestUser, members: TestUser[]) {
    const response = await api.post(
      '/api/v1/groups',
      { name: 'replies', memberIds: members.map((m) => m.id) },
      owner.token,
    );
    expect(response.status).toBe(201);
    return response.body.group.id as string;
  }

  it('stores the reply target and shows it on the answer, in history (cached and not) and as null when unset', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const question = await sent(alice, { receiverId: bob.id, content: 'lunch?' });
    expect(question.replyToId).toBeNull();
    const answer = await sent(bob, { receiverId: alice.id, content: 'yes', replyToId: question.id });
    expect(answer).toMatchObject({ replyToId: question.id, threadId: null, thread: null });

    // The first page twice (the second answer comes from the recent-messages window), and a cursor page.
    for (let round = 0; round < 2; round++) {
      const page = await api.get(`/api/v1/messages?peerId=${bob.id}&limit=10`, alice.token);
      expect(page.status).toBe(200);
      expect(page.body.messages.map((m: { id: string; replyToId: string | null }) => [m.id, m.replyToId])).toEqual([
        [answer.id, question.id],
        [question.id, null],
      ]);
    }
    const older = await api.get(`/api/v1/messages?peerId=${bob.id}&limit=10&before=${answer.id}`, alice.token);
    expect(older.body.messages).toEqual([expect.objectContaining({ id: question.id, replyToId: null })]);
  });

  it('works in groups: a member answers another member', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const groupId = await group(alice, [bob]);
    const root = await sent(alice, { groupId, content: 'who is in?' });
    const reply = await sent(bob, { groupId, content: 'me', replyToId: root.id });
    expect(reply.replyToId).toBe(root.id);
  });

  it('answers 404 for an unknown message and for a message of another conversation, in the same words', async () => {
    const [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const elsewhere = await sent(carol, { receiverId: bob.id, content: 'private to bob and carol' });
    const unknown = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
    const problems = [];
    for (const replyToId of [unknown, elsewhere.id]) {
      problems.push(
        expectProblem(await send(alice, { receiverId: bob.id, content: 'hm', replyToId }), 404, 'NOT_FOUND'),
      );
    }
    // Nothing tells alice that carol's message exists.
    expect(problems.map((p) => p.detail.replace(/[0-9A-Z]{26}/, 'ID'))).toEqual([
      'Message ID does not exist in this conversation',
      'Message ID does not exist in this conversation',
    ]);
    // Nothing was stored for the refused sends.
    const page = await api.get(`/api/v1/messages?peerId=${bob.id}`, alice.token);
    expect(page.body.messages).toEqual([]);
  });

  it('refuses a malformed replyToId with VALIDATION_FAILED naming the field', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    for (const replyToId of ['not-a-ulid', 42, null, '']) {
      const problem = expectProblem(
        await send(alice, { receiverId: bob.id, content: 'x', replyToId }),
        400,
        'VALIDATION_FAILED',
      );
      expect(problem.issues.map((issue: { path: string }) => issue.path)).toContain('body.replyToId');
    }
  });

  it('answers 409 when a main-history message answers a thread reply, naming the thread to answer it in', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const root = await sent(alice, { receiverId: bob.id, content: 'root' });
    const inThread = await sent(bob, { receiverId: alice.id, content: 'in thread', threadId: root.id });
    const problem = expectProblem(
      await send(alice, { receiverId: bob.id, content: 'answer', replyToId: inThread.id }),
      409,
      'CONFLICT',
    );
    expect(problem.detail).toContain(`threadId ${root.id}`);
  });

  it('refuses an outsider with 403 before looking at the target', async () => {
    const [alice, bob, mallory] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const groupId = await group(alice, [bob]);
    const root = await sent(alice, { groupId, content: 'members only' });
    expectProblem(await send(mallory, { groupId, content: 'hi', replyToId: root.id }), 403, 'FORBIDDEN');
  });

  it('binds the reply target into the idempotency key: the same key answers the original, another target is a 409', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const [first, second] = [
      await sent(bob, { receiverId: alice.id, content: 'one' }),
      await sent(bob, { receiverId: alice.id, content: 'two' }),
    ];
    const key = { 'idempotency-key': `reply-${first.id}` };
    const body = { receiverId: bob.id, content: 'agreed', replyToId: first.id };
    const original = await send(alice, body, key);
    expect(original.status).toBe(201);
    const retry = await send(alice, body, key);
    expect(retry.status).toBe(200);
    expect(retry.body.message).toEqual(original.body.message);
    expect(retry.body.message.replyToId).toBe(first.id);
    expectProblem(await send(alice, { ...body, replyToId: second.id }, key), 409, 'CONFLICT');
    expectProblem(await send(alice, { receiverId: bob.id, content: 'agreed' }, key), 409, 'CONFLICT');
  });
});
