import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketForMessage } from '../../src/domain/buckets.js';
import { directConversationId } from '../../src/domain/conversations.js';
import { idAt } from '../../src/domain/ids.js';
import type { StoredMessage } from '../../src/domain/types.js';
import { createMessageRepository } from '../../src/store/messages.js';
import { createThreadRepository, messageRows } from '../../src/store/threads.js';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { type ServerProcess, startServer, startServerProcess, type TestServer } from '../support/server.js';
import { settledPast } from '../support/sync.js';
import { connectWs, type TestSocket } from '../support/ws-client.js';

const MINUTE = 60_000;
const FIRST_ID = '00000000000000000000000000';

interface MessageJson {
  id: string;
  conversationId: string;
  senderId: string;
  content: string;
  replyToId: string | null;
  threadId: string | null;
  thread: { replyCount: number; lastReplyAt: string; lastReplyId: string } | null;
}

/**
 * Threads: replies sent with `threadId` live in their thread, not in the conversation's history;
 * the root carries the thread's summary; GET …/thread pages the replies by history's cursor rules.
 * Node A runs in this process (its container seeds data and reads the stable position), node B is
 * a separate process; both use one-minute buckets so seeded threads span many of them.
 */
let server: TestServer;
let nodeB: ServerProcess;
let api: ApiClient;
let apiB: ApiClient;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  [server, nodeB] = await Promise.all([
    startServer({ MESSAGE_BUCKET_MS: String(MINUTE) }),
    startServerProcess({ NODE_ID: 'threads-b', MESSAGE_BUCKET_MS: String(MINUTE) }),
  ]);
  api = apiClient(server.url);
  apiB = apiClient(nodeB.url);
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.close()));
  await Promise.all([server?.close(), nodeB?.stop('SIGTERM')]);
});

async function sent(from: TestUser, body: Record<string, unknown>, via = api): Promise<MessageJson> {
  const response = await via.post('/api/v1/messages', body, from.token);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.message;
}

async function group(owner: TestUser, members: TestUser[]) {
  const response = await api.post(
    '/api/v1/groups',
    { name: 'threads', memberIds: members.map((m) => m.id) },
    owner.token,
  );
  expect(response.status).toBe(201);
  return response.body.group.id as string;
}

const threadPath = (conversationId: string, rootId: string, query = '') =>
  `/api/v1/conversations/${conversationId}/messages/${rootId}/thread${query}`;

async function thread(user: TestUser, conversationId: string, rootId: string, query = '') {
  const response = await api.get(threadPath(conversationId, rootId, query), user.token);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body as {
    root: MessageJson;
    messages: MessageJson[];
    nextCursor: string | null;
    cursor: string | null;
  };
}

describe('thread replies', () => {
  it('stay out of the main history (first page cached or not, cursor pages, catch-up, inbox) while the root carries the summary', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const groupId = await group(alice, [bob]);
    const root = await sent(alice, { groupId, content: 'release on friday?' });
    const first = await sent(bob, { groupId, content: 'only if CI is green', threadId: root.id });
    const second = await sent(alice, { groupId, content: 'it is', threadId: root.id, replyToId: first.id });
    const after = await sent(bob, { groupId, content: 'main history goes on' });
    expect(first).toMatchObject({ threadId: root.id, replyToId: null, thread: null });
    expect(second).toMatchObject({ threadId: root.id, replyToId: first.id });

    const summary = { replyCount: 2, lastReplyId: second.id, lastReplyAt: expect.any(String) };
    // Twice: the second first page is answered from the recent-messages window.
    for (let round = 0; round < 2; round++) {
      const page = await api.get(`/api/v1/messages?groupId=${groupId}`, bob.token);
      expect(page.body.messages.map((m: MessageJson) => m.id)).toEqual([after.id, root.id]);
      expect(page.body.messages[1].thread).toEqual(summary);
      expect(page.body.messages[0].thread).toBeNull();
    }
    const older = await api.get(`/api/v1/messages?groupId=${groupId}&before=${after.id}`, bob.token);
    expect(older.body.messages.map((m: MessageJson) => [m.id, m.thread])).toEqual([[root.id, summary]]);
    await settledPast(server.container, after.id);
    const catchUp = await api.get(`/api/v1/messages?groupId=${groupId}&after=${FIRST_ID}`, bob.token);
    expect(catchUp.body.messages.map((m: MessageJson) => m.id)).toEqual([root.id, after.id]);

    // The inbox: the last message is the main history's, unread counts only its messages of others.
    const inbox = await api.get('/api/v1/conversations', alice.token);
    const item = inbox.body.conversations.find((c: { id: string }) => c.id === groupId);
    expect(item.lastMessage.id).toBe(after.id);
    expect(item.unreadCount).toBe(1);
    const bobInbox = await api.get('/api/v1/conversations', bob.token);
    const bobItem = bobInbox.body.conversations.find((c: { id: string }) => c.id === groupId);
    expect(bobItem.unreadCount).toBe(1); // alice's root; her thread reply is not counted

    const page = await thread(bob, groupId, root.id);
    expect(page.root).toMatchObject({ id: root.id, thread: summary });
    expect(page.messages.map((m) => [m.id, m.threadId, m.replyToId])).toEqual([
      [second.id, root.id, first.id],
      [first.id, root.id, null],
    ]);
    expect(page.nextCursor).toBeNull();
    expect(typeof page.cursor).toBe('string');
  });

  it('show a new reply on a cached first page within the cache bound T, without a Cassandra read of the page', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const root = await sent(alice, { receiverId: bob.id, content: 'cached root' });
    const firstPage = () => api.get(`/api/v1/messages?peerId=${alice.id}`, bob.token);
    expect((await firstPage()).body.messages[0].thread).toBeNull(); // fills the window and the summaries
    const reply = await sent(bob, { receiverId: alice.id, content: 'reply', threadId: root.id });
    const staleness = server.container.deps.config.cache.stalenessMs;
    await new Promise((resolve) => setTimeout(resolve, staleness + 100));
    expect((await firstPage()).body.messages[0].thread).toMatchObject({ replyCount: 1, lastReplyId: reply.id });
  });

  it('count every reply when many arrive at once, and name the newest as the last', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const root = await sent(alice, { receiverId: bob.id, content: 'vote now' });
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        sent(
          i % 2 ? alice : bob,
          { receiverId: i % 2 ? bob.id : alice.id, content: `vote ${i}`, threadId: root.id },
          i % 3 ? api : apiB,
        ),
      ),
    );
    const newest = replies
      .map((reply) => reply.id)
      .sort()
      .at(-1);
    const page = await api.get(`/api/v1/messages?peerId=${bob.id}`, alice.token);
    expect(page.body.messages).toEqual([expect.objectContaining({ id: root.id })]);
    expect(page.body.messages[0].thread).toMatchObject({ replyCount: 12, lastReplyId: newest });
    expect((await thread(bob, root.conversationId, root.id)).messages).toHaveLength(12);
  });
});

describe('sending into a thread: validation and authorization', () => {
  it('refuses an unknown root (404), a root of another conversation (404) and a malformed threadId (400)', async () => {
    const [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const elsewhere = await sent(carol, { receiverId: bob.id, content: 'not for alice' });
    for (const threadId of ['01ARZ3NDEKTSV4RRFFQ69G5FAV', elsewhere.id]) {
      const response = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'x', threadId }, alice.token);
      expectProblem(response, 404, 'NOT_FOUND');
    }
    const malformed = await api.post(
      '/api/v1/messages',
      { receiverId: bob.id, content: 'x', threadId: 'nope' },
      alice.token,
    );
    const problem = expectProblem(malformed, 400, 'VALIDATION_FAILED');
    expect(problem.issues.map((issue: { path: string }) => issue.path)).toContain('body.threadId');
  });

  it('refuses a thread under a thread reply (409, naming the root) and reply targets outside the thread (409)', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const groupId = await group(alice, [bob]);
    const root = await sent(alice, { groupId, content: 'root' });
    const other = await sent(alice, { groupId, content: 'another root' });
    const reply = await sent(bob, { groupId, content: 'reply', threadId: root.id });
    const otherReply = await sent(bob, { groupId, content: 'reply elsewhere', threadId: other.id });

    const nested = await api.post('/api/v1/messages', { groupId, content: 'x', threadId: reply.id }, alice.token);
    expect(expectProblem(nested, 409, 'CONFLICT').detail).toContain(`threadId ${root.id}`);
    for (const replyToId of [other.id, otherReply.id]) {
      const response = await api.post(
        '/api/v1/messages',
        { groupId, content: 'x', threadId: root.id, replyToId },
        alice.token,
      );
      expectProblem(response, 409, 'CONFLICT');
    }
    const unknown = await api.post(
      '/api/v1/messages',
      { groupId, content: 'x', threadId: root.id, replyToId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' },
      alice.token,
    );
    expectProblem(unknown, 404, 'NOT_FOUND');
    // None of the refused sends is in the thread.
    expect((await thread(alice, groupId, root.id)).messages.map((m) => m.id)).toEqual([reply.id]);
  });

  it('lets only participants read or reply: outsiders get 403 as for history, unknown roots and thread replies 404', async () => {
    const [alice, bob, mallory] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const groupId = await group(alice, [bob]);
    const root = await sent(alice, { groupId, content: 'members only' });
    const reply = await sent(bob, { groupId, content: 'secret', threadId: root.id });
    const direct = await sent(alice, { receiverId: bob.id, content: 'dm root' });

    expectProblem(await api.get(threadPath(groupId, root.id), mallory.token), 403, 'FORBIDDEN');
    expectProblem(await api.get(`/api/v1/messages?groupId=${groupId}`, mallory.token), 403, 'FORBIDDEN');
    expectProblem(await api.get(threadPath(direct.conversationId, direct.id), mallory.token), 403, 'FORBIDDEN');
    const into = await api.post(
      '/api/v1/messages',
      { groupId, content: 'let me in', threadId: root.id },
      mallory.token,
    );
    expectProblem(into, 403, 'FORBIDDEN');
    expectProblem(await api.get(threadPath(groupId, root.id)), 401, 'UNAUTHENTICATED');

    expectProblem(await api.get(threadPath(groupId, '01ARZ3NDEKTSV4RRFFQ69G5FAV'), bob.token), 404, 'NOT_FOUND');
    expectProblem(await api.get(threadPath(groupId, reply.id), bob.token), 404, 'NOT_FOUND');
    expectProblem(await api.get(threadPath(groupId, 'nope'), bob.token), 400, 'VALIDATION_FAILED');
    expectProblem(await api.get(threadPath(groupId, root.id, '?limit=0'), bob.token), 400, 'VALIDATION_FAILED');
    expectProblem(
      await api.get(threadPath(groupId, root.id, `?before=${reply.id}&after=${reply.id}`), bob.token),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('binds threadId into the idempotency key: a retry answers the original reply, another thread is a 409', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const root = await sent(alice, { receiverId: bob.id, content: 'root' });
    const other = await sent(alice, { receiverId: bob.id, content: 'other root' });
    const body = { receiverId: alice.id, content: 'once', threadId: root.id, clientMessageId: `t-${root.id}` };
    const first = await api.post('/api/v1/messages', body, bob.token);
    expect(first.status).toBe(201);
    const retry = await api.post('/api/v1/messages', body, bob.token);
    expect(retry.status).toBe(200);
    expect(retry.body.message).toEqual(first.body.message);
    expectProblem(await api.post('/api/v1/messages', { ...body, threadId: other.id }, bob.token), 409, 'CONFLICT');
    const page = await thread(alice, root.conversationId, root.id);
    expect(page.messages.map((m) => m.id)).toEqual([first.body.message.id]);
    expect(page.root.thread?.replyCount).toBe(1);
  });
});

describe('GET …/thread: pagination with history’s cursor rules', () => {
  it('pages a thread spread over many buckets both ways, then catches up from its cursor', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const conversationId = directConversationId(alice.id, bob.id);
    const messages = createMessageRepository(server.container.deps.db);
    const threads = createThreadRepository(server.container.deps.db);
    const start = Date.now() - 3 * 24 * 60 * MINUTE;
    const base = { conversationId, receiverId: bob.id, groupId: null, clientTimestamp: null };
    const root: StoredMessage = { ...base, id: idAt(start), senderId: alice.id, content: 'root', createdAt: start };
    await messages.insert(root, bucketForMessage(root.id, MINUTE));
    // 40 replies in clusters over a day: some share a bucket, most buckets between them are empty.
    const replies: StoredMessage[] = [];
    let time = start + 1000;
    for (let i = 0; i < 40; i++) {
      time += i % 4 === 0 ? 37 * MINUTE : 900;
      const reply = {
        ...base,
        id: idAt(time),
        senderId: alice.id,
        content: `r${i}`,
        createdAt: time,
        threadId: root.id,
      };
      await threads.insert(reply, bucketForMessage(reply.id, MINUTE));
      replies.push(reply);
    }
    const ids = replies.map((reply) => reply.id);

    const newestFirst: string[] = [];
    let query = '?limit=7';
    for (let pages = 0; pages < 20; pages++) {
      const page = await thread(bob, conversationId, root.id, query);
      newestFirst.push(...page.messages.map((m) => m.id));
      if (page.nextCursor === null) break;
      query = `?limit=7&before=${page.nextCursor}`;
    }
    expect(newestFirst).toEqual([...ids].reverse());

    const oldestFirst: string[] = [];
    let cursor: string | null = null;
    query = `?limit=9&after=${FIRST_ID}`;
    for (let pages = 0; pages < 20; pages++) {
      const page = await thread(bob, conversationId, root.id, query);
      oldestFirst.push(...page.messages.map((m) => m.id));
      cursor = page.cursor;
      if (page.nextCursor === null) break;
      query = `?limit=9&after=${page.nextCursor}`;
    }
    expect(oldestFirst).toEqual(ids);
    expect(cursor).not.toBeNull();

    // A time range picks the replies of one stretch, as history's from/to do.
    const fromTo = `?from=${replies[4]?.createdAt}&to=${replies[7]?.createdAt}`;
    expect((await thread(bob, conversationId, root.id, fromTo)).messages.map((m) => m.id)).toEqual(
      ids.slice(4, 8).reverse(),
    );

    // A client following the thread catches up from its cursor: only what arrived since.
    const late = await sent(bob, { receiverId: alice.id, content: 'late reply', threadId: root.id });
    await settledPast(server.container, late.id);
    const caughtUp = await thread(alice, conversationId, root.id, `?after=${cursor}`);
    expect(caughtUp.messages.map((m) => m.id)).toEqual([late.id]);
    expect(caughtUp.root.thread).toMatchObject({ replyCount: 41, lastReplyId: late.id });
    const again = await thread(alice, conversationId, root.id, `?after=${caughtUp.cursor}`);
    expect(again.messages).toEqual([]);
  });
});

describe('an unfinished thread reply', () => {
  it('is aborted in its thread (where the guard and reaper look for it), not in the main history', async () => {
    const [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
    const root = await sent(alice, { receiverId: bob.id, content: 'root' });
    const kept = await sent(bob, { receiverId: alice.id, content: 'kept', threadId: root.id });
    const db = server.container.deps.db;
    const rows = messageRows(createMessageRepository(db), createThreadRepository(db));
    const time = Date.now();
    const stray: StoredMessage = {
      id: idAt(time),
      conversationId: root.conversationId,
      senderId: bob.id,
      receiverId: alice.id,
      groupId: null,
      content: 'never acknowledged',
      createdAt: time,
      clientTimestamp: null,
      threadId: root.id,
    };
    const bucket = bucketForMessage(stray.id, MINUTE);
    const writeTs = BigInt(time) * 1000n;
    await createThreadRepository(db).insert(stray, bucket, writeTs);
    expect(await rows.findById(stray.conversationId, stray.id, bucket, root.id)).toMatchObject({ id: stray.id });
    await rows.abort(stray.conversationId, bucket.start, stray.id, writeTs, root.id);
    expect(await rows.findById(stray.conversationId, stray.id, bucket, root.id)).toBeUndefined();
    expect((await thread(alice, root.conversationId, root.id)).messages.map((m) => m.id)).toEqual([kept.id]);
  });
});

describe('thread events', () => {
  async function connect(via: { url: string }, user: TestUser) {
    const socket = await connectWs(via.url, user.token);
    sockets.push(socket);
    return socket;
  }

  it('reach every participant on both nodes with threadId, and the root’s new summary as message.updated; never an outsider', async () => {
    const [alice, bob, carol] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const groupId = await group(alice, [bob]);
    const root = await sent(alice, { groupId, content: 'plan?' });
    const participants = [
      await connect(server, alice),
      await connect(nodeB, alice),
      await connect(server, bob),
      await connect(nodeB, bob),
    ];
    const carolOnB = await connect(nodeB, carol);

    const reply = await sent(bob, { groupId, content: 'yes', threadId: root.id }, apiB);
    for (const socket of participants) {
      const created = await socket.waitFor('message.created', (data) => data.message.id === reply.id);
      expect(created.data.message).toEqual(reply);
      expect(created.data.message.threadId).toBe(root.id);
      const updated = await socket.waitFor('message.updated', (data) => data.message.id === root.id);
      expect(updated.data.message).toMatchObject({ id: root.id, content: 'plan?', threadId: null });
      expect(updated.data.message.thread).toMatchObject({ replyCount: 1, lastReplyId: reply.id });
    }

    // A later direct message to carol arrives after anything wrongly routed to her would have.
    const marker = await sent(alice, { receiverId: carol.id, content: 'marker' }, apiB);
    await carolOnB.waitFor('message.created', (data) => data.message.id === marker.id);
    const seen = carolOnB.frames.map((frame) => frame.data?.message?.id);
    expect(seen).not.toContain(reply.id);
    expect(seen).not.toContain(root.id);

    // After a reconnect, the thread endpoint gives a client what it missed.
    const page = await thread(alice, groupId, root.id);
    expect(page.messages.map((m) => m.id)).toEqual([reply.id]);
  });
});
