import { monotonicFactory } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketForMessage } from '../../src/domain/buckets.js';
import { directConversationId } from '../../src/domain/conversations.js';
import { newId, ulidTime, ulidWriteTimestampMicros } from '../../src/domain/ids.js';
import { createMessageRepository } from '../../src/store/messages.js';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

type Status = 'delivered' | 'read';

/** Fisher–Yates with a seeded generator: a different but reproducible arrival order per round. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe('POST /api/v1/conversations/:conversationId/receipts', () => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServer();
    api = apiClient(server.url);
  });
  afterAll(async () => server?.close());

  async function pair() {
    const [alice, bob] = (await Promise.all([registerUser(api, 'wm'), registerUser(api, 'wm')])) as [
      TestUser,
      TestUser,
    ];
    return { alice, bob, conversationId: directConversationId(alice.id, bob.id) };
  }

  async function sendMany(from: TestUser, to: TestUser, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const response = await api.post('/api/v1/messages', { receiverId: to.id, content: `m${i}` }, from.token);
      expect(response.status).toBe(201);
      ids.push(response.body.message.id);
    }
    return ids;
  }

  const mark = (caller: TestUser, conversationId: string, messageId: string, status: Status) =>
    api.post(`/api/v1/conversations/${conversationId}/receipts`, { messageId, status }, caller.token);

  const receiptOf = async (caller: TestUser, conversationId: string, userId: string) => {
    const response = await api.get(`/api/v1/conversations/${conversationId}/receipts`, caller.token);
    expect(response.status).toBe(200);
    return response.body.receipts.find((receipt: { userId: string }) => receipt.userId === userId);
  };

  it("moves the caller's delivered watermark and answers the receipt", async () => {
    const { alice, bob, conversationId } = await pair();
    const [m1] = await sendMany(alice, bob, 1);
    const response = await mark(bob, conversationId, m1 as string, 'delivered');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      receipt: { conversationId, userId: bob.id, deliveredUpTo: m1, readUpTo: null },
    });
    expect(await receiptOf(alice, conversationId, bob.id)).toEqual(response.body.receipt);
  });

  it('never moves a watermark backwards', async () => {
    const { alice, bob, conversationId } = await pair();
    const [m1, m2, m3] = (await sendMany(alice, bob, 3)) as [string, string, string];
    expect((await mark(bob, conversationId, m2, 'delivered')).body.receipt).toMatchObject({
      deliveredUpTo: m2,
      readUpTo: null,
    });
    expect((await mark(bob, conversationId, m1, 'delivered')).body.receipt).toMatchObject({
      deliveredUpTo: m2,
      readUpTo: null,
    });
    expect((await mark(bob, conversationId, m3, 'read')).body.receipt).toMatchObject({
      deliveredUpTo: m3,
      readUpTo: m3,
    });
    expect((await mark(bob, conversationId, m1, 'read')).body.receipt).toMatchObject({
      deliveredUpTo: m3,
      readUpTo: m3,
    });
    expect((await mark(bob, conversationId, m2, 'delivered')).body.receipt).toMatchObject({
      deliveredUpTo: m3,
      readUpTo: m3,
    });
    expect(await receiptOf(bob, conversationId, bob.id)).toMatchObject({ deliveredUpTo: m3, readUpTo: m3 });
  });

  it('makes read imply delivered, and keeps a later delivered watermark when reading an earlier message', async () => {
    const { alice, bob, conversationId } = await pair();
    const [m1, m2] = (await sendMany(alice, bob, 2)) as [string, string];
    expect((await mark(bob, conversationId, m1, 'read')).body.receipt).toMatchObject({
      deliveredUpTo: m1,
      readUpTo: m1,
    });
    expect((await mark(bob, conversationId, m2, 'delivered')).body.receipt).toMatchObject({
      deliveredUpTo: m2,
      readUpTo: m1,
    });
    expect((await mark(bob, conversationId, m1, 'read')).body.receipt).toMatchObject({
      deliveredUpTo: m2,
      readUpTo: m1,
    });
  });

  it("moves only the caller's own watermark", async () => {
    const { alice, bob, conversationId } = await pair();
    const [m1] = (await sendMany(alice, bob, 1)) as [string];
    await mark(bob, conversationId, m1, 'read');
    expect(await receiptOf(bob, conversationId, alice.id)).toEqual({
      conversationId,
      userId: alice.id,
      deliveredUpTo: null,
      readUpTo: null,
    });
  });

  it('keeps the highest watermark under concurrent updates in any order', async () => {
    for (let round = 0; round < 4; round++) {
      const { alice, bob, conversationId } = await pair();
      const ids = await sendMany(alice, bob, 12);
      const updates = ids.map((id, i): [string, Status] => [id, i % 3 === 0 ? 'read' : 'delivered']);
      const responses = await Promise.all(
        shuffled(updates, round + 1).map(([id, status]) => mark(bob, conversationId, id, status)),
      );
      for (const response of responses) expect(response.status).toBe(200);
      const reads = updates.filter(([, status]) => status === 'read').map(([id]) => id);
      expect(await receiptOf(alice, conversationId, bob.id)).toMatchObject({
        deliveredUpTo: ids.at(-1),
        readUpTo: reads.sort().at(-1),
      });
    }
  });

  it('keeps the highest of ids created in the same millisecond, whatever order concurrent updates land in', async () => {
    const { alice, bob, conversationId } = await pair();
    // Ids of one millisecond from a monotonic source: most share their write timestamp, so the
    // highest must win on Cassandra's tie-break on the value.
    const time = Date.now() - 60_000;
    const next = monotonicFactory();
    const ids = Array.from({ length: 10 }, () => next(time));
    expect(new Set(ids.map(ulidTime))).toEqual(new Set([time]));
    expect(new Set(ids.map((id) => ulidWriteTimestampMicros(id))).size).toBeLessThan(ids.length);
    const repository = createMessageRepository(server.container.deps.db);
    for (const id of ids) {
      await repository.insert(
        {
          id,
          conversationId,
          senderId: alice.id,
          receiverId: bob.id,
          groupId: null,
          content: `same ms ${id}`,
          createdAt: time,
          clientTimestamp: null,
        },
        bucketForMessage(id, server.container.deps.config.messages.bucketMs),
      );
    }
    for (let round = 0; round < 3; round++) {
      const order = shuffled(ids, round + 7);
      const responses = await Promise.all(
        order.map((id) => mark(bob, conversationId, id, round === 2 ? 'read' : 'delivered')),
      );
      for (const response of responses) expect(response.status).toBe(200);
      expect((await receiptOf(alice, conversationId, bob.id)).deliveredUpTo).toBe(ids.at(-1));
    }
    expect((await receiptOf(alice, conversationId, bob.id)).readUpTo).toBe(ids.at(-1));
  });

  it('answers 404 for a message of another conversation or one that does not exist', async () => {
    const { alice, bob, conversationId } = await pair();
    const carol = await registerUser(api, 'wm');
    const [elsewhere] = (await sendMany(alice, carol, 1)) as [string];
    const problem = expectProblem(await mark(bob, conversationId, elsewhere, 'read'), 404, 'NOT_FOUND');
    expect(problem.detail).toContain(elsewhere);
    expectProblem(await mark(bob, conversationId, newId(), 'delivered'), 404, 'NOT_FOUND');
    expect(await receiptOf(bob, conversationId, bob.id)).toMatchObject({ deliveredUpTo: null, readUpTo: null });
  });

  it('answers 403 to someone outside the conversation', async () => {
    const { alice, bob, conversationId } = await pair();
    const [m1] = (await sendMany(alice, bob, 1)) as [string];
    const outsider = await registerUser(api, 'wm');
    expectProblem(await mark(outsider, conversationId, m1, 'read'), 403, 'FORBIDDEN');
    expectProblem(await api.get(`/api/v1/conversations/${conversationId}/receipts`, outsider.token), 403, 'FORBIDDEN');
  });

  it('answers 400 for a status other than delivered or read, and for a missing or malformed message id', async () => {
    const { alice, bob, conversationId } = await pair();
    const [m1] = (await sendMany(alice, bob, 1)) as [string];
    for (const body of [
      { messageId: m1, status: 'seen' },
      { messageId: m1 },
      { status: 'read' },
      { messageId: 'latest', status: 'read' },
      { messageId: m1, status: 'read', userId: alice.id },
    ]) {
      expectProblem(
        await api.post(`/api/v1/conversations/${conversationId}/receipts`, body, bob.token),
        400,
        'VALIDATION_FAILED',
      );
    }
  });
});
