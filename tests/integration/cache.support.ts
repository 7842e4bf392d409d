import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { expect } from 'vitest';
import type { CacheCounters } from '../../src/cache/counters.js';
import type { ApiClient, TestUser } from '../support/api.js';
import { type TestRedis, testRedis } from '../support/redis.js';

/**
 * Helpers of the cache integration tests: a private redis-server child (never the shared one),
 * a TCP proxy that can cut a node off from Redis while Redis keeps its data, and direct reads of
 * the cache keys (real Cassandra calls are counted with tests/support/cassandra-calls.ts).
 */

/** A key prefix of its own, so a test's cache keys are not shared with other tests. */
export const uniquePrefix = () => `sbt${randomBytes(5).toString('hex')}`;

/**
 * Environment of a caching node in tests about consistency (not about timeouts or expiry): a
 * command timeout generous enough that a busy shared machine does not turn a hit into a timeout,
 * and a T long enough that a window filled at the start of a test is still there at its end.
 */
export const patientCache = (prefix: string) => ({
  REDIS_KEY_PREFIX: prefix,
  REDIS_COMMAND_TIMEOUT_MS: '2000',
  CACHE_STALENESS_MS: '60000',
});

/**
 * A test's own client of the shared Redis (no 100 ms timeout), to inspect and drop cache keys:
 * the Redis Cluster with TEST_REDIS_TOPOLOGY=cluster, unless a URL is named.
 */
export function inspector(url?: string): TestRedis {
  if (!url) return testRedis({ maxRetriesPerRequest: 2 });
  const client = new Redis(url, { maxRetriesPerRequest: 2 });
  client.on('error', () => {});
  return client;
}

/** Deletes every key of a test's prefix (SCAN, never KEYS), so tests leave the shared Redis clean. */
export async function dropPrefix(redis: TestRedis, prefix: string): Promise<void> {
  // On a cluster: every primary's keys, one UNLINK per key (they are in many slots).
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    for await (const keys of node.scanStream({ match: `${prefix}:*`, count: 1000 })) {
      await Promise.all((keys as string[]).map((key) => redis.unlink(key)));
    }
  }
}

/** The message ids of a conversation's cached window, newest first, whether it is filled and complete. */
export async function readWindow(redis: TestRedis, prefix: string, conversationId: string) {
  const key = `${prefix}:v1:recent:{${conversationId}}`;
  const [entries, meta, ttlMs] = await Promise.all([
    redis.zrevrangebylex(key, '(~', '-'),
    redis.zrangebylex(key, '[~', '+'),
    redis.pttl(key),
  ]);
  return {
    ids: entries.map((entry) => entry.slice(0, 26)),
    filled: meta.includes('~f0') || meta.includes('~f1'),
    complete: meta.includes('~f1'),
    ttlMs,
  };
}

/** The Cassandra statement that reads a page of messages (one per bucket visited). */
export const isMessagePageRead = (query: string) => query.includes('FROM messages WHERE') && query.includes('LIMIT');

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` answers true; throws with `what` when `timeoutMs` passes first. */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(100);
  }
}

/** Sends a one-to-one message through a node and expects 201; answers its id. */
export async function sendDirect(api: ApiClient, from: TestUser, to: TestUser, content: string): Promise<string> {
  const response = await api.post('/api/v1/messages', { receiverId: to.id, content }, from.token);
  expect(response.status).toBe(201);
  return response.body.message.id as string;
}

/** A history page without its `cursor`: each node's own stable position (src/services/sync/), not part of the page. */
export const withoutCursor = ({ cursor: _cursor, ...page }: Record<string, any>) => page;

/** A node's first page of a conversation equals the reference (cache-less) node's; answers its ids. */
export async function expectPageCorrect(api: ApiClient, reference: ApiClient, user: TestUser, peer: TestUser) {
  const path = `/api/v1/messages?peerId=${peer.id}&limit=50`;
  const response = await api.get(path, user.token);
  expect(response.status).toBe(200);
  expect(withoutCursor(response.body)).toEqual(withoutCursor((await reference.get(path, user.token)).body));
  return response.body.messages.map((message: { id: string }) => message.id) as string[];
}

/** Reads the page until the node answers it from Redis again; it must equal the reference's each time. */
export async function expectServedFromCacheAgain(
  target: { api: ApiClient; counters: CacheCounters },
  reference: ApiClient,
  user: TestUser,
  peer: TestUser,
  timeoutMs = 15_000,
): Promise<void> {
  const hits = target.counters.get('recent', 'hit');
  await eventually(
    'a first page is a cache hit again',
    async () => {
      await expectPageCorrect(target.api, reference, user, peer);
      return target.counters.get('recent', 'hit') > hits;
    },
    timeoutMs,
  );
}
