import { setTimeout as sleep } from 'node:timers/promises';
import { newId } from '../../../src/domain/ids.js';
import type { CassandraClient } from '../../../src/store/client.js';
import { createHttp } from '../lib/http.js';
import { closedLoop } from '../lib/load.js';
import { createRng } from '../lib/prng.js';
import { type BenchContext, type Measurement, measure, type ScenarioResult } from '../lib/scenario.js';
import {
  bulkLoadMessages,
  directConversation,
  messageContent,
  type SeedConversation,
  type SeedUser,
  seedUsers,
} from '../lib/seed.js';
import { connectCassandra, dropKeyspace, GROWTH_KEYSPACE, resetKeyspace } from '../lib/stack.js';
import { ratio, round } from '../lib/stats.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Filler conversations hold this many messages each: the store grows by adding conversations. */
const FILLER_PER_CONVERSATION = 100;
/** The longest wait for compactions after loading a level (10^7 rows leave more to compact). */
const COMPACTION_WAIT_SECONDS = { full: 180, quick: 20, scale: 600 } as const;

/**
 * growth: a keyspace of its own, filled to each level (10^4, 10^5, 10^6 messages; 10^3 and 10^4
 * in quick mode) with the driver. At each level: history deep-page latency and send latency on a
 * few fixed "probe" conversations. History must stay flat as the store grows.
 */
export async function runGrowth(ctx: BenchContext): Promise<ScenarioResult> {
  const started = performance.now();
  const { growth, pageLimit } = ctx.profile;
  const rng = createRng(ctx.profile.seed + 4);
  await resetKeyspace(GROWTH_KEYSPACE);
  const client = await connectCassandra(GROWTH_KEYSPACE);
  const node = await ctx.startNode('growth', GROWTH_KEYSPACE);
  const http = createHttp(node.url, growth.concurrency);
  try {
    const users = await seedUsers(client, growth.probes * 2, 'g');
    const probes = Array.from({ length: growth.probes }, (_, i) =>
      directConversation(users[2 * i] as SeedUser, users[2 * i + 1] as SeedUser),
    );
    const userById = new Map(users.map((user) => [user.id, user]));
    const span = { spanMs: 60 * DAY_MS, endMs: Date.now() - 60_000, bucketMs: ctx.bucketMs };
    const probeLoad = await bulkLoadMessages(client, probes, growth.perProbe, { ...span, keepIds: true });
    let stored = probeLoad.rows;

    const readPlan = (count: number) =>
      Array.from({ length: count }, () => {
        const probe = rng.pick(probes);
        const ids = probeLoad.ids.get(probe.id) as string[];
        const cursor = ids[100 + rng.int(growth.perProbe - pageLimit - 101)] as string;
        const reader = userById.get(rng.pick(probe.memberIds)) as SeedUser;
        return { reader, query: `conversationId=${probe.id}&limit=${pageLimit}&before=${cursor}` };
      });
    const sendPlan = (count: number, tag: string) =>
      Array.from({ length: count }, (_, i) => {
        const probe = rng.pick(probes);
        const sender = userById.get(rng.pick(probe.memberIds)) as SeedUser;
        const receiverId = probe.memberIds.find((id) => id !== sender.id) as string;
        return { sender, body: { receiverId, content: messageContent(`${tag} ${i}`) } };
      });
    const runReads = (plan: ReturnType<typeof readPlan>) =>
      closedLoop({
        total: plan.length,
        concurrency: growth.concurrency,
        task: async (i) => {
          const read = plan[i] as (typeof plan)[number];
          await http.request('GET', `/api/v1/messages?${read.query}`, { token: read.reader.token });
        },
      });
    const runSends = (plan: ReturnType<typeof sendPlan>) =>
      closedLoop({
        total: plan.length,
        concurrency: growth.concurrency,
        task: async (i) => {
          const spec = plan[i] as (typeof plan)[number];
          await http.request('POST', '/api/v1/messages', { token: spec.sender.token, body: spec.body });
        },
      });

    // Warm the fresh node (JIT, pools, prepared statements) so the first level is not penalized.
    await runReads(readPlan(200));
    const warmSends = await runSends(sendPlan(200, 'warmup'));
    stored += warmSends.latenciesMs.length;

    const measurements: Measurement[] = [];
    const metrics: ScenarioResult['metrics'] = {};
    const notes: string[] = [];
    const historyP99: number[] = [];
    for (const level of growth.levels) {
      const fillerConversations = Math.max(0, Math.ceil((level - stored) / FILLER_PER_CONVERSATION));
      // A filler's messages span half a bucket, so they load as one or two full batches.
      const fillerSpan = { ...span, spanMs: Math.min(span.spanMs, ctx.bucketMs / 2) };
      const load = await bulkLoadMessages(client, fillers(fillerConversations), FILLER_PER_CONVERSATION, fillerSpan);
      stored += load.rows;
      const compactionWait = await waitForCompactions(client, COMPACTION_WAIT_SECONDS[ctx.profile.name]);
      const label = levelLabel(level);
      ctx.log(
        `growth: ${stored} stored (+${load.rows} in ${round(load.seconds, 1)} s, ${round(load.rowsPerSecond, 0)} rows/s; compactions ${compactionWait} s)`,
      );
      notes.push(
        `${label}: ${stored} stored; loaded ${load.rows} rows in ${round(load.seconds, 1)} s (${round(load.rowsPerSecond, 0)} rows/s), then waited ${compactionWait} s for compactions`,
      );
      const shape = { concurrency: growth.concurrency };
      const history = await measure(`${label}: history deep page`, [node.pid], shape, () =>
        runReads(readPlan(growth.requests)),
      );
      const send = await measure(`${label}: send`, [node.pid], shape, () =>
        runSends(sendPlan(growth.requests, `growth ${level}`)),
      );
      stored += send.requests - send.errors;
      measurements.push(history, send);
      historyP99.push(history.latencyMs.p99);
      metrics[`historyP99Ms_${label}`] = history.latencyMs.p99;
      metrics[`sendP99Ms_${label}`] = send.latencyMs.p99;
      metrics[`loadSeconds_${label}`] = round(load.seconds, 1);
      ctx.log(`growth ${label}: history p99 ${history.latencyMs.p99} ms, send p99 ${send.latencyMs.p99} ms`);
    }
    metrics.historyP99LargestToSmallest = ratio(historyP99[historyP99.length - 1], historyP99[0]);
    metrics.storedMessages = stored;
    return {
      id: 'growth',
      title: 'Growth: latency as the store grows',
      status: 'ok',
      seconds: round((performance.now() - started) / 1000, 1),
      measurements,
      metrics,
      notes: [
        `${growth.probes} probe conversations × ${growth.perProbe} messages over 60 days; filler conversations of ${FILLER_PER_CONVERSATION} messages; reads and sends at concurrency ${growth.concurrency}`,
        ...notes,
      ],
    };
  } finally {
    await http.close();
    await node.stop();
    await client.shutdown();
    await dropKeyspace(GROWTH_KEYSPACE);
  }
}

/** Conversations nobody reads: only their size matters. */
function fillers(count: number): SeedConversation[] {
  return Array.from({ length: count }, () => {
    const a = newId();
    const b = newId();
    return directConversation({ id: a, token: '' }, { id: b, token: '' });
  });
}

export const levelLabel = (level: number) => `1e${Math.round(Math.log10(level))}`;

/**
 * Waits until Cassandra runs no compaction on the growth keyspace (system_views.sstable_tasks),
 * so a level's latency is not measured against a compaction it just triggered. Returns seconds.
 */
async function waitForCompactions(client: CassandraClient, maxSeconds: number): Promise<number> {
  const started = performance.now();
  let quietPolls = 0;
  while (quietPolls < 2 && performance.now() - started < maxSeconds * 1000) {
    const tasks = await client.execute('SELECT keyspace_name FROM system_views.sstable_tasks');
    quietPolls = tasks.rows.some((row) => row.keyspace_name === GROWTH_KEYSPACE) ? 0 : quietPolls + 1;
    await sleep(1000);
  }
  return round((performance.now() - started) / 1000, 1);
}
