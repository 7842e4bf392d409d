import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketForMessage } from '../../src/domain/buckets.js';
import { directConversationId } from '../../src/domain/conversations.js';
import { newId, ulidTime } from '../../src/domain/ids.js';
import { requestHash } from '../../src/services/messaging.js';
import { createIdempotencyRepository } from '../../src/store/idempotency.js';
import { createMessageRepository } from '../../src/store/messages.js';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { connectWs } from '../support/ws-client.js';

describe('idempotent sends', () => {
  let server: TestServer;
  let api: ApiClient;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let groupId: string;

  beforeAll(async () => {
    server = await startServer();
    api = apiClient(server.url);
    [alice, bob, carol] = (await Promise.all([
      registerUser(api, 'idem'),
      registerUser(api, 'idem'),
      registerUser(api, 'idem'),
    ])) as [TestUser, TestUser, TestUser];
    groupId = (await api.post('/api/v1/groups', { name: 'Idem', memberIds: [bob.id, carol.id] }, alice.token)).body
      .group.id;
  });
  afterAll(async () => server?.close());

  const send = (caller: TestUser, body: Record<string, unknown>, headers?: Record<string, string>) =>
    api.post('/api/v1/messages', body, caller.token, headers);

  /** Every message of a conversation (few in these tests), newest first. */
  const all = async (caller: TestUser, query: string) => {
    const response = await api.get(`/api/v1/messages?${query}&limit=100`, caller.token);
    expect(response.status).toBe(200);
    expect(response.body.nextCursor).toBeNull();
    return response.body.messages as Array<{ id: string; content: string }>;
  };

  const copies = (messages: Array<{ content: string }>, content: string) =>
    messages.filter((message) => message.content === content).length;

  it('answers a retry with the same clientMessageId 200 with the original message, storing one copy', async () => {
    const key = randomUUID();
    const content = `retry ${key}`;
    const first = await send(alice, { receiverId: bob.id, content, clientMessageId: key });
    expect(first.status).toBe(201);
    const second = await send(alice, { receiverId: bob.id, content, clientMessageId: key });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(copies(await all(bob, `peerId=${alice.id}`), content)).toBe(1);
  });

  it('answers a retry with the same Idempotency-Key header 200 with the original message, storing one copy', async () => {
    const key = randomUUID();
    const content = `header ${key}`;
    const first = await send(alice, { groupId, content }, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    const second = await send(alice, { groupId, content }, { 'idempotency-key': key });
    expect(second.status).toBe(200);
    expect(second.body.message).toEqual(first.body.message);
    expect(copies(await all(carol, `groupId=${groupId}`), content)).toBe(1);
  });

  it('treats the header and clientMessageId as the same key', async () => {
    const key = randomUUID();
    const content = `same key ${key}`;
    expect((await send(alice, { receiverId: bob.id, content }, { 'idempotency-key': key })).status).toBe(201);
    const retry = await send(alice, { receiverId: bob.id, content, clientMessageId: key });
    expect(retry.status).toBe(200);
    const both = await send(alice, { receiverId: bob.id, content, clientMessageId: key }, { 'idempotency-key': key });
    expect(both.status).toBe(200);
    expect(copies(await all(bob, `peerId=${alice.id}`), content)).toBe(1);
  });

  it('answers 400 when the header and clientMessageId disagree', async () => {
    const response = await send(
      alice,
      { receiverId: bob.id, content: 'two keys', clientMessageId: randomUUID() },
      { 'idempotency-key': randomUUID() },
    );
    expectProblem(response, 400, 'VALIDATION_FAILED');
  });

  it('answers 409 when a key is reused for a different payload, and stores nothing new', async () => {
    const key = randomUUID();
    const original = `original ${key}`;
    expect((await send(alice, { receiverId: bob.id, content: original, clientMessageId: key })).status).toBe(201);
    const variants = [
      { receiverId: bob.id, content: `changed ${key}`, clientMessageId: key },
      { receiverId: carol.id, content: original, clientMessageId: key },
      { groupId, content: original, clientMessageId: key },
      { receiverId: bob.id, content: original, clientMessageId: key, timestamp: 1_700_000_000_000 },
    ];
    for (const body of variants) expectProblem(await send(alice, body), 409, 'CONFLICT');
    expect(copies(await all(bob, `peerId=${alice.id}`), original)).toBe(1);
    expect(copies(await all(bob, `peerId=${alice.id}`), `changed ${key}`)).toBe(0);
    expect(copies(await all(carol, `peerId=${alice.id}`), original)).toBe(0);
    expect(copies(await all(carol, `groupId=${groupId}`), original)).toBe(0);
  });

  it('keeps keys per sender: another sender may use the same key', async () => {
    const key = randomUUID();
    const fromAlice = await send(alice, { groupId, content: 'mine', clientMessageId: key });
    const fromBob = await send(bob, { groupId, content: 'mine', clientMessageId: key });
    expect(fromAlice.status).toBe(201);
    expect(fromBob.status).toBe(201);
    expect(fromBob.body.message.id).not.toBe(fromAlice.body.message.id);
  });

  it('stores exactly one message when two identical sends arrive at once', async () => {
    for (let round = 0; round < 4; round++) {
      const key = randomUUID();
      const content = `concurrent ${key}`;
      const viaHeader = round % 2 === 1;
      const request = () =>
        viaHeader
          ? send(alice, { groupId, content }, { 'idempotency-key': key })
          : send(alice, { groupId, content, clientMessageId: key });
      const responses = await Promise.all([request(), request()]);
      expect(responses.map((response) => response.status).sort()).toEqual([200, 201]);
      const [a, b] = responses;
      expect(a?.body.message.id).toBe(b?.body.message.id);
      expect(a?.body.message.content).toBe(content);
      expect(copies(await all(bob, `groupId=${groupId}`), content)).toBe(1);
    }
  });

  it("returns the message's current status on a retry", async () => {
    const key = randomUUID();
    const content = `status ${key}`;
    const first = await send(alice, { receiverId: carol.id, content, clientMessageId: key });
    expect(first.body.message.status).toBe('sent');
    const conversationId = first.body.message.conversationId;
    const read = await api.post(
      `/api/v1/conversations/${conversationId}/receipts`,
      { messageId: first.body.message.id, status: 'read' },
      carol.token,
    );
    expect(read.status).toBe(200);
    const retry = await send(alice, { receiverId: carol.id, content, clientMessageId: key });
    expect(retry.status).toBe(200);
    expect(retry.body.message).toEqual({ ...first.body.message, status: 'read' });
  });

  /** A message from alice to bob as the store holds it, for leaving what a dead first attempt leaves. */
  const aliceToBob = (id: string, content: string) => ({
    id,
    conversationId: directConversationId(alice.id, bob.id),
    senderId: alice.id,
    receiverId: bob.id,
    groupId: null,
    content,
    createdAt: ulidTime(id),
    clientTimestamp: null,
  });

  it('stores and fans out, under a fresh id, a message whose first attempt claimed the key but died before writing it', async () => {
    const key = randomUUID();
    const content = `orphaned claim ${key}`;
    const id = newId();
    const target = { receiverId: bob.id };
    // What a first attempt leaves when its process dies between the claim and the message write.
    await createIdempotencyRepository(server.container.deps.db).claim(
      key,
      requestHash(target, content, null),
      aliceToBob(id, content),
      BigInt(Date.now()) * 1000n,
    );
    const socket = await connectWs(server.url, bob.token);
    try {
      const retry = await send(alice, { ...target, content, clientMessageId: key });
      expect(retry.status).toBe(200);
      // Never the orphaned id: it may already be below every client's sync cursor.
      const freshId = retry.body.message.id;
      expect(freshId > id).toBe(true);
      const frame = await socket.waitFor('message.created', (data) => data.message.id === freshId);
      expect(frame.data.message.content).toBe(content);
      const history = await all(bob, `peerId=${alice.id}`);
      expect(copies(history, content)).toBe(1);
      const again = await send(alice, { ...target, content, clientMessageId: key });
      expect(again.status).toBe(200);
      expect(again.body.message.id).toBe(freshId);
    } finally {
      await socket.close();
    }
  });

  it('publishes, on a retry, a message whose first attempt was stored but never published', async () => {
    const key = randomUUID();
    const content = `stored, unpublished ${key}`;
    const id = newId();
    const writeTs = BigInt(Date.now()) * 1000n;
    const target = { receiverId: bob.id };
    const stored = aliceToBob(id, content);
    // What a first attempt leaves when it stored the message and Redis refused the publish (or
    // the process died before it): the claim flipped to stored, the message, and no event anywhere.
    const { db, config } = server.container.deps;
    const claims = createIdempotencyRepository(db);
    await claims.claim(key, requestHash(target, content, null), stored, writeTs);
    await createMessageRepository(db).insert(stored, bucketForMessage(id, config.messages.bucketMs), writeTs);
    await claims.markStored(alice.id, key, id);
    const socket = await connectWs(server.url, bob.token);
    try {
      const retry = await send(alice, { ...target, content, clientMessageId: key });
      expect(retry.status).toBe(200);
      expect(retry.body.message.id).toBe(id);
      const frame = await socket.waitFor('message.created', (data) => data.message.id === id);
      expect(frame.data.message.content).toBe(content);
      expect(copies(await all(bob, `peerId=${alice.id}`), content)).toBe(1);
    } finally {
      await socket.close();
    }
  });

  it('refuses keys that are empty, too long or contain spaces', async () => {
    for (const clientMessageId of ['', 'k'.repeat(129), 'has space', 'tab\tkey']) {
      expectProblem(await send(alice, { receiverId: bob.id, content: 'k', clientMessageId }), 400, 'VALIDATION_FAILED');
    }
    expectProblem(
      await send(alice, { receiverId: bob.id, content: 'k' }, { 'idempotency-key': 'k'.repeat(129) }),
      400,
      'VALIDATION_FAILED',
    );
    expect(
      (await send(alice, { receiverId: bob.id, content: 'k', clientMessageId: 'k'.repeat(128) })).status,
    ).toBeLessThan(300);
  });
});
