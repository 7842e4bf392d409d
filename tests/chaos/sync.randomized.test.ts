import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, registerUser, type TestUser } from '../support/api.js';
import { type FaultyPair, startFaultyPair } from '../support/faulty-pair.js';
import type { RedisChild } from '../support/redis-server.js';
import type { ServerProcess } from '../support/server.js';
import { CATCH_UP_WITHIN_MS, seededRandom, sleep } from '../support/sync.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import { connectWs, type TestSocket } from '../support/ws-client.js';

/**
 * Issue #13's promise, tested the way it is broken in production: a reader that follows only the
 * documented sync loop (src/ws/README.md, "The client loop") with only server-issued cursors ends
 * with exactly the messages that were acknowledged with 201/200, while
 * - four senders race on two API nodes, to one-to-one conversations and a group,
 * - the reader disconnects and reconnects at random, to either node,
 * - Redis (a private redis-server both nodes use) is killed and restarted mid-run, so live events
 *   are lost and both nodes resubscribe,
 * - node B's Cassandra answers are held back, first within the send deadline (those sends succeed
 *   late, with ids older than messages node A stored meanwhile), then past it (those sends are
 *   aborted with 503 and retried with the same idempotency key, possibly on the other node).
 *
 * It does fail when it should: with catch-up pages not stopped at the stable position (history.ts
 * answering S = the largest id), seed 20261201 missed 51 of 642 acknowledged messages.
 *
 * Seeded (SYNC_TEST_SEED): the seed fixes the stream of random choices (targets, nodes, pauses,
 * fault times); which sender draws which choice still depends on timing, so a seed replays the
 * same kind of run rather than the same run. Bounded in time: the senders stop after RUN_MS and
 * the reader gets SETTLE_MS to converge. Seeds 20261201 (CI's), 1, 2, 3, 7 and 42 passed here.
 */

const SEED = Number(process.env.SYNC_TEST_SEED ?? 20261201);
const RUN_MS = 28_000;
/** As long as a node killed by another test file can hold the stable position back. */
const SETTLE_MS = CATCH_UP_WITHIN_MS;
/** The send deadline of the nodes under test, short so the slowed link exceeds it. */
const SEND_DEADLINE_MS = 1_500;
/** How late node B's Cassandra answers come while its link is slowed: within, then past the send deadline. */
const LATE_LINK_MS = 300;
const SLOW_LINK_MS = 2_000;
/** How long one HTTP call may take before the client gives up on it and retries. */
const CLIENT_TIMEOUT_MS = 6_000;

/** One HTTP call that gives up after CLIENT_TIMEOUT_MS: a network error or timeout is `undefined`. */
async function call(
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: any } | undefined> {
  try {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  } catch {
    return undefined;
  }
}

describe('sync under faults (randomized, seeded)', () => {
  let pair: FaultyPair;
  let redis: RedisChild;
  let slowLink: TcpProxy;
  let nodeA: ServerProcess;
  let nodeB: ServerProcess;
  let reader: TestUser;
  let senders: TestUser[];
  let groupId: string;

  beforeAll(async () => {
    pair = await startFaultyPair(SEND_DEADLINE_MS);
    ({ redis, slowLink, nodeA, nodeB } = pair);
    const api = apiClient(nodeA.url);
    reader = await registerUser(api, 'reader');
    senders = await Promise.all([1, 2, 3, 4].map((i) => registerUser(api, `sender${i}`)));
    const group = await api.post('/api/v1/groups', { name: 'sync under faults' }, senders[0]?.token);
    expect(group.status).toBe(201);
    groupId = group.body.group.id;
    for (const user of [reader, ...senders.slice(1)]) {
      const added = await api.post(`/api/v1/groups/${groupId}/members`, { userId: user.id }, senders[0]?.token);
      expect(added.status).toBe(201);
    }
  }, 180_000);

  afterAll(async () => {
    await pair?.close();
  });

  it('the reader ends with exactly the acknowledged messages: none missing, none unacknowledged', async () => {
    const random = seededRandom(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const nodes = () => [nodeA.url, nodeB.url];
    const started = Date.now();
    const log: string[] = [];
    const note = (line: string) => log.push(`${String(Date.now() - started).padStart(6)} ms ${line}`);

    // ---- the senders: every message is retried with its key until it is acknowledged ----
    const acknowledged = new Set<string>();
    let sendAttempts = 0;
    let retries = 0;
    async function sendUntilAcknowledged(sender: TestUser, target: object, key: string) {
      for (;;) {
        sendAttempts++;
        const node = pick(nodes());
        const answer = await call(node, 'POST', '/api/v1/messages', sender.token, {
          ...target,
          // The same payload every time: a retry with another payload is a 409, by design.
          content: `message ${key}`,
          clientMessageId: key,
        });
        if (answer && (answer.status === 201 || answer.status === 200)) {
          acknowledged.add(answer.body.message.id);
          return;
        }
        // Anything else (503 past the deadline, a timeout, a dropped connection) is retried with the
        // same key, as the API documents; only a client error would be a bug here.
        if (answer && answer.status < 500 && answer.status !== 429) {
          throw new Error(`send answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        }
        retries++;
        await sleep(100 + random() * 400);
      }
    }
    async function runSender(sender: TestUser, index: number) {
      let n = 0;
      while (Date.now() - started < RUN_MS) {
        const target = random() < 0.5 ? { receiverId: reader.id } : { groupId };
        await sendUntilAcknowledged(sender, target, `s${index}-${n++}-${SEED}`);
        await sleep(random() * 150);
      }
    }

    // ---- the reader: the documented loop, with server-issued cursors only ----
    const received = new Set<string>();
    const cursors = new Map<string, string>();
    let syncCursor: string | undefined;
    let resyncs = 0;
    let connections = 0;

    /** Pulls one conversation from its cursor to the end; false when a call failed (try again later). */
    async function pull(node: string, conversationId: string): Promise<boolean> {
      for (;;) {
        const cursor = cursors.get(conversationId);
        const query = new URLSearchParams({ conversationId, limit: '100' });
        if (cursor) query.set('after', cursor);
        else query.set('after', '00000000000000000000000000');
        const page = await call(node, 'GET', `/api/v1/messages?${query}`, reader.token);
        if (page?.status !== 200) return false;
        for (const message of page.body.messages) received.add(message.id);
        cursors.set(conversationId, page.body.cursor);
        if (!page.body.nextCursor) return true;
      }
    }
    /** One catch-up: the inbox's changes since the last syncCursor, then each changed conversation. */
    async function catchUp(node: string): Promise<boolean> {
      let pageCursor: string | undefined;
      let nextSyncCursor: string | undefined;
      const changed: string[] = [];
      do {
        const query = new URLSearchParams({ limit: '50' });
        if (syncCursor) query.set('changedSince', syncCursor);
        if (pageCursor) query.set('cursor', pageCursor);
        const inbox = await call(node, 'GET', `/api/v1/conversations?${query}`, reader.token);
        if (inbox?.status !== 200) return false;
        nextSyncCursor ??= inbox.body.syncCursor;
        for (const conversation of inbox.body.conversations) changed.push(conversation.id);
        pageCursor = inbox.body.nextCursor ?? undefined;
      } while (pageCursor);
      for (const conversationId of changed) if (!(await pull(node, conversationId))) return false;
      // Only once every changed conversation is pulled may the next catch-up start from here.
      syncCursor = nextSyncCursor;
      return true;
    }

    let readerStopped = false;
    async function runReader() {
      while (!readerStopped) {
        const node = pick(nodes());
        let socket: TestSocket;
        try {
          socket = await connectWs(node, reader.token);
        } catch {
          await sleep(200);
          continue; // e.g. Redis is down and the node cannot hold subscriptions: no `ready`
        }
        connections++;
        let pendingResync = true; // a fresh connection catches up first
        socket.ws.on('message', (data) => {
          const frame = JSON.parse(data.toString());
          if (frame.type === 'message.created') received.add(frame.data.message.id);
          if (frame.type === 'resync') {
            resyncs++;
            pendingResync = true;
          }
        });
        const stayMs = 1_000 + random() * 3_000;
        const until = Date.now() + stayMs;
        while (!readerStopped && Date.now() < until && socket.ws.readyState === socket.ws.OPEN) {
          if (pendingResync) {
            pendingResync = false;
            if (!(await catchUp(node))) pendingResync = true;
          }
          await sleep(50);
        }
        await socket.close();
      }
    }

    // ---- the faults, at seeded moments ----
    async function runFaults() {
      await sleep(5_000 + random() * 3_000);
      note('redis killed');
      await redis.stop();
      await sleep(1_500 + random() * 1_500);
      await redis.start();
      note('redis restarted (empty)');
      await sleep(3_000 + random() * 2_000);
      // First late but within the deadline: those sends succeed with ids older than messages node
      // A stored meanwhile (what a reader that tracks "the newest id seen" would miss for good).
      note(`node B's Cassandra answers held ${LATE_LINK_MS} ms`);
      slowLink.delayReplies(LATE_LINK_MS);
      await sleep(3_000 + random() * 2_000);
      // Then past the deadline: those sends are aborted (503) and retried with the same key.
      note(`node B's Cassandra answers held ${SLOW_LINK_MS} ms`);
      slowLink.delayReplies(SLOW_LINK_MS);
      await sleep(3_000 + random() * 2_000);
      slowLink.delayReplies(0);
      note("node B's Cassandra link back to normal");
    }

    const readerDone = runReader();
    await Promise.all([runFaults(), ...senders.map((sender, index) => runSender(sender, index))]);
    note(`senders done: ${acknowledged.size} acknowledged, ${sendAttempts} attempts, ${retries} retries`);

    // Converge: keep the loop going until the reader holds every acknowledged message, bounded.
    const settleBy = Date.now() + SETTLE_MS;
    while (Date.now() < settleBy && [...acknowledged].some((id) => !received.has(id))) await sleep(250);
    // One last catch-up after convergence, so a message visible but not acknowledged would show.
    readerStopped = true;
    await readerDone;
    await sleep(1_500);
    expect(await catchUp(nodeA.url)).toBe(true);
    note(`reader: ${received.size} received over ${connections} connections, ${resyncs} resync frames`);

    const missing = [...acknowledged].filter((id) => !received.has(id));
    const unacknowledged = [...received].filter((id) => !acknowledged.has(id));
    const report = `seed ${SEED}\n${log.join('\n')}\nmissing: ${missing.join(', ') || 'none'}\nunacknowledged: ${unacknowledged.join(', ') || 'none'}`;
    console.log(report);
    expect(retries, 'the slowed link must have made some sends time out and retry').toBeGreaterThan(0);
    expect(resyncs + connections, 'the reader must have caught up more than once').toBeGreaterThan(2);
    expect({ missing, unacknowledged }, report).toEqual({ missing: [], unacknowledged: [] });
  }, 180_000);
});
