import { createKeys } from '../../../src/cache/keys.js';
import { closedLoop, forEachConcurrent, openLoop } from '../lib/load.js';
import { createRng } from '../lib/prng.js';
import { type BenchContext, measure, type ScenarioResult } from '../lib/scenario.js';
import {
  bulkLoadMessages,
  createGroups,
  directConversation,
  type SeedConversation,
  type SeedUser,
} from '../lib/seed.js';
import { BENCH_REDIS_PREFIX, countKeys } from '../lib/stack.js';
import { round } from '../lib/stats.js';
import { sample, type Workload } from '../lib/workload.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * history: conversations with a bulk-loaded past. Warm reads ask for the first page (served from
 * the Redis recent-messages window once it is filled); cold reads ask for deep pages with a
 * `before` cursor, which only Cassandra can answer.
 */
export async function runHistory(ctx: BenchContext, workload: Workload): Promise<ScenarioResult> {
  const started = performance.now();
  const { concurrency, history, pageLimit } = ctx.profile;
  const rng = createRng(ctx.profile.seed + 2);
  const users = workload.users;

  // Conversations of their own, so send's traffic does not change their history.
  const groupCount = Math.floor(history.conversations * 0.4);
  const direct = Array.from({ length: history.conversations - groupCount }, (_, i) =>
    directConversation(users[(2 * i) % users.length] as SeedUser, users[(2 * i + 3) % users.length] as SeedUser),
  );
  const groups = await createGroups(
    ctx.http,
    Array.from({ length: groupCount }, () => sample(users, 8, rng)),
  );
  const conversations: SeedConversation[] = [...direct, ...groups];
  const loaded = await bulkLoadMessages(ctx.client, conversations, history.perConversation, {
    spanMs: 40 * DAY_MS,
    endMs: Date.now() - 60_000,
    bucketMs: ctx.bucketMs,
    keepIds: true,
  });
  ctx.log(
    `history: loaded ${loaded.rows} messages into ${conversations.length} conversations in ${round(loaded.seconds, 1)} s`,
  );

  const reader = (conversation: SeedConversation) =>
    workload.userById.get(rng.pick(conversation.memberIds)) as SeedUser;
  const read = async (user: SeedUser, query: string) => {
    const page = await ctx.http.request<{ messages: unknown[] }>('GET', `/api/v1/messages?${query}`, {
      token: user.token,
    });
    if (page.messages.length !== pageLimit) throw new Error(`short page: ${page.messages.length}`);
  };
  const firstPage = (conversation: SeedConversation) => `conversationId=${conversation.id}&limit=${pageLimit}`;

  // One pass over every first page fills the cache (when there is one) before measuring.
  await forEachConcurrent(conversations, 8, (conversation) => read(reader(conversation), firstPage(conversation)));
  const recentCacheKeys = await countKeys(ctx.redis, createKeys(BENCH_REDIS_PREFIX).recentMessages('*'));

  const deepest = history.perConversation - pageLimit - 1;
  const warmRequest = () => {
    const conversation = rng.pick(conversations);
    return { user: reader(conversation), query: firstPage(conversation) };
  };
  const coldRequest = () => {
    const conversation = rng.pick(conversations);
    const ids = loaded.ids.get(conversation.id) as string[];
    const cursor = ids[100 + rng.int(deepest - 100)] as string;
    return { user: reader(conversation), query: `${firstPage(conversation)}&before=${cursor}` };
  };

  /** The highest rate at the fixed concurrency, then latency at half that rate (as for send). */
  const maxThenHalf = async (label: string, next: () => { user: SeedUser; query: string }) => {
    const plan = Array.from({ length: history.requests }, next);
    const task = (list: typeof plan) => (i: number) => {
      const request = list[i] as (typeof plan)[number];
      return read(request.user, request.query);
    };
    const max = await measure(`${label}: max rate (closed loop)`, [ctx.api.pid], { concurrency }, () =>
      closedLoop({ total: plan.length, concurrency, task: task(plan) }),
    );
    const rate = Math.max(1, Math.round(max.throughput / 2));
    const halfPlan = Array.from({ length: Math.ceil(rate * history.halfRateSeconds) }, next);
    const half = await measure(`${label}: half of max rate (open loop)`, [ctx.api.pid], { rate }, () =>
      openLoop({
        rate,
        durationMs: history.halfRateSeconds * 1000,
        maxInFlight: concurrency * 4,
        task: task(halfPlan),
      }),
    );
    ctx.log(`history ${label}: ${max.throughput}/s max; p99 ${half.latencyMs.p99} ms at ${rate}/s`);
    return [max, half] as const;
  };
  const [warm, warmHalf] = await maxThenHalf(`warm first page, limit ${pageLimit}`, warmRequest);
  const [cold, coldHalf] = await maxThenHalf(`cold deep page (before=), limit ${pageLimit}`, coldRequest);

  return {
    id: 'history',
    title: 'History: warm first page vs cold deep page',
    status: 'ok',
    seconds: round((performance.now() - started) / 1000, 1),
    measurements: [warm, warmHalf, cold, coldHalf],
    metrics: {
      warmThroughput: warm.throughput,
      coldThroughput: cold.throughput,
      warmP99AtHalfRateMs: warmHalf.latencyMs.p99,
      coldP99AtHalfRateMs: coldHalf.latencyMs.p99,
      recentCacheKeys,
      warmServedFrom: recentCacheKeys > 0 ? 'redis' : 'cassandra (no recent-messages cache in Redis)',
    },
    notes: [
      `${conversations.length} conversations (${direct.length} one-to-one, ${groups.length} groups of 8) × ${history.perConversation} messages over 40 days (${round(loaded.rowsPerSecond, 0)} rows/s bulk load)`,
      `deep pages start 100 to ${deepest} messages back; "cold" means answered by Cassandra, whose own caches are warm`,
    ],
  };
}
