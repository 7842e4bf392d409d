import cassandra from 'cassandra-driver';
import { bucketForMessage } from '../../../src/domain/buckets.js';
import { newId } from '../../../src/domain/ids.js';
import { closedLoop } from '../lib/load.js';
import { createRng } from '../lib/prng.js';
import { type BenchContext, measure, type ScenarioResult } from '../lib/scenario.js';
import { INSERT_MESSAGE } from '../lib/seed.js';
import { BENCH_KEYSPACE, benchConfig } from '../lib/stack.js';
import { round } from '../lib/stats.js';
import { type SendSpec, sendPlan, type Workload } from '../lib/workload.js';

/**
 * raw insert: the same number of message rows as the send scenario, written with the driver
 * straight into the same messages table: same statement (prepared), same client settings and
 * consistency as the API, same concurrency. The physical ceiling of the send path.
 */
export async function runRawInsert(ctx: BenchContext, workload: Workload): Promise<ScenarioResult> {
  const started = performance.now();
  const { concurrency, send } = ctx.profile;
  const rng = createRng(ctx.profile.seed + 1);
  // The configured consistency (CASSANDRA_CONSISTENCY, LOCAL_QUORUM by default) by its driver name.
  const consistencyName = benchConfig(BENCH_KEYSPACE).cassandra.consistency;
  const consistency = driverConsistency(consistencyName);
  const insert = (spec: SendSpec) => {
    const id = newId();
    const bucket = bucketForMessage(id, ctx.bucketMs);
    return ctx.client
      .execute(
        INSERT_MESSAGE,
        [
          spec.conversation.id,
          new Date(bucket.start),
          id,
          spec.sender.id,
          spec.receiverId ?? cassandra.types.unset,
          spec.groupId ?? cassandra.types.unset,
          spec.body.content,
          cassandra.types.unset,
        ],
        { prepare: true, isIdempotent: true, consistency },
      )
      .then(() => {});
  };

  const warmup = sendPlan(workload, send.warmup, rng, 'warmup');
  await closedLoop({ total: warmup.length, concurrency, task: (i) => insert(warmup[i] as SendSpec) });
  const plan = sendPlan(workload, send.requests, rng);
  const result = await measure(`driver INSERT (closed loop, ${concurrency} in flight)`, [], { concurrency }, () =>
    closedLoop({ total: plan.length, concurrency, task: (i) => insert(plan[i] as SendSpec) }),
  );
  ctx.log(`raw insert: ${result.throughput}/s at concurrency ${concurrency}, p99 ${result.latencyMs.p99} ms`);

  return {
    id: 'rawInsert',
    title: 'Raw insert (cassandra-driver, same table)',
    status: 'ok',
    seconds: round((performance.now() - started) / 1000, 1),
    measurements: [result],
    metrics: { maxThroughput: result.throughput, consistency: consistencyName },
    notes: ['runs in the bench process: no API process involved; the same rows, statement and driver settings'],
  };
}

/** `LOCAL_QUORUM` → cassandra.types.consistencies.localQuorum. */
function driverConsistency(name: string): number {
  const key = name.toLowerCase().replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
  const value = cassandra.types.consistencies[key as keyof typeof cassandra.types.consistencies];
  if (value === undefined) throw new Error(`unknown consistency ${name}`);
  return value;
}
