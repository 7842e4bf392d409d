import { setTimeout as sleep } from 'node:timers/promises';
import { createHttp } from '../lib/http.js';
import { closedLoop, type LoadResult, openLoop } from '../lib/load.js';
import { createRng } from '../lib/prng.js';
import { type BenchContext, measure, type ScenarioResult, skipped } from '../lib/scenario.js';
import { createGroups, messageContent, type SeedUser, seedUsers } from '../lib/seed.js';
import { countersPer, formatPer, snapshotCounters } from '../lib/server-counters.js';
import { round, summarize } from '../lib/stats.js';
import { type ClientSet, connectClients, type FrameHandler, gatewayMissingReason, hrNow } from '../lib/ws-clients.js';
import { doublingRates, sweepRates } from '../peers/sweep.js';

const ID = 'fanout';
/** The --peers sweep: from the scenario's rate ÷ 8 (Switchboard may not hold the rate itself) to × 32, 5 s (full) or 2 s (quick) a step. */
const SWEEP_FLOOR_DIVISOR = 8;
const SWEEP_CEILING_FACTOR = 32;
const SWEEP_STEP_SECONDS = { full: 5, quick: 2, scale: 5 } as const;
const TITLE = 'Fan-out: POST → message.created over two API nodes';

/**
 * fan-out: `clients` WebSocket clients, user i on node i mod 2. (1) One-to-one sends between
 * partners on different nodes at a fixed rate: latency from the POST to the partner's
 * `message.created`. (2) A group of `groupSize` members: deliveries per second to all members.
 */
export async function runFanout(ctx: BenchContext): Promise<ScenarioResult> {
  const missing = gatewayMissingReason();
  if (missing) return skipped(ID, TITLE, missing);
  const started = performance.now();
  const { fanout } = ctx.profile;
  const rng = createRng(ctx.profile.seed + 3);

  const users = await seedUsers(ctx.client, fanout.clients - (fanout.clients % 2), 'f');
  const members = users.slice(0, fanout.groupSize);
  // Created before anyone connects, so the gateway learns the membership however it subscribes.
  const [group] = await createGroups(ctx.http, [members]);
  const nodeB = await ctx.startNode('b');
  const nodes = [ctx.api, nodeB];
  const http = [ctx.http, createHttp(nodeB.url, 16)];
  const pids = nodes.map((node) => node.pid);
  let set: ClientSet | undefined;
  try {
    set = await connectClients(
      nodes.map((node) => node.url),
      users,
    );
    if (set.clients.length === 0) return skipped(ID, TITLE, `no WebSocket client could connect: ${set.firstError}`);
    ctx.log(`fan-out: ${set.clients.length} clients connected over 2 nodes (${set.failed} failed)`);
    const clientSet = set;

    // Warm both nodes' send and fan-out paths first; these deliveries are not counted.
    await closedLoop({
      total: 40,
      concurrency: 4,
      task: async (i) => {
        const sender = users[i] as SeedUser;
        await (http[i % 2] ?? ctx.http).request('POST', '/api/v1/messages', {
          token: sender.token,
          body: { receiverId: (users[i ^ 1] as SeedUser).id, content: messageContent(`warmup ${i}`) },
        });
      },
    });
    await sleep(500);

    // (1) one-to-one, partner on the other node.
    /** One open-loop run of 1:1 sends at `rate` for `seconds`, every delivery collected. */
    const oneToOneAt = async (rate: number, seconds: number, tag: string, label: string) => {
      const count = Math.ceil(rate * seconds);
      const senders = Array.from({ length: count }, () => rng.int(users.length));
      let postP99Ms = Number.NaN;
      let duplicates = 0;
      let perMessage: ReturnType<typeof countersPer> | undefined;
      const metricsUrls = nodes.map((node) => node.metricsUrl);
      const measured = await measure(label, pids, { rate }, async () => {
        const before = await snapshotCounters(metricsUrls, ctx.redis);
        const collector = collectDeliveries(clientSet, tag);
        const posts = await openLoop({
          rate,
          durationMs: seconds * 1000,
          maxInFlight: 64,
          task: async (i) => {
            const index = senders[i] as number;
            const sender = users[index] as SeedUser;
            const partner = users[index ^ 1] as SeedUser;
            collector.sentAt[i] = hrNow();
            await (http[index % 2] ?? ctx.http).request('POST', '/api/v1/messages', {
              token: sender.token,
              body: { receiverId: partner.id, content: messageContent(`${tag} ${i}`) },
            });
          },
        });
        postP99Ms = summarize(posts.latenciesMs).p99;
        const delivered = await collector.finish(count, posts);
        duplicates = collector.duplicates();
        perMessage = countersPer(before, await snapshotCounters(metricsUrls, ctx.redis), delivered.latenciesMs.length);
        return delivered;
      });
      return { measured, count, postP99Ms, duplicates, perMessage };
    };
    const {
      measured: direct,
      count,
      postP99Ms,
      duplicates: directDuplicates,
      perMessage: directPerMessage,
    } = await oneToOneAt(fanout.rate, fanout.seconds, 'fanout', `1:1 cross-node, ${fanout.rate} sends/s`);
    ctx.log(`fan-out 1:1: p99 ${direct.latencyMs.p99} ms, ${direct.latencyMs.count}/${count} delivered`);
    const cassandraPerMessage = directPerMessage
      ? formatPer(directPerMessage.cassandraTotal, directPerMessage.cassandra)
      : '—';
    const redisPerMessage = directPerMessage ? formatPer(directPerMessage.redisTotal, directPerMessage.redis) : '—';
    ctx.log(
      `fan-out 1:1 per delivered message: Cassandra statements ${cassandraPerMessage}; Redis commands ${redisPerMessage}`,
    );
    ctx.log(
      `fan-out 1:1 server side: POST /api/v1/messages mean ${directPerMessage?.sendMeanMs ?? '—'} ms; mean wait per statement (ms) ${JSON.stringify(directPerMessage?.meanMs ?? {})}`,
    );
    const loops = directPerMessage?.loops ?? [];
    const loopLine = loops.map((l) => `p99 ${l.p99Ms} ms, max ${l.maxMs} ms, GC ${l.gcMs} ms`).join(' | ');
    ctx.log(`fan-out 1:1 event loop per node (monitorEventLoopDelay, 10 ms resolution): ${loopLine}`);

    // (2) a big group, one sender, a few sends in flight.
    const owner = members[0] as SeedUser;
    const groupId = group?.id as string;
    const expected = fanout.groupMessages * (members.length - 1);
    const grouped = await measure(
      `${members.length}-member group, ${fanout.groupMessages} sends, 4 in flight`,
      pids,
      { concurrency: 4 },
      async () => {
        const collector = collectDeliveries(clientSet, 'group');
        const posts = await closedLoop({
          total: fanout.groupMessages,
          concurrency: 4,
          task: async (i) => {
            collector.sentAt[i] = hrNow();
            await ctx.http.request('POST', '/api/v1/messages', {
              token: owner.token,
              body: { groupId, content: messageContent(`group ${i}`) },
            });
          },
        });
        return collector.finish(expected, posts);
      },
    );
    ctx.log(
      `fan-out group: ${grouped.throughput} deliveries/s, ${grouped.latencyMs.count}/${expected} delivered, p99 ${grouped.latencyMs.p99} ms`,
    );

    // With --peers: the highest 1:1 rate that holds (p99 < 50 ms, nothing lost), by the same
    // sweep and bar as the peer's (peers/sweep.ts), starting below the scenario's rate.
    const sweep = ctx.peers
      ? await sweepRates(doublingRates(fanout.rate / SWEEP_FLOOR_DIVISOR, fanout.rate * SWEEP_CEILING_FACTOR), (rate) =>
          oneToOneAt(rate, SWEEP_STEP_SECONDS[ctx.profile.name], `sweep${rate}`, `sweep: 1:1 at ${rate} sends/s`).then(
            (step) => step.measured,
          ),
        )
      : undefined;
    if (sweep) {
      ctx.log(
        `fan-out sweep: held up to ${sweep.maxSustainedRate ?? '—'}/s${sweep.firstFailedRate ? `, not at ${sweep.firstFailedRate}/s` : ''}${sweep.atFailure ? ` (${sweep.atFailure})` : ''}`,
      );
    }

    return {
      id: ID,
      title: TITLE,
      status: 'ok',
      seconds: round((performance.now() - started) / 1000, 1),
      measurements: [direct, grouped, ...(sweep?.steps ?? [])],
      metrics: {
        clients: set.clients.length,
        deliveryP99Ms: direct.latencyMs.p99,
        directDelivered: `${direct.latencyMs.count}/${count}`,
        directDuplicates,
        postP99Ms,
        cassandraStatementsPerMessage: directPerMessage?.cassandraTotal ?? null,
        serverSendMeanMs: directPerMessage?.sendMeanMs ?? null,
        eventLoopP99Ms: loops.map((l) => l.p99Ms).join(' / '),
        eventLoopMaxMs: loops.map((l) => l.maxMs).join(' / '),
        gcMs: loops.map((l) => l.gcMs).join(' / '),
        redisCommandsPerMessage: directPerMessage?.redisTotal ?? null,
        groupSize: members.length,
        groupDeliveriesPerSecond: grouped.throughput,
        groupDelivered: `${grouped.latencyMs.count}/${expected}`,
        ...(sweep ? { maxSustainedRate: sweep.maxSustainedRate ?? 0, sweepAtFailure: sweep.atFailure || null } : {}),
      },
      notes: [
        'latency: from just before the POST to the frame arriving at the other participant; throughput in the measurements is deliveries per second',
        'sender i and partner i xor 1 sit on different nodes, so every 1:1 delivery crosses Redis pub/sub',
        `1:1 per delivered message, everything the servers did meanwhile (background work included): Cassandra statements ${cassandraPerMessage}; Redis commands ${redisPerMessage}`,
        `1:1 API nodes' event loop (delay p99 / max, GC time, per node): ${loopLine || '—'}`,
      ],
    };
  } finally {
    await set?.close();
    await http[1]?.close();
    await nodeB.stop();
  }
}

/**
 * Collects `message.created` frames whose content starts with `tag` (to anyone but the sender).
 * `finish` waits up to `waitMs` (10 s) for the expected deliveries and reports them as a load result:
 * latency from just before the POST to the frame, deliveries per second, missing ones as errors;
 * a repeated frame of a message is counted in `duplicates()`, not as a delivery.
 */
export function collectDeliveries(set: ClientSet, tag: string) {
  const sentAt: number[] = [];
  const latencies: number[] = [];
  const received = new Set<string>();
  let duplicates = 0;
  const startedAt = hrNow();
  let lastAt = startedAt;
  const handler: FrameHandler = (client, frame, receivedAt) => {
    const message = frame.type === 'message.created' ? frame.data?.message : undefined;
    if (!message?.content.startsWith(`${tag} `) || message.senderId === client.userId) return;
    const index = message.content.split(' ')[1];
    const sent = sentAt[Number(index)];
    if (sent === undefined) return;
    // Each message counts once per receiver: a run that saw 3,091 frames for 3,000 messages
    // reported none missing, though the 91 repeats could have hidden as many lost ones.
    const key = `${client.userId} ${index}`;
    if (received.has(key)) {
      duplicates++;
      return;
    }
    received.add(key);
    latencies.push(receivedAt - sent);
    lastAt = receivedAt;
  };
  set.onFrame(handler);
  return {
    sentAt,
    /** Frames of a message the receiver already had (not in the latencies). */
    duplicates: () => duplicates,
    async finish(expected: number, posts: LoadResult, waitMs = 10_000): Promise<LoadResult> {
      const deadline = hrNow() + waitMs;
      while (latencies.length < expected && hrNow() < deadline) await sleep(50);
      set.onFrame(() => {});
      const missing = Math.max(0, expected - latencies.length);
      const elapsedMs = Math.max(1, lastAt - startedAt);
      return {
        latenciesMs: latencies,
        errors: missing + posts.errors,
        firstError:
          posts.firstError ?? (missing > 0 ? `${missing} deliveries missing after ${waitMs / 1000} s` : undefined),
        elapsedMs: round(elapsedMs),
        throughput: round((latencies.length / elapsedMs) * 1000, 1),
      };
    },
  };
}
