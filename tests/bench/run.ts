import { parseArgs } from 'node:util';
import { collectEnvironment } from './lib/environment.js';
import { createHttp } from './lib/http.js';
import { createRng } from './lib/prng.js';
import { buildReport, writeReport } from './lib/report.js';
import { type BenchContext, PROFILES, type ScenarioResult } from './lib/scenario.js';
import {
  type ApiNode,
  BENCH_KEYSPACE,
  benchConfig,
  connectCassandra,
  connectRedis,
  ensureServices,
  flushBenchKeys,
  REPO,
  resetKeyspace,
  startApiNode,
  UNREACHABLE_LIMITS,
} from './lib/stack.js';
import { createWorkload, type Workload } from './lib/workload.js';
import { PEER_ID } from './peers/compare.js';
import { writePeersReport } from './peers/report.js';
import { runCentrifugoFanout } from './peers/scenario.js';
import { runFanout } from './scenarios/fanout.js';
import { runGroups } from './scenarios/groups.js';
import { runGrowth } from './scenarios/growth.js';
import { runHistory } from './scenarios/history.js';
import { runIdle } from './scenarios/idle.js';
import { runLimiter } from './scenarios/limiter.js';
import { runRawInsert } from './scenarios/raw-insert.js';
import { runSend } from './scenarios/send.js';

/**
 * `npm run bench [-- --quick | --scale] [-- --only=send,history] [-- --profile] [-- --limits] [-- --peers]`
 *
 * `--scale` runs the scenarios that go as far as this machine reaches (idle connections to
 * 100,000, groups to 10,000 members, the store to 10^7 messages) and writes results/scale-latest.*.
 *
 * Rate limits are off on the bench's API nodes (RATE_LIMIT_ENABLED=false: every user comes from
 * 127.0.0.1). `--limits` turns them on with quotas no run reaches (UNREACHABLE_LIMITS), so every
 * scenario pays the limiter without being refused; `--only=limiter` measures that cost on sends,
 * a node with limits against one without, in the same run.
 *
 * `--peers` adds the fan-out scenario against Centrifugo (peers/, built with Go on first use) and
 * its comparison with Switchboard's; `--only=fanout --peers` runs just the two.
 *
 * Starts what it needs (services via docker/native/stack.sh, a fresh bench keyspace, API nodes as
 * child processes on loopback), runs the seeded scenarios in a fixed order, writes the JSON and
 * Markdown reports to tests/bench/results/, and stops every process it started.
 */
const SCENARIOS: Array<{
  id: string;
  run: (ctx: BenchContext, workload: () => Promise<Workload>) => Promise<ScenarioResult>;
}> = [
  { id: 'send', run: async (ctx, workload) => runSend(ctx, await workload()) },
  { id: 'rawInsert', run: async (ctx, workload) => runRawInsert(ctx, await workload()) },
  { id: 'history', run: async (ctx, workload) => runHistory(ctx, await workload()) },
  { id: 'fanout', run: (ctx) => runFanout(ctx) },
  { id: 'idle', run: (ctx) => runIdle(ctx) },
  { id: 'growth', run: (ctx) => runGrowth(ctx) },
  // Only with --scale (or named in --only): group sizes up to 10,000 members.
  { id: 'groups', run: (ctx) => runGroups(ctx) },
  // Not part of the published run's numbers: the rate limiter's cost on sends (on vs. off).
  { id: 'limiter', run: async (ctx, workload) => runLimiter(ctx, await workload()) },
  // Only with --peers: the fan-out scenario against Centrifugo, beside Switchboard's in the report.
  { id: PEER_ID, run: (ctx) => runCentrifugoFanout(ctx) },
];

/** What `--scale` runs. */
const SCALE_SCENARIOS = ['idle', 'groups', 'growth'];

const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);

async function main() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
      limits: { type: 'boolean', default: false },
      peers: { type: 'boolean', default: false },
      scale: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      `usage: npm run bench [-- --quick | --scale] [-- --only=${SCENARIOS.map((s) => s.id).join(',')}] [-- --profile] [-- --limits] [-- --peers]\n`,
    );
    return 0;
  }
  if (values.quick && values.scale) throw new Error('--quick and --scale are two different runs: pick one');
  const profile = PROFILES[values.scale ? 'scale' : values.quick ? 'quick' : 'full'];
  const only = values.only?.split(',').map((id) => id.trim());
  const unknown = only?.filter((id) => !SCENARIOS.some((s) => s.id === id)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(', ')}`);
  // The limiter comparison runs only when asked for: it is not one of the published scenarios.
  // The peer only when asked for (--peers, or named in --only): it needs Go and a first build.
  // The groups scenario runs with --scale (where it is one of three) or when named.
  const selected = SCENARIOS.filter((s) =>
    s.id === PEER_ID
      ? values.peers || only?.includes(s.id)
      : only
        ? only.includes(s.id)
        : values.scale
          ? SCALE_SCENARIOS.includes(s.id)
          : s.id !== 'limiter' && s.id !== 'groups',
  );
  const profileDir = values.profile ? `${REPO}tests/bench/results/tmp/profiles` : undefined;
  const startedAt = new Date();
  log(
    `${profile.name} run: ${selected.map((s) => s.id).join(', ')} (seed ${profile.seed}), rate limits ${values.limits ? 'on (unreachable quotas)' : 'off'}`,
  );

  ensureServices();
  await resetKeyspace(BENCH_KEYSPACE);
  const client = await connectCassandra(BENCH_KEYSPACE);
  const redis = connectRedis();
  await flushBenchKeys(redis);
  const environment = await collectEnvironment(client, redis);
  log(
    `${environment.cpuModel} × ${environment.cores}, Node ${environment.node}, Cassandra ${environment.cassandra}, Redis ${environment.redis}, load ${environment.loadAverageAtStart}`,
  );

  const nodes: ApiNode[] = [];
  const limitsEnv = values.limits ? UNREACHABLE_LIMITS : {};
  const startNode = async (name: string, keyspace = BENCH_KEYSPACE, env: Record<string, string> = {}) => {
    const node = await startApiNode(name, keyspace, { profileDir, env: { ...limitsEnv, ...env } });
    nodes.push(node);
    return node;
  };
  const stopAll = () => Promise.all(nodes.map((node) => node.stop()));
  const onSignal = () => void stopAll().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: ScenarioResult[] = [];
  const api = await startNode('a');
  const http = createHttp(api.url, profile.concurrency);
  try {
    const ctx: BenchContext = {
      profile,
      client,
      redis,
      api,
      http,
      bucketMs: benchConfig(BENCH_KEYSPACE).messages.bucketMs,
      startNode,
      limits: values.limits,
      peers: values.peers,
      log,
    };
    let workload: Promise<Workload> | undefined;
    const sharedWorkload = () => {
      workload ??= createWorkload(ctx, profile.workload, createRng(profile.seed));
      return workload;
    };
    for (const scenario of selected) {
      log(`— ${scenario.id}`);
      const began = performance.now();
      let result: ScenarioResult;
      try {
        result = await scenario.run(ctx, sharedWorkload);
      } catch (error) {
        const reason = (error as Error).stack ?? String(error);
        result = {
          id: scenario.id,
          title: scenario.id,
          status: 'failed',
          reason,
          seconds: 0,
          measurements: [],
          metrics: {},
          notes: [],
        };
      }
      result.seconds ||= Math.round((performance.now() - began) / 100) / 10;
      if (result.status !== 'ok') log(`${scenario.id} ${result.status}: ${result.reason}`);
      results.push(result);
    }
  } finally {
    await http.close();
    await stopAll();
    await client.shutdown();
    redis.disconnect();
  }

  const report = buildReport({ profile, environment, startedAt, scenarios: results });
  // A run with limits on is a comparison, never the published numbers.
  const complete = profile.name !== 'quick' && !only && !values.limits;
  for (const path of writeReport(report, `${REPO}tests/bench/results`, complete))
    log(`wrote ${path.replace(REPO, '')}`);
  for (const path of writePeersReport(report, `${REPO}tests/bench/results`)) log(`wrote ${path.replace(REPO, '')}`);
  for (const row of report.peers?.missing ? [] : (report.peers?.rows ?? [])) {
    log(
      `peers ${row.what}: Switchboard ${row.switchboard ?? '—'} vs ${row.peer ?? '—'} ${row.unit} (× ${row.ratio ?? '—'}, ${row.better} is better)`,
    );
  }
  if (report.peers?.missing) log(`peers: no comparison: ${report.peers.missing}`);
  log(`ratios ${JSON.stringify(report.ratios)}`);
  for (const target of report.targets) {
    const verdict = target.holds === null ? 'not measured' : target.holds ? 'holds' : 'MISSES';
    log(
      `${verdict.padEnd(12)} ${target.target}: ${target.measured ?? '—'} ${target.measured === null ? '' : target.unit} ${target.note}`,
    );
  }
  if (profileDir) log(`CPU profiles of the API nodes: ${profileDir.replace(REPO, '')}`);
  log(`finished in ${report.durationSeconds} s`);
  return results.some((r) => r.status === 'failed') ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
