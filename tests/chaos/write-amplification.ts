import { apiClient, registerUser } from '../support/api.js';
import { metricTotal } from '../support/server.js';
import { readTopology } from './support/topology.js';

/**
 * `node --import tsx tests/chaos/write-amplification.ts [sends]`: against the running cluster
 * topology, how many Cassandra write statements each send costs (from the API nodes' own
 * switchboard_cassandra_request_duration_seconds counts, summed over the nodes, before and after
 * N sequential sends through the balancer), and so how many replica writes at RF 3. Statements
 * not caused by the sends (each node's sync position report, every SYNC_REPORT_INTERVAL_MS) are
 * in the window too; the run is short so they stay a small share, printed apart.
 */
const SENDS = Number(process.argv[2] ?? 300);
const WRITE = /^(insert|update|delete|batch)/;

async function writeCounts(metricsUrls: string[]) {
  const counts = new Map<string, number>();
  for (const url of metricsUrls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const match of text.matchAll(/^switchboard_cassandra_request_duration_seconds_count\{([^}]*)\} (\d+)$/gm)) {
      const statement = /statement="([^"]*)"/.exec(match[1] ?? '')?.[1] ?? '';
      if (WRITE.test(statement)) counts.set(statement, (counts.get(statement) ?? 0) + Number(match[2]));
    }
  }
  return counts;
}

async function main() {
  const topology = readTopology();
  const api = apiClient(topology.balancer);
  const [alice, bob] = [await registerUser(api, 'wamp'), await registerUser(api, 'wamp')];
  if (!alice || !bob) throw new Error('no users');
  const metricsUrls = topology.api.map((node) => node.metricsUrl);
  const sentBefore = await Promise.all(metricsUrls.map((url) => metricTotal(url, 'switchboard_messages_sent_total')));
  const before = await writeCounts(metricsUrls);
  const started = Date.now();
  for (let i = 0; i < SENDS; i++) {
    const sent = await api.post(
      '/api/v1/messages',
      { receiverId: bob.id, content: `wa ${i}`, clientMessageId: `wa-${started}-${i}` },
      alice.token,
    );
    if (sent.status !== 201) throw new Error(`send ${i} answered ${sent.status}`);
  }
  const seconds = (Date.now() - started) / 1000;
  const after = await writeCounts(metricsUrls);
  const sentAfter = await Promise.all(metricsUrls.map((url) => metricTotal(url, 'switchboard_messages_sent_total')));
  const sent = sentAfter.reduce((a, b) => a + b, 0) - sentBefore.reduce((a, b) => a + b, 0);
  let total = 0;
  const lines: string[] = [];
  for (const [statement, count] of after) {
    const delta = count - (before.get(statement) ?? 0);
    if (delta <= 0) continue;
    total += delta;
    lines.push(`  ${statement}: ${delta} (${(delta / SENDS).toFixed(2)} per send)`);
  }
  process.stdout.write(
    `${SENDS} sends in ${seconds.toFixed(1)} s (messages_sent_total +${sent}); Cassandra write statements in the window:\n${lines.sort().join('\n')}\n` +
      `total ${total}: ${(total / SENDS).toFixed(2)} write statements per send, × RF 3 = ${((3 * total) / SENDS).toFixed(1)} replica writes per send\n`,
  );
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
