import { closedLoop, openLoop } from '../lib/load.js';
import { createRng } from '../lib/prng.js';
import { type BenchContext, measure, type ScenarioResult } from '../lib/scenario.js';
import { round } from '../lib/stats.js';
import { type SendSpec, sendPlan, type Workload } from '../lib/workload.js';

/**
 * send: POST /api/v1/messages into many one-to-one and group conversations. First the highest
 * rate at a fixed concurrency (closed loop), then latency at half that rate (open loop), which is
 * where the p99 target applies.
 */
export async function runSend(ctx: BenchContext, workload: Workload): Promise<ScenarioResult> {
  const started = performance.now();
  const { concurrency, send } = ctx.profile;
  const rng = createRng(ctx.profile.seed + 1);
  const post = async (spec: SendSpec) => {
    await ctx.http.request('POST', '/api/v1/messages', { token: spec.sender.token, body: spec.body });
  };

  const warmup = sendPlan(workload, send.warmup, rng, 'warmup');
  await closedLoop({ total: warmup.length, concurrency, task: (i) => post(warmup[i] as SendSpec) });

  const plan = sendPlan(workload, send.requests, rng);
  const max = await measure(`max rate (closed loop, ${concurrency} in flight)`, [ctx.api.pid], { concurrency }, () =>
    closedLoop({ total: plan.length, concurrency, task: (i) => post(plan[i] as SendSpec) }),
  );
  ctx.log(`send: ${max.throughput}/s at concurrency ${concurrency}, p99 ${max.latencyMs.p99} ms`);

  // The same closed loop with an idempotency key on every send (#15: at most 1.5× a plain send):
  // each keyed send adds a claim and a flip to stored, lightweight transactions in Cassandra.
  const run = `${ctx.profile.seed}-${Date.now().toString(36)}`;
  const keyedPlan = sendPlan(workload, send.requests, rng, 'keyed').map((spec, i) => ({
    ...spec,
    body: { ...spec.body, clientMessageId: `bench-${run}-${i}` },
  }));
  const keyed = await measure(
    `max rate with clientMessageId (closed loop, ${concurrency} in flight)`,
    [ctx.api.pid],
    { concurrency },
    () => closedLoop({ total: keyedPlan.length, concurrency, task: (i) => post(keyedPlan[i] as SendSpec) }),
  );
  const keyedCost = round(max.throughput / Math.max(keyed.throughput, 1e-9), 2);
  ctx.log(`send: with clientMessageId ${keyed.throughput}/s (${keyedCost}× the cost of a plain send)`);

  const rate = Math.max(1, Math.round(max.throughput / 2));
  const halfPlan = sendPlan(workload, Math.ceil(rate * send.halfRateSeconds), rng, 'half');
  const half = await measure(`half of max rate (open loop, ${rate}/s)`, [ctx.api.pid], { rate }, () =>
    openLoop({
      rate,
      durationMs: send.halfRateSeconds * 1000,
      maxInFlight: concurrency * 4,
      task: (i) => post(halfPlan[i] as SendSpec),
    }),
  );
  ctx.log(`send: at ${rate}/s p50 ${half.latencyMs.p50} ms, p99 ${half.latencyMs.p99} ms`);

  return {
    id: 'send',
    title: 'Send (POST /api/v1/messages)',
    status: 'ok',
    seconds: round((performance.now() - started) / 1000, 1),
    measurements: [max, keyed, half],
    metrics: {
      conversations: workload.direct.length + workload.groups.length,
      maxThroughput: max.throughput,
      keyedMaxThroughput: keyed.throughput,
      keyedCostRatio: keyedCost,
      halfRate: rate,
      p99AtHalfRateMs: half.latencyMs.p99,
    },
    notes: [
      `${workload.direct.length} one-to-one and ${workload.groups.length} group conversations, half the sends each; ${send.warmup} warm-up sends not counted`,
      `with clientMessageId: ${keyed.throughput}/s, so a keyed send costs ${keyedCost}× a plain one in throughput (target ≤ 1.5×)`,
    ],
  };
}
