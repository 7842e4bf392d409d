/**
 * Catch-up lag under load (src/services/sync/README.md, "Costs"): two API nodes in this process,
 * CONCURRENCY senders for SECONDS on both, while a reader follows `after=<cursor>`. Prints, from
 * each node's `switchboard_sync_catch_up_lag_seconds` and from the reader's own view (201 → first
 * seen in a catch-up page), p50/p99, and the send rate and p99.
 *   TEST_CASSANDRA_KEYSPACE=… node --import tsx tests/bench/sync-lag.ts [seconds] [concurrency]
 */
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { startServer } from '../support/server.js';

const SECONDS = Number(process.argv[2] ?? 20);
const CONCURRENCY = Number(process.argv[3] ?? 16);

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};

const nodes = await Promise.all([startServer(), startServer()]);
const apis = nodes.map((node) => apiClient(node.url)) as [ApiClient, ApiClient];
const [alice, bob] = await Promise.all([registerUser(apis[0], 'lag'), registerUser(apis[0], 'lag')]);
const reader = apis[0];
let cursor = (await reader.get(`/api/v1/messages?peerId=${alice.id}&limit=1`, bob.token)).body.cursor as string;
const acknowledged = new Map<string, number>();
const lagMs: number[] = [];
const sendMs: number[] = [];
const end = Date.now() + SECONDS * 1000;

async function sender(i: number) {
  const api = apis[i % 2] as ApiClient;
  while (Date.now() < end) {
    const started = performance.now();
    const response = await api.post('/api/v1/messages', { receiverId: bob.id, content: `lag ${i}` }, alice.token);
    sendMs.push(performance.now() - started);
    if (response.status === 201) acknowledged.set(response.body.message.id, performance.now());
  }
}
async function follow() {
  while (Date.now() < end + 3000) {
    const page = (await reader.get(`/api/v1/messages?peerId=${alice.id}&after=${cursor}&limit=100`, bob.token)).body;
    for (const message of page.messages as Array<{ id: string }>) {
      const at = acknowledged.get(message.id);
      if (at !== undefined) lagMs.push(performance.now() - at);
    }
    cursor = page.cursor;
    if (page.nextCursor === null) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
await Promise.all([follow(), ...Array.from({ length: CONCURRENCY }, (_, i) => sender(i))]);
const missing = [...acknowledged.keys()].length - lagMs.length;
console.log(
  JSON.stringify({
    seconds: SECONDS,
    concurrency: CONCURRENCY,
    sendsPerSecond: Math.round(acknowledged.size / SECONDS),
    sendP50Ms: +quantile(sendMs, 0.5).toFixed(1),
    sendP99Ms: +quantile(sendMs, 0.99).toFixed(1),
    readerLagP50Ms: +quantile(lagMs, 0.5).toFixed(0),
    readerLagP99Ms: +quantile(lagMs, 0.99).toFixed(0),
    acknowledgedNotSeen: missing,
  }),
);
for (const node of nodes) {
  const text = await node.container.deps.metrics.render();
  console.log(
    text
      .split('\n')
      .filter((line) => line.startsWith('switchboard_sync_catch_up_lag_seconds_bucket'))
      .join('\n'),
  );
  // The extra write per send next to the message insert: mean duration of each statement.
  for (const table of ['pending_sends', 'messages']) {
    const of = (suffix: string) =>
      Number(
        text
          .split('\n')
          .find((line) =>
            line.startsWith(
              `switchboard_cassandra_request_duration_seconds_${suffix}{statement="insert ${table}",outcome="ok"} `,
            ),
          )
          ?.split(' ')
          .pop() ?? Number.NaN,
      );
    console.log(`insert ${table}: ${of('count')} statements, mean ${((of('sum') / of('count')) * 1000).toFixed(2)} ms`);
  }
}
await Promise.all(nodes.map((node) => node.close()));
