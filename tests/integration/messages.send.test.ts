import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directConversationId } from '../../src/domain/conversations.js';
import { isUlid, newId, ulidTime } from '../../src/domain/ids.js';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

const MESSAGE_KEYS = [
  'clientTimestamp',
  'content',
  'conversationId',
  'createdAt',
  'deletedAt',
  'editedAt',
  'groupId',
  'id',
  'reactions',
  'receiverId',
  'replyToId',
  'senderId',
  'status',
  'thread',
  'threadId',
];

describe('POST /api/v1/messages', () => {
  let server: TestServer;
  let api: ApiClient;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let groupId: string;

  beforeAll(async () => {
    server = await startServer({ MESSAGE_BUCKET_MS: '60000' });
    api = apiClient(server.url);
    [alice, bob, carol] = (await Promise.all([
      registerUser(api, 'send'),
      registerUser(api, 'send'),
      registerUser(api, 'send'),
    ])) as [TestUser, TestUser, TestUser];
    const group = await api.post('/api/v1/groups', { name: 'Senders', memberIds: [bob.id] }, alice.token);
    groupId = group.body.group.id;
  });
  afterAll(async () => server?.close());

  const send = (caller: TestUser, body: Record<string, unknown>, headers?: Record<string, string>) =>
    api.post('/api/v1/messages', body, caller.token, headers);

  const history = async (caller: TestUser, query: string) => {
    const response = await api.get(`/api/v1/messages?${query}`, caller.token);
    expect(response.status).toBe(200);
    return response.body.messages as Array<Record<string, unknown>>;
  };

  describe('one-to-one', () => {
    it('stores the message and answers 201 with every field', async () => {
      const before = Date.now();
      const response = await send(alice, { receiverId: bob.id, content: 'Hello, Bob' });
      const after = Date.now();
      expect(response.status).toBe(201);
      const { message } = response.body;
      expect(Object.keys(message).sort()).toEqual(MESSAGE_KEYS);
      expect(isUlid(message.id)).toBe(true);
      expect(message).toMatchObject({
        conversationId: directConversationId(alice.id, bob.id),
        senderId: alice.id,
        receiverId: bob.id,
        groupId: null,
        content: 'Hello, Bob',
        clientTimestamp: null,
        status: 'sent',
        editedAt: null,
        deletedAt: null,
        reactions: [],
      });
      expect(Date.parse(message.createdAt)).toBe(ulidTime(message.id));
      expect(message.createdAt).toBe(new Date(ulidTime(message.id)).toISOString());
      expect(ulidTime(message.id)).toBeGreaterThanOrEqual(before);
      expect(ulidTime(message.id)).toBeLessThanOrEqual(after);
    });

    it('is readable by both participants, identically, through peerId and conversationId', async () => {
      const sent = (await send(bob, { receiverId: carol.id, content: 'Hi Carol' })).body.message;
      const conversationId = directConversationId(bob.id, carol.id);
      const asSender = await history(bob, `peerId=${carol.id}`);
      const asReceiver = await history(carol, `peerId=${bob.id}`);
      const byId = await history(carol, `conversationId=${conversationId}`);
      expect(asSender[0]).toEqual(sent);
      expect(asReceiver[0]).toEqual(sent);
      expect(byId[0]).toEqual(sent);
    });

    it('answers 404 for an unknown receiver', async () => {
      const ghost = newId();
      const problem = expectProblem(await send(alice, { receiverId: ghost, content: 'anyone?' }), 404, 'NOT_FOUND');
      expect(problem.detail).toContain(ghost);
    });

    it('answers 400 for a message to oneself', async () => {
      expectProblem(await send(alice, { receiverId: alice.id, content: 'note to self' }), 400, 'VALIDATION_FAILED');
    });
  });

  describe('groups', () => {
    it('stores a group message for members and answers 201', async () => {
      const response = await send(bob, { groupId, content: 'Hello, group' });
      expect(response.status).toBe(201);
      expect(response.body.message).toMatchObject({
        conversationId: groupId,
        senderId: bob.id,
        receiverId: null,
        groupId,
        content: 'Hello, group',
        status: 'sent',
      });
      const page = await history(alice, `groupId=${groupId}`);
      expect(page[0]).toEqual(response.body.message);
    });

    it('answers 404 for an unknown group', async () => {
      expectProblem(await send(alice, { groupId: newId(), content: 'hello?' }), 404, 'NOT_FOUND');
    });

    it('answers 403 to a non-member and stores nothing', async () => {
      const marker = `intruder ${newId()}`;
      expectProblem(await send(carol, { groupId, content: marker }), 403, 'FORBIDDEN');
      const page = await history(alice, `groupId=${groupId}&limit=100`);
      expect(page.some((message) => message.content === marker)).toBe(false);
    });
  });

  describe('target and sender', () => {
    it('answers 400 unless exactly one of receiverId and groupId is given', async () => {
      for (const body of [
        { content: 'nowhere' },
        { receiverId: bob.id, groupId, content: 'both' },
        { receiverId: null, content: 'null' },
      ]) {
        expectProblem(await send(alice, body), 400, 'VALIDATION_FAILED');
      }
    });

    it('accepts senderId when it is the caller', async () => {
      const response = await send(alice, { senderId: alice.id, receiverId: bob.id, content: 'it is me' });
      expect(response.status).toBe(201);
      expect(response.body.message.senderId).toBe(alice.id);
    });

    it('answers 403 when senderId is someone else, and stores nothing', async () => {
      const marker = `spoof ${newId()}`;
      expectProblem(await send(alice, { senderId: bob.id, receiverId: carol.id, content: marker }), 403, 'FORBIDDEN');
      const page = await history(carol, `peerId=${bob.id}&limit=100`);
      expect(page.some((message) => message.content === marker)).toBe(false);
    });

    it('answers 400 for ids that are not ULIDs and for unknown fields', async () => {
      expectProblem(await send(alice, { receiverId: 'bob', content: 'x' }), 400, 'VALIDATION_FAILED');
      expectProblem(await send(alice, { groupId: 'general', content: 'x' }), 400, 'VALIDATION_FAILED');
      expectProblem(
        await send(alice, { receiverId: bob.id, content: 'x', priority: 'high' }),
        400,
        'VALIDATION_FAILED',
      );
    });
  });

  describe('content', () => {
    it('accepts 1 and 4000 characters and refuses 0 and 4001', async () => {
      expect((await send(alice, { receiverId: bob.id, content: 'x' })).status).toBe(201);
      const longest = await send(alice, { receiverId: bob.id, content: 'y'.repeat(4000) });
      expect(longest.status).toBe(201);
      expect(longest.body.message.content).toHaveLength(4000);
      for (const content of ['', 'z'.repeat(4001)]) {
        const problem = expectProblem(await send(alice, { receiverId: bob.id, content }), 400, 'VALIDATION_FAILED');
        expect(problem.issues.map((issue: { path: string }) => issue.path)).toContain('body.content');
      }
    });

    it('counts characters, not UTF-16 units: 4000 emoji fit, 4001 do not', async () => {
      expect((await send(alice, { receiverId: bob.id, content: '😀'.repeat(4000) })).status).toBe(201);
      expectProblem(await send(alice, { receiverId: bob.id, content: '😀'.repeat(4001) }), 400, 'VALIDATION_FAILED');
    });

    it('refuses content that is only whitespace', async () => {
      for (const content of [' ', '   ', '\n\t \r\n', '\u00a0\u2003']) {
        expectProblem(await send(alice, { receiverId: bob.id, content }), 400, 'VALIDATION_FAILED');
      }
    });

    it('refuses content with a lone surrogate, which could not be stored as sent', async () => {
      for (const content of ['broken \ud83d', '\udc00 reversed', 'a\ud800b']) {
        const problem = expectProblem(await send(alice, { receiverId: bob.id, content }), 400, 'VALIDATION_FAILED');
        expect(problem.issues.map((issue: { path: string }) => issue.path)).toContain('body.content');
      }
    });

    it('refuses content that is not a string', async () => {
      for (const content of [42, null, ['a'], { text: 'a' }]) {
        expectProblem(await send(alice, { receiverId: bob.id, content }), 400, 'VALIDATION_FAILED');
      }
    });

    it('keeps content exactly as sent, surrounding whitespace and Unicode included', async () => {
      const content = '  Grüße 👋🏽 — "quotes" <b>not html</b>\n second line  ';
      const sent = (await send(alice, { receiverId: bob.id, content })).body.message;
      expect(sent.content).toBe(content);
      const page = await history(bob, `peerId=${alice.id}&limit=1`);
      expect(page[0]?.content).toBe(content);
    });
  });

  describe('timestamps', () => {
    it('stores an ISO-8601 timestamp as clientTimestamp and orders by server time', async () => {
      const response = await send(alice, {
        receiverId: bob.id,
        content: 'from the past',
        timestamp: '2001-02-03T04:05:06.789Z',
      });
      expect(response.status).toBe(201);
      const { message } = response.body;
      expect(message.clientTimestamp).toBe('2001-02-03T04:05:06.789Z');
      expect(Date.parse(message.createdAt)).toBe(ulidTime(message.id));
      expect(Date.parse(message.createdAt)).toBeGreaterThan(Date.parse('2020-01-01'));
      const page = await history(bob, `peerId=${alice.id}&limit=1`);
      expect(page[0]).toEqual(message);
    });

    it('stores epoch milliseconds as clientTimestamp', async () => {
      const response = await send(alice, { receiverId: bob.id, content: 'epoch', timestamp: 1_700_000_000_123 });
      expect(response.body.message.clientTimestamp).toBe('2023-11-14T22:13:20.123Z');
    });

    it('stores an ISO timestamp with an offset in UTC', async () => {
      const response = await send(alice, {
        receiverId: bob.id,
        content: 'offset',
        timestamp: '2024-05-01T12:00:00+02:00',
      });
      expect(response.body.message.clientTimestamp).toBe('2024-05-01T10:00:00.000Z');
    });

    it('refuses a timestamp that is neither', async () => {
      for (const timestamp of ['yesterday', -1, 1.5, '2024-02-30T00:00:00Z', true]) {
        const problem = expectProblem(
          await send(alice, { receiverId: bob.id, content: 'when?', timestamp }),
          400,
          'VALIDATION_FAILED',
        );
        expect(problem.issues.map((issue: { path: string }) => issue.path)).toContain('body.timestamp');
      }
    });
  });

  it('gives messages sent one after another increasing ids and createdAt', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await send(bob, { groupId, content: `n${i}` })).body.message.id);
    expect([...ids].sort()).toEqual(ids);
    const page = await history(alice, `groupId=${groupId}&limit=5`);
    expect(page.map((message) => message.id)).toEqual([...ids].reverse());
  });
});
