import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketForMessage } from '../../src/domain/buckets.js';
import { directConversationId } from '../../src/domain/conversations.js';
import { minUlidAt, ulidTime } from '../../src/domain/ids.js';
import { decodeCursor, encodeCursor } from '../../src/domain/sync-cursor.js';
import { createMessageRepository } from '../../src/store/messages.js';
import { createPendingSendRepository } from '../../src/store/pending-sends.js';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { type ServerProcess, startServer, startServerProcess, type TestServer } from '../support/server.js';
import { CATCH_UP_WITHIN_MS } from '../support/sync.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

interface Page {
  messages: Array<{ id: string; content: string }>;
  nextCursor: string | null;
  cursor: string | null;
}

/**
 * A reader that follows only server-issued cursors, as the docs tell clients to: it keeps the
 * last `cursor` and asks `after=<cursor>` again. Every page is checked to return only ids below
 * its own cursor (the client holds everything below it afterwards).
 */
function cursorReader(api: ApiClient, user: TestUser, peerId: string, start: string) {
  let cursor = start;
  const received: string[] = [];
  return {
    received,
    async poll(): Promise<void> {
      for (;;) {
        const response = await api.get(`/api/v1/messages?peerId=${peerId}&after=${cursor}&limit=100`, user.token);
        expect(response.status).toBe(200);
        const page = response.body as Page;
        const below = decodeCursor(page.cursor as string)?.below as string;
        for (const message of page.messages) expect(message.id < below).toBe(true);
        received.push(...page.messages.map((message) => message.id));
        cursor = page.cursor as string;
        if (page.nextCursor === null) return;
      }
    },
    /** Polls until `ids` were all received (bounded). */
    async until(ids: string[], timeoutMs = CATCH_UP_WITHIN_MS): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!ids.every((id) => received.includes(id))) {
        if (Date.now() > deadline) throw new Error(`not received within ${timeoutMs} ms: ${ids.join(',')}`);
        await this.poll();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

async function firstPageCursor(api: ApiClient, user: TestUser, peerId: string): Promise<string> {
  const response = await api.get(`/api/v1/messages?peerId=${peerId}&limit=1`, user.token);
  expect(response.status).toBe(200);
  return response.body.cursor as string;
}

describe('sync cursors across nodes', () => {
  let a: TestServer;
  let b: TestServer;
  let apiA: ApiClient;
  let apiB: ApiClient;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    [a, b] = await Promise.all([startServer(), startServer()]);
    apiA = apiClient(a.url);
    apiB = apiClient(b.url);
    [alice, bob] = await Promise.all([registerUser(apiA, 'sync'), registerUser(apiA, 'sync')]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  const send = (api: ApiClient, content: string, extra: Record<string, unknown> = {}) =>
    api.post('/api/v1/messages', { receiverId: bob.id, content, ...extra }, alice.token);

  it('delivers a message sent on either node through after=<cursor> from a cursor taken before it, exactly once', async () => {
    const reader = cursorReader(apiA, bob, alice.id, await firstPageCursor(apiA, bob, alice.id));
    const viaB = await send(apiB, 'via b');
    const viaA = await send(apiA, 'via a');
    expect([viaB.status, viaA.status]).toEqual([201, 201]);
    const ids = [viaB.body.message.id, viaA.body.message.id];
    await reader.until(ids);
    await reader.poll();
    expect(reader.received.filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
    expect(new Set(reader.received).size).toBe(reader.received.length);
  });

  it('accepts a cursor issued for another conversation: positions are global', async () => {
    const carol = await registerUser(apiA, 'sync');
    const other = await firstPageCursor(apiA, bob, carol.id);
    const reader = cursorReader(apiB, bob, alice.id, other);
    const sent = await send(apiA, 'after a foreign cursor');
    await reader.until([sent.body.message.id]);
  });

  it('answers 400 VALIDATION_FAILED naming after for cursors it did not issue', async () => {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const good = encodeCursor({ below: '01JD3W6YQ7R5S3T2V1X0Z9Y8W7' });
    for (const bad of [
      'not-a-cursor',
      encode({ v: 2, below: '01JD3W6YQ7R5S3T2V1X0Z9Y8W7' }),
      encode({ v: 1, below: 'nope' }),
      encode({ v: 1, below: '01JD3W6YQ7R5S3T2V1X0Z9Y8W7', extra: true }),
      encode([1, 2, 3]),
      good.slice(0, -3),
      `${good}==`,
    ]) {
      const problem = expectProblem(
        await apiA.get(`/api/v1/messages?peerId=${alice.id}&after=${encodeURIComponent(bad)}`, bob.token),
        400,
        'VALIDATION_FAILED',
      );
      expect(JSON.stringify(problem.issues)).toContain('after');
    }
  });
});

describe('sync cursors with a slow node', () => {
  let fast: TestServer;
  let slow: TestServer;
  let proxy: TcpProxy;
  let alice: TestUser;
  let bob: TestUser;
  const DEADLINE = 1500;

  beforeAll(async () => {
    proxy = await startTcpProxy('127.0.0.1', 9042);
    fast = await startServer();
    slow = await startServer({
      CASSANDRA_CONTACT_POINTS: `127.0.0.1:${proxy.port}`,
      SEND_DEADLINE_MS: String(DEADLINE),
    });
    [alice, bob] = await Promise.all([
      registerUser(apiClient(fast.url), 'slow'),
      registerUser(apiClient(fast.url), 'slow'),
    ]);
    // Warm the slow node (statements prepared, session checked, conversation recorded).
    const warm = await apiClient(slow.url).post(
      '/api/v1/messages',
      { receiverId: bob.id, content: 'warm', clientMessageId: randomUUID() },
      alice.token,
    );
    expect(warm.status).toBe(201);
  });
  afterAll(async () => {
    proxy?.delay(0);
    await Promise.all([fast?.close(), slow?.close()]);
    await proxy?.close();
  });

  it('holds back a later message until an earlier-minted slow send has settled, then delivers both', async () => {
    const reader = cursorReader(
      apiClient(fast.url),
      bob,
      alice.id,
      await firstPageCursor(apiClient(fast.url), bob, alice.id),
    );
    proxy.delay(300);
    const slowSend = apiClient(slow.url).post(
      '/api/v1/messages',
      { receiverId: bob.id, content: 'slow first' },
      alice.token,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const later = await apiClient(fast.url).post(
      '/api/v1/messages',
      { receiverId: bob.id, content: 'fast later' },
      alice.token,
    );
    expect(later.status).toBe(201);
    const laterId = later.body.message.id as string;
    // While the slow send is in flight the later message must not show up alone.
    let early: string[] = [];
    while (!reader.received.includes(laterId)) {
      await reader.poll();
      early = [...reader.received];
      if (early.includes(laterId)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
      if ((await Promise.race([slowSend.then(() => 'done'), Promise.resolve('pending')])) === 'done') break;
    }
    const slowResponse = await slowSend;
    proxy.delay(0);
    expect(slowResponse.status).toBe(201);
    const slowId = slowResponse.body.message.id as string;
    expect(slowId < laterId).toBe(true);
    await reader.until([slowId, laterId]);
    // Order of arrival: the earlier id is never skipped, it comes no later than the later one.
    expect(reader.received.indexOf(slowId)).toBeLessThan(reader.received.indexOf(laterId));
  });

  it('answers 503 for a send held past the deadline, never shows it, and its retry stores it once under a fresh id', async () => {
    const key = randomUUID();
    const content = `held past D ${key}`;
    const slowApi = apiClient(slow.url);
    const reader = cursorReader(
      apiClient(fast.url),
      bob,
      alice.id,
      await firstPageCursor(apiClient(fast.url), bob, alice.id),
    );
    proxy.delay(DEADLINE / 2.5);
    const started = Date.now();
    const held = await slowApi.post(
      '/api/v1/messages',
      { receiverId: bob.id, content, clientMessageId: key },
      alice.token,
    );
    proxy.delay(0);
    expectProblem(held, 503, 'UNAVAILABLE');
    expect(Date.now() - started).toBeGreaterThanOrEqual(DEADLINE);

    // The aborted id, from the slow node's pending sends, and a replay of its insert with its
    // original write timestamp (what a hint delivered hours later would do): still invisible.
    const db = fast.container.deps.db;
    const minute = Math.floor(started / 60_000) * 60_000;
    const pending = (
      await Promise.all(
        [minute - 60_000, minute, minute + 60_000].map((m) =>
          createPendingSendRepository(db).since(slow.container.deps.sync.nodeId, minUlidAt(m), m),
        ),
      )
    )
      .flat()
      .filter((send) => send.idempotencyKey === key);
    expect(pending.length).toBeGreaterThan(0);
    const messages = createMessageRepository(db);
    const conversationId = directConversationId(alice.id, bob.id);
    for (const send of pending) {
      const message = {
        id: send.messageId,
        conversationId,
        senderId: alice.id,
        receiverId: bob.id,
        groupId: null,
        content,
        createdAt: 0,
        clientTimestamp: null,
      };
      await messages.insert(
        message,
        bucketForMessage(send.messageId, fast.container.deps.config.messages.bucketMs),
        send.writeTs,
      );
      expect(await messages.findById(conversationId, send.messageId)).toBeUndefined();
    }

    const retry = await slowApi.post(
      '/api/v1/messages',
      { receiverId: bob.id, content, clientMessageId: key },
      alice.token,
    );
    expect(retry.status).toBe(200);
    const freshId = retry.body.message.id as string;
    expect(pending.map((send) => send.messageId)).not.toContain(freshId);
    await reader.until([freshId]);
    const history = await apiClient(fast.url).get(`/api/v1/messages?peerId=${alice.id}&limit=100`, bob.token);
    expect((history.body as Page).messages.filter((message) => message.content === content)).toHaveLength(1);
    expect(reader.received.filter((id) => pending.some((send) => send.messageId === id))).toEqual([]);
  });
});

describe('a node whose clock runs far behind', () => {
  let a: TestServer;
  let behind: ServerProcess;

  beforeAll(async () => {
    a = await startServer();
    behind = await startServerProcess({ SYNC_TEST_CLOCK_OFFSET_MS: String(-120_000) });
  });
  afterAll(async () => {
    await behind?.stop();
    await a?.close();
  });

  it('never causes a miss: its messages reach a reader following cursors from another node', async () => {
    const apiA = apiClient(a.url);
    const [alice, bob] = await Promise.all([registerUser(apiA, 'skew'), registerUser(apiA, 'skew')]);
    const reader = cursorReader(apiA, bob, alice.id, await firstPageCursor(apiA, bob, alice.id));
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      const api = i % 2 === 0 ? apiClient(behind.url) : apiA;
      const response = await api.post('/api/v1/messages', { receiverId: bob.id, content: `skew ${i}` }, alice.token);
      expect(response.status).toBe(201);
      sent.push(response.body.message.id);
      await reader.poll();
    }
    await reader.until(sent);
    // Its ids are floored to the positions it saw, not minted two minutes in the past.
    for (const id of sent) expect(ulidTime(id)).toBeGreaterThan(Date.now() - 60_000);
  });
});
