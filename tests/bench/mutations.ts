/**
 * Latency of edits, deletes and reactions next to a send, at the send benchmark's concurrency
 * (32 in flight; docs/data-model.md "Changing messages"). One API node in this process; 16 pairs
 * of users; for each operation COUNT requests in a closed loop, each on its own message (sent
 * first), interleaved rounds so machine noise hits every operation alike. Prints per operation
 * the rate, p50 and p99.
 *   TEST_CASSANDRA_KEYSPACE=… node --import tsx tests/bench/mutations.ts [count] [concurrency]
 */
import { type ApiClient, apiClient, registerUser, type TestUser } from '../support/api.js';
import { startServer } from '../support/server.js';

const COUNT = Number(process.argv[2] ?? 1000);
const CONCURRENCY = Number(process.argv[3] ?? 32);
const ROUNDS = 2;

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};

const node = await startServer({ RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'silent' });
const api: ApiClient = apiClient(node.url);
const pairs: Array<[TestUser, TestUser]> = [];
for (let i = 0; i < 16; i++) pairs.push([await registerUser(api, 'mut'), await registerUser(api, 'mut')]);

interface Target {
  conversationId: string;
  id: string;
  pair: [TestUser, TestUser];
}

async function closedLoop(count: number, task: (i: number) => Promise<number>) {
  const latencies: number[] = [];
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        const status = await task(i);
        latencies.push(performance.now() - t);
        if (status >= 300) failed++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    perSecond: Math.round(count / seconds),
    p50: +quantile(latencies, 0.5).toFixed(1),
    p99: +quantile(latencies, 0.99).toFixed(1),
    failed,
  };
}

const send = async (i: number): Promise<Target> => {
  const pair = pairs[i % pairs.length] as [TestUser, TestUser];
  const response = await api.post('/api/v1/messages', { receiverId: pair[1].id, content: `bench ${i}` }, pair[0].token);
  return { conversationId: response.body.message.conversationId, id: response.body.message.id, pair };
};
const path = (t: Target) => `/api/v1/conversations/${t.conversationId}/messages/${t.id}`;

const results: Record<string, Array<ReturnType<typeof closedLoop> extends Promise<infer R> ? R : never>> = {};
const record = (name: string, result: Awaited<ReturnType<typeof closedLoop>>) => {
  results[name] ??= [];
  results[name].push(result);
};
for (let round = 0; round < ROUNDS; round++) {
  const targets: Target[] = [];
  record(
    'send',
    await closedLoop(COUNT, async (i) => {
      const target = await send(i);
      targets.push(target);
      return 201;
    }),
  );
  record(
    'edit',
    await closedLoop(COUNT, async (i) => {
      const t = targets[i] as Target;
      return (await api.request('PATCH', path(t), { body: { content: `edited ${i}` }, token: t.pair[0].token })).status;
    }),
  );
  record(
    'react',
    await closedLoop(COUNT, async (i) => {
      const t = targets[i] as Target;
      return (await api.request('PUT', `${path(t)}/reactions/%F0%9F%91%8D`, { token: t.pair[1].token })).status;
    }),
  );
  record(
    'unreact',
    await closedLoop(COUNT, async (i) => {
      const t = targets[i] as Target;
      return (await api.request('DELETE', `${path(t)}/reactions/%F0%9F%91%8D`, { token: t.pair[1].token })).status;
    }),
  );
  record(
    'delete',
    await closedLoop(COUNT, async (i) => {
      const t = targets[i] as Target;
      return (await api.request('DELETE', path(t), { token: t.pair[0].token })).status;
    }),
  );
}
console.log(JSON.stringify({ count: COUNT, concurrency: CONCURRENCY, results }, null, 1));
await node.close();
