import { createHttp } from '../lib/http.js';
import { closedLoop } from '../lib/load.js';
import { createRng } from '../lib/prng.js';
import { type BenchContext, type Measurement, measure, type ScenarioResult } from '../lib/scenario.js';
import { UNREACHABLE_LIMITS } from '../lib/stack.js';
import { round } from '../lib/stats.js';
import { type SendSpec, sendPlan, type Workload } from '../lib/workload.js';

/**
 * limiter (`npm run bench -- --only=limiter`): what the rate limiter costs a send. Two API nodes
 * on the same keyspace, Redis and machine, one with RATE_LIMIT_ENABLED=false and one with every
 * limit on at quotas no run reaches (UNREACHABLE_LIMITS: four Redis counters per send — address,
 * user, burst, sustained — and never a 429). They take turns (A B B A …) at the send
 * scenario's closed loop, so drift in the shared machine's load hits both alike; the result is
 * the median throughput of each and their ratio.
 */
export async function runLimiter(ctx: BenchContext, workload: Workload): Promise<ScenarioResult> {
  const started = performance.now();
  const { concurrency } = ctx.profile;
  const rounds = ctx.profile.name === 'full' ? 10 : 8;
  const perRound = ctx.profile.name === 'full' ? 4000 : 1500;
  const warmupSends = ctx.profile.name === 'full' ? 4000 : 1500;
  const rng = createRng(ctx.profile.seed + 7);

  const off = await ctx.startNode('limits-off', undefined, { RATE_LIMIT_ENABLED: 'false' });
  const on = await ctx.startNode('limits-on', undefined, UNREACHABLE_LIMITS);
  const nodes = [
    { label: 'limits off', node: off, http: createHttp(off.url, concurrency), runs: [] as Measurement[] },
    { label: 'limits on', node: on, http: createHttp(on.url, concurrency), runs: [] as Measurement[] },
  ] as const;
  try {
    for (const { http } of nodes) {
      const warmup = sendPlan(workload, warmupSends, rng, 'limiter-warmup');
      await closedLoop({
        total: warmup.length,
        concurrency,
        task: async (i) => {
          const spec = warmup[i] as SendSpec;
          await http.request('POST', '/api/v1/messages', { token: spec.sender.token, body: spec.body });
        },
      });
    }
    await expectLimiter(on.url, workload, true);
    await expectLimiter(off.url, workload, false);
    for (let round_ = 0; round_ < rounds; round_++) {
      // A B B A: each side goes first as often as second.
      const order = round_ % 2 === 0 ? nodes : [nodes[1], nodes[0]];
      for (const side of order) {
        const plan = sendPlan(workload, perRound, rng, `limiter-${round_}`);
        const run = await measure(
          `${side.label}, round ${round_ + 1} (closed loop, ${concurrency} in flight)`,
          [side.node.pid],
          { concurrency },
          () =>
            closedLoop({
              total: plan.length,
              concurrency,
              task: async (i) => {
                const spec = plan[i] as SendSpec;
                await side.http.request('POST', '/api/v1/messages', { token: spec.sender.token, body: spec.body });
              },
            }),
        );
        side.runs.push(run);
        ctx.log(`limiter: ${run.label}: ${run.throughput}/s, p99 ${run.latencyMs.p99} ms, errors ${run.errors}`);
      }
    }
  } finally {
    for (const { http } of nodes) await http.close();
    await Promise.all([off.stop(), on.stop()]);
  }

  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  };
  const [offSide, onSide] = nodes;
  const offRate = round(median(offSide.runs.map((run) => run.throughput)), 1);
  const onRate = round(median(onSide.runs.map((run) => run.throughput)), 1);
  // The machine is shared, so its load drifts between rounds: compare each round's pair.
  const pairRatios = onSide.runs.map((run, i) => run.throughput / (offSide.runs[i]?.throughput ?? Number.NaN));
  const pairedRatio = round(median(pairRatios), 3);
  // API CPU per send: what the limiter adds to each request, less sensitive than throughput to a
  // busy machine (where Cassandra, not the API process, sets the pace).
  const cpuMsPerSend = (run: Measurement) => ((run.api[0]?.cpuSeconds ?? Number.NaN) * 1000) / run.requests;
  const offCpu = round(median(offSide.runs.map(cpuMsPerSend)), 3);
  const onCpu = round(median(onSide.runs.map(cpuMsPerSend)), 3);
  const offP99 = round(median(offSide.runs.map((run) => run.latencyMs.p99)), 1);
  const onP99 = round(median(onSide.runs.map((run) => run.latencyMs.p99)), 1);
  ctx.log(`limiter: median API CPU per send off ${offCpu} ms, on ${onCpu} ms`);
  ctx.log(
    `limiter: median sends/s off ${offRate}, on ${onRate}; median of per-round on/off ratios ${pairedRatio} (rounds: ${pairRatios.map((r) => round(r, 2)).join(', ')})`,
  );
  return {
    id: 'limiter',
    title: 'Rate limiter cost on sends (limits on at unreachable quotas vs. off)',
    status: 'ok',
    seconds: round((performance.now() - started) / 1000, 1),
    measurements: [...offSide.runs, ...onSide.runs],
    metrics: {
      sendsPerSecondLimitsOff: offRate,
      sendsPerSecondLimitsOn: onRate,
      onToOff: round(onRate / offRate, 3),
      pairedOnToOff: pairedRatio,
      apiCpuMsPerSendLimitsOff: offCpu,
      apiCpuMsPerSendLimitsOn: onCpu,
      p99MsLimitsOff: offP99,
      p99MsLimitsOn: onP99,
    },
    notes: [
      `${warmupSends} warm-up sends per node, then ${rounds} rounds of ${perRound} sends per node, alternating A B B A; medians of the rounds, and the median of each round's on/off ratio`,
      'limits on: every quota at its configurable maximum, so each send runs four Redis counters and is never refused',
    ],
  };
}

/** Checks that a node does (or does not) run the limiter: its send responses carry RateLimit-Policy. */
async function expectLimiter(baseUrl: string, workload: Workload, on: boolean) {
  const [spec] = sendPlan(workload, 1, createRng(1), 'limiter-probe');
  if (!spec) throw new Error('no workload to probe with');
  const response = await fetch(`${baseUrl}/api/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${spec.sender.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(spec.body),
  });
  await response.text();
  const policy = response.headers.get('ratelimit-policy');
  if (response.status !== 201 || (policy !== null) !== on) {
    throw new Error(`limiter probe on ${baseUrl}: status ${response.status}, RateLimit-Policy ${policy ?? 'absent'}`);
  }
}
