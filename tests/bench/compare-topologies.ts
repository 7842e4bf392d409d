import { readFileSync, writeFileSync } from 'node:fs';

/**
 * The send, raw-insert and history benchmarks on the single node beside the same on the 3-node
 * RF 3 ring, with their ratios (issue 14, "measured capacity on the cluster"). Reads two bench
 * reports (JSON, `npm run bench -- --only=send,rawInsert,history`, one per topology) and writes
 * one Markdown table:
 *
 *   node --import tsx tests/bench/compare-topologies.ts single.json ring.json out.md
 *
 * tests/bench/README.md ("Single node and ring") gives the commands that make the two reports.
 */

interface Measurement {
  label: string;
  throughput: number;
  latencyMs: { p50: number; p99: number };
  cassandra: { cpuPercent: number } | null;
  api: { cpuPercent: number }[] | null;
}
interface Scenario {
  id: string;
  status: string;
  metrics: Record<string, number | string | null>;
  measurements: Measurement[];
}
interface Report {
  startedAt: string;
  environment: { gitCommit: string; cassandra: string; loadAverageAtStart: number };
  scenarios: Scenario[];
}

const [singlePath, ringPath, outPath] = process.argv.slice(2);
if (!singlePath || !ringPath || !outPath) {
  process.stderr.write('usage: compare-topologies.ts single.json ring.json out.md\n');
  process.exit(2);
}
const single = JSON.parse(readFileSync(singlePath, 'utf8')) as Report;
const ring = JSON.parse(readFileSync(ringPath, 'utf8')) as Report;

const scenario = (report: Report, id: string) => report.scenarios.find((s) => s.id === id && s.status === 'ok');
const metric = (report: Report, id: string, key: string) => {
  const value = scenario(report, id)?.metrics[key];
  return typeof value === 'number' ? value : undefined;
};
/** A measurement's figure, by its label's start (labels name the load, e.g. "max rate"). */
const figure = (report: Report, id: string, label: string, pick: (m: Measurement) => number | undefined) => {
  const found = scenario(report, id)?.measurements.find((m) => m.label.startsWith(label));
  return found ? pick(found) : undefined;
};
const show = (value: number | undefined, unit = '') => (value === undefined ? '—' : `${value}${unit}`);
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || a === 0 ? '—' : `${Math.round((b / a) * 100) / 100}×`;

const rows: [string, number | undefined, number | undefined, string][] = [
  [
    'send: max sends/s (32 in flight)',
    metric(single, 'send', 'maxThroughput'),
    metric(ring, 'send', 'maxThroughput'),
    '/s',
  ],
  [
    'send: p99 at half that rate',
    metric(single, 'send', 'p99AtHalfRateMs'),
    metric(ring, 'send', 'p99AtHalfRateMs'),
    ' ms',
  ],
  [
    'send: Cassandra CPU at max rate (all nodes)',
    figure(single, 'send', 'max rate', (m) => m.cassandra?.cpuPercent),
    figure(ring, 'send', 'max rate', (m) => m.cassandra?.cpuPercent),
    ' %',
  ],
  [
    'send with clientMessageId: max sends/s',
    figure(single, 'send', 'max rate with clientMessageId', (m) => m.throughput),
    figure(ring, 'send', 'max rate with clientMessageId', (m) => m.throughput),
    '/s',
  ],
  [
    'send with clientMessageId: cost ÷ a plain send',
    metric(single, 'send', 'keyedCostRatio'),
    metric(ring, 'send', 'keyedCostRatio'),
    '×',
  ],
  [
    'raw insert: rows/s (32 in flight)',
    metric(single, 'rawInsert', 'maxThroughput'),
    metric(ring, 'rawInsert', 'maxThroughput'),
    '/s',
  ],
  [
    'history warm first page: reads/s',
    metric(single, 'history', 'warmThroughput'),
    metric(ring, 'history', 'warmThroughput'),
    '/s',
  ],
  [
    'history cold deep page: reads/s',
    metric(single, 'history', 'coldThroughput'),
    metric(ring, 'history', 'coldThroughput'),
    '/s',
  ],
  [
    'history cold: p99 at half its rate',
    metric(single, 'history', 'coldP99AtHalfRateMs'),
    metric(ring, 'history', 'coldP99AtHalfRateMs'),
    ' ms',
  ],
];

const lines = [
  '# Single node and 3-node ring, same benchmarks',
  '',
  `Single node: ${single.startedAt} (commit \`${single.environment.gitCommit.slice(0, 12)}\`, load ${single.environment.loadAverageAtStart} at start). Ring: ${ring.startedAt} (commit \`${ring.environment.gitCommit.slice(0, 12)}\`, load ${ring.environment.loadAverageAtStart}). Both LOCAL_QUORUM; the ring is RF 3 (NetworkTopologyStrategy), so every write goes to three replicas and every read asks two. All of it on one 2-core machine: the ring's three JVMs share the cores the single node had alone, so the ratio is what RF 3 costs on the same hardware, not what three machines would give.`,
  '',
  '| Benchmark | Single node | Ring (3 nodes, RF 3) | Ring ÷ single |',
  '| --- | --- | --- | --- |',
  ...rows.map(([name, a, b, unit]) => `| ${name} | ${show(a, unit)} | ${show(b, unit)} | ${ratio(a, b)} |`),
  '',
];
writeFileSync(outPath, lines.join('\n'));
process.stdout.write(lines.join('\n'));
