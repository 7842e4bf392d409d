/**
 * First-page read throughput and latency with the Redis cache warm vs. CACHE_ENABLED=false, on
 * this machine, plus the Redis memory a warm conversation costs (MEMORY USAGE on the real keys).
 *
 *   node --import tsx tests/bench/cache-compare.ts [--requests 5000] [--concurrency 16] [--rounds 2]
 *     [--keyspace <an already migrated keyspace, used as is>] [--prefix <Redis key prefix>]
 *
 * Two API processes on 127.0.0.1 share one freshly migrated keyspace (switchboard_bench_cache,
 * dropped and re-created; or `--keyspace`, e.g. another checkout's migrated keyspace):
 * one with the cache, one without. Conversations are seeded through the caching node, every first
 * page is read once there (the window fills), then each node serves the same fixed number of
 * first-page requests at a fixed concurrency, in alternating rounds. Numbers, not assertions.
 *
 * The file runs unchanged in a checkout of 15f37f0 (before the #12 rebuild: copy it there), so
 * before/after figures come from one measurement (tests/bench/README.md, "Warm vs cold first page").
 */
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { createKeys } from '../../src/cache/keys.js';
import { type ApiNode, connectRedis, ensureServices, resetKeyspace, startApiNode } from './lib/stack.js';
import { round, summarize } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
    conversations: { type: 'string', default: '20' },
    messages: { type: 'string', default: '60' },
    keyspace: { type: 'string' },
    prefix: { type: 'string', default: 'sbbenchcache' },
  },
});
const KEYSPACE = values.keyspace ?? 'switchboard_bench_cache';
const PREFIX = values.prefix;
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const CONVERSATIONS = Number(values.conversations);
const MESSAGES = Number(values.messages);

interface Reader {
  token: string;
  path: string;
  conversationId: string;
}

async function json<T>(pool: Pool, method: 'GET' | 'POST', path: string, token?: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await pool.request({
    method,
    path,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

/** Users and conversations: half one-to-one, half groups of four, ~100-character messages. */
async function seed(pool: Pool): Promise<Reader[]> {
  const register = async (name: string) => {
    const username = `${name}_${Math.random().toString(36).slice(2, 10)}`;
    const result = await json<{ user: { id: string }; token: string }>(pool, 'POST', '/api/v1/users', undefined, {
      username,
      password: 'correct-horse-battery',
    });
    return { id: result.user.id, token: result.token };
  };
  const readers: Reader[] = [];
  for (let c = 0; c < CONVERSATIONS; c++) {
    const people = await Promise.all([register('a'), register('b'), register('c'), register('d')]);
    const [first, second] = people;
    const isGroup = c % 2 === 1;
    let target: { receiverId: string } | { groupId: string } = { receiverId: second.id };
    let path = `/api/v1/messages?peerId=${second.id}&limit=50`;
    if (isGroup) {
      const group = await json<{ group: { id: string } }>(pool, 'POST', '/api/v1/groups', first.token, {
        name: `bench ${c}`,
        memberIds: people.slice(1).map((person) => person.id),
      });
      target = { groupId: group.group.id };
      path = `/api/v1/messages?groupId=${group.group.id}&limit=50`;
    }
    let conversationId = '';
    let lastId = '';
    for (let m = 0; m < MESSAGES; m++) {
      const sender = isGroup ? (people[m % people.length] as { token: string }) : first;
      const content = `message ${String(m).padStart(3, '0')} `.padEnd(100, 'lorem ipsum dolor sit amet ');
      const sent = await json<{ message: { id: string; conversationId: string } }>(
        pool,
        'POST',
        '/api/v1/messages',
        sender.token,
        { ...(isGroup ? target : { receiverId: second.id }), content },
      );
      conversationId = sent.message.conversationId;
      lastId = sent.message.id;
    }
    // Receipts move, so statuses are computed from cached watermarks too.
    await json(pool, 'POST', `/api/v1/conversations/${conversationId}/receipts`, second.token, {
      messageId: lastId,
      status: 'read',
    });
    readers.push({ token: first.token, path, conversationId });
  }
  return readers;
}

interface RunResult {
  node: string;
  requests: number;
  errors: number;
  seconds: number;
  throughput: number;
  p50: number;
  p99: number;
  mean: number;
}

/** A fixed number of first-page requests at a fixed concurrency, round-robin over conversations. */
async function measure(node: ApiNode, label: string, readers: Reader[]): Promise<RunResult> {
  const pool = new Pool(node.url, { connections: CONCURRENCY, pipelining: 1, keepAliveTimeout: 60_000 });
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= REQUESTS) return;
      const reader = readers[index % readers.length] as Reader;
      const started = process.hrtime.bigint();
      try {
        const response = await pool.request({
          method: 'GET',
          path: reader.path,
          headers: { authorization: `Bearer ${reader.token}` },
        });
        await response.body.text();
        if (response.statusCode !== 200) errors++;
        else latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      } catch {
        errors++;
      }
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await pool.close();
  const summary = summarize(latencies);
  return {
    node: label,
    requests: REQUESTS,
    errors,
    seconds: round(seconds),
    throughput: round(latencies.length / seconds, 0),
    p50: summary.p50,
    p99: summary.p99,
    mean: summary.mean,
  };
}

async function cacheHits(node: ApiNode): Promise<number> {
  // Before the metrics listener had its own port (15f37f0), /metrics was on the API port.
  const metricsUrl = (node as { metricsUrl?: string }).metricsUrl ?? node.url;
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const match = /^switchboard_cache_hits_total\{cache="recent"\} (\d+)/m.exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

async function main() {
  ensureServices();
  if (values.keyspace === undefined) await resetKeyspace(KEYSPACE);
  const redis = connectRedis();
  // A fresh start for this bench's keys (its own prefix; nobody else's keys are touched).
  for await (const found of redis.scanStream({ match: `${PREFIX}:*`, count: 1000 })) {
    if ((found as string[]).length > 0) await redis.unlink(...(found as string[]));
  }
  const keys = createKeys(PREFIX);
  const env = { REDIS_KEY_PREFIX: PREFIX };
  const cached = await startApiNode('cache-on', KEYSPACE, { env });
  const plain = await startApiNode('cache-off', KEYSPACE, { env: { ...env, CACHE_ENABLED: 'false' } });
  try {
    const seedPool = new Pool(cached.url, { connections: 4 });
    process.stdout.write(`seeding ${CONVERSATIONS} conversations x ${MESSAGES} messages...\n`);
    const readers = await seed(seedPool);
    const plainPool = new Pool(plain.url, { connections: 4 });
    // Warm the cache (each first page fills its window) and check both nodes agree.
    for (const reader of readers) {
      await json(seedPool, 'GET', reader.path, reader.token);
      const [fromCache, fromCassandra] = await Promise.all([
        json(seedPool, 'GET', reader.path, reader.token),
        json(plainPool, 'GET', reader.path, reader.token),
      ]);
      if (JSON.stringify(fromCache) !== JSON.stringify(fromCassandra)) throw new Error(`pages differ: ${reader.path}`);
    }
    await Promise.all([seedPool.close(), plainPool.close()]);

    // Memory of the warm keys of one conversation (one-to-one and group).
    const memory = async (key: string) => Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
    const windows: number[] = [];
    const receipts: number[] = [];
    for (const reader of readers) {
      windows.push(await memory(keys.recentMessages(reader.conversationId)));
      receipts.push(await memory(keys.receipts(reader.conversationId)));
    }
    const sample = readers[0] as Reader;
    const entries = await redis.zlexcount(keys.recentMessages(sample.conversationId), '-', '(~');
    const encoding = await redis.object('ENCODING', keys.recentMessages(sample.conversationId));
    const groupReader = readers.find((reader) => reader.path.includes('groupId=')) as Reader;
    const members = await memory(keys.groupMembers(groupReader.conversationId));
    const mean = (list: number[]) => Math.round(list.reduce((a, b) => a + b, 0) / Math.max(1, list.length));
    const ttl = await redis.ttl(keys.recentMessages(sample.conversationId));

    // Warm-up of both nodes (JIT, connection pools), then alternating measured rounds.
    await measure(cached, 'warm-up', readers);
    await measure(plain, 'warm-up', readers);
    const hitsBefore = await cacheHits(cached);
    const results: RunResult[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      results.push(await measure(cached, `cache warm (round ${r + 1})`, readers));
      results.push(await measure(plain, `cache disabled (round ${r + 1})`, readers));
    }
    const hitsDuring = (await cacheHits(cached)) - hitsBefore;

    const best = (prefix: string) =>
      results.filter((result) => result.node.startsWith(prefix)).sort((a, b) => b.throughput - a.throughput)[0];
    const on = best('cache warm') as RunResult;
    const off = best('cache disabled') as RunResult;
    process.stdout.write(
      '\n| run | requests | errors | req/s | p50 ms | p99 ms | mean ms |\n|---|---|---|---|---|---|---|\n',
    );
    for (const r of results) {
      process.stdout.write(
        `| ${r.node} | ${r.requests} | ${r.errors} | ${r.throughput} | ${r.p50} | ${r.p99} | ${r.mean} |\n`,
      );
    }
    process.stdout.write(
      `\nbest of ${ROUNDS}: throughput ratio warm/disabled = ${round(on.throughput / off.throughput)}x; ` +
        `p50 ${on.p50} vs ${off.p50} ms (${round(off.p50 / on.p50)}x); p99 ${on.p99} vs ${off.p99} ms (${round(off.p99 / on.p99)}x)\n`,
    );
    process.stdout.write(
      `cache hits on the caching node during the measured rounds: ${hitsDuring} of ${REQUESTS * ROUNDS} requests\n`,
    );
    process.stdout.write(
      `\nRedis memory per warm conversation (MEMORY USAGE, SAMPLES 0): window ${mean(windows)} B ` +
        `(${entries} entries, ~100-char messages, encoding ${encoding}, TTL ${ttl} s), receipts ${mean(receipts)} B, ` +
        `group members (4) ${members} B\n`,
    );
    process.stdout.write(
      `${JSON.stringify({ concurrency: CONCURRENCY, requests: REQUESTS, results, memory: { window: mean(windows), receipts: mean(receipts), members, entries, encoding } })}\n`,
    );
  } finally {
    await Promise.all([cached.stop(), plain.stop()]);
    redis.disconnect();
  }
}

main().catch((error) => {
  process.stderr.write(`cache-compare failed: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
