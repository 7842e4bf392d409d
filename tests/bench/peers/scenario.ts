import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { directConversationId } from '../../../src/domain/conversations.js';
import { newId } from '../../../src/domain/ids.js';
import { type BenchHttp, createHttp } from '../lib/http.js';
import { closedLoop, openLoop } from '../lib/load.js';
import { createRng } from '../lib/prng.js';
import { trackProcess } from '../lib/process-metrics.js';
import { type BenchContext, measure, type ScenarioResult, skipped } from '../lib/scenario.js';
import { messageContent } from '../lib/seed.js';
import { round } from '../lib/stats.js';
import type { ClientSet } from '../lib/ws-clients.js';
import { hrNow } from '../lib/ws-clients.js';
import { collectDeliveries } from '../scenarios/fanout.js';
import { type CentrifugoNode, centrifugoBinary, GROUP, PERSONAL, startCentrifugo } from './centrifugo.js';
import { connectCentrifugoClients, type PeerUser } from './centrifugo-clients.js';
import { cpuMsPerDelivery, PEER_ID } from './compare.js';
import { doublingRates, SUSTAINED_P99_MS, sweepRates } from './sweep.js';
import { CENTRIFUGO_VERSION } from './versions.js';

/** The sweep's last offered rate, as a multiple of the scenario's (200/s × 32 = 6,400/s full). */
const SWEEP_CEILING_FACTOR = 32;
const LOOP_RESOLUTION_MS = 10;
const SWEEP_STEP_SECONDS = { full: 5, quick: 2, scale: 5 } as const;
const TITLE = `Peer: Centrifugo ${CENTRIFUGO_VERSION} (memory engine), the fan-out scenario`;

/**
 * The fan-out scenario (scenarios/fanout.ts) against Centrifugo, with the same sizes (clients,
 * rate, duration, group size and messages), the same seeded choice of senders, the same load
 * loops, delivery collector and process measurement. What differs is only what a peer is: the
 * sender's POST is Centrifugo's server API `/api/publish` (API key) to the receiver's personal
 * channel, and every client is subscribed server-side through its connection token.
 */
export async function runCentrifugoFanout(ctx: BenchContext): Promise<ScenarioResult> {
  const binary = centrifugoBinary(ctx.log);
  if ('reason' in binary) return skipped(PEER_ID, TITLE, `${binary.reason}; the rest of the bench ran`);
  const started = performance.now();
  const { fanout } = ctx.profile;
  // The fan-out scenario's seed, so the same senders send in the same order.
  const rng = createRng(ctx.profile.seed + 3);
  const count = fanout.clients - (fanout.clients % 2);
  const groupId = newId();
  const users: PeerUser[] = Array.from({ length: count }, (_, i) => {
    const id = newId();
    return { id, channels: [`${PERSONAL}:${id}`, ...(i < fanout.groupSize ? [`${GROUP}:${groupId}`] : [])] };
  });
  // run.ts keeps Switchboard's first node up for the whole run: what it does meanwhile (idle, no
  // clients) competes with Centrifugo for the same cores, so the report says how much it was.
  const switchboardIdle = trackProcess(ctx.api.pid);
  const node = await startCentrifugo(binary.path);
  const http = createHttp(node.url, ctx.profile.concurrency);
  let set: ClientSet | undefined;
  try {
    set = await connectCentrifugoClients(node.url, node.secret, users);
    if (set.clients.length === 0) return skipped(PEER_ID, TITLE, `no client could connect: ${set.firstError}`);
    ctx.log(`peers: ${set.clients.length} clients connected to ${node.version} (${set.failed} failed)`);
    const clientSet = set;
    const publish = publisher(http, node);
    const direct = (i: number, index: number, tag: string) => {
      const sender = users[index] as PeerUser;
      const receiver = users[index ^ 1] as PeerUser;
      return publish(`${PERSONAL}:${receiver.id}`, frame(`${tag} ${i}`, sender.id, receiver.id, null));
    };

    await closedLoop({ total: 40, concurrency: 4, task: (i) => direct(i, i, 'warmup') });
    await sleep(500);

    const duplicates = new Map<string, number>();
    // One open-loop run of 1:1 publishes at `rate`, senders drawn from the seeded sequence.
    const oneToOneAt = (rate: number, seconds: number, tag: string, label: string) => {
      const senders = Array.from({ length: Math.ceil(rate * seconds) }, () => rng.int(users.length));
      return measure(label, [node.pid], { rate }, async () => {
        const collector = collectDeliveries(clientSet, tag);
        const posts = await openLoop({
          rate,
          durationMs: seconds * 1000,
          maxInFlight: 64,
          task: async (i) => {
            collector.sentAt[i] = hrNow();
            await direct(i, senders[i] as number, tag);
          },
        });
        const delivered = await collector.finish(senders.length, posts);
        duplicates.set(tag, collector.duplicates());
        return delivered;
      });
    };
    // The load generator's own event-loop stalls over the 1:1 run: a p99 burst with the loop stalled
    // as long is the harness's, not the server's.
    const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    loopDelay.enable();
    const oneToOne = await oneToOneAt(fanout.rate, fanout.seconds, 'fanout', `1:1, ${fanout.rate} publishes/s`);
    loopDelay.disable();
    const directExpected = Math.ceil(fanout.rate * fanout.seconds);
    ctx.log(`peers 1:1: p99 ${oneToOne.latencyMs.p99} ms, ${oneToOne.latencyMs.count}/${directExpected} delivered`);

    const owner = users[0] as PeerUser;
    const members = Math.min(fanout.groupSize, users.length);
    const expected = fanout.groupMessages * (members - 1);
    const grouped = await measure(
      `${members}-member group, ${fanout.groupMessages} publishes, 4 in flight`,
      [node.pid],
      { concurrency: 4 },
      async () => {
        const collector = collectDeliveries(clientSet, 'group');
        const posts = await closedLoop({
          total: fanout.groupMessages,
          concurrency: 4,
          task: async (i) => {
            collector.sentAt[i] = hrNow();
            await publish(`${GROUP}:${groupId}`, frame(`group ${i}`, owner.id, null, groupId));
          },
        });
        return collector.finish(expected, posts);
      },
    );
    ctx.log(
      `peers group: ${grouped.throughput} deliveries/s, ${grouped.latencyMs.count}/${expected}, p99 ${grouped.latencyMs.p99} ms`,
    );

    // The highest 1:1 rate that holds (p99 < 50 ms, nothing lost), the rate doubling each step.
    const sweep = await sweepRates(doublingRates(fanout.rate, fanout.rate * SWEEP_CEILING_FACTOR), (rate) =>
      oneToOneAt(rate, SWEEP_STEP_SECONDS[ctx.profile.name], `sweep${rate}`, `sweep: 1:1 at ${rate} publishes/s`),
    );
    ctx.log(
      `peers sweep: held up to ${sweep.maxSustainedRate ?? '—'}/s${sweep.firstFailedRate ? `, not at ${sweep.firstFailedRate}/s` : ''}${sweep.atFailure ? ` (${sweep.atFailure})` : ''}`,
    );

    const idle = switchboardIdle.stop();
    return {
      id: PEER_ID,
      title: TITLE,
      status: 'ok',
      seconds: round((performance.now() - started) / 1000, 1),
      measurements: [oneToOne, grouped, ...sweep.steps],
      metrics: {
        peer: `centrifugo ${CENTRIFUGO_VERSION}`,
        peerVersion: node.version,
        clients: set.clients.length,
        deliveryP50Ms: oneToOne.latencyMs.p50,
        deliveryP99Ms: oneToOne.latencyMs.p99,
        directDelivered: `${oneToOne.latencyMs.count}/${directExpected}`,
        directDuplicates: duplicates.get('fanout') ?? 0,
        // The histogram holds whole timer intervals: minus the resolution, what the loop was late.
        loadgenLoopDelayP99Ms: round(Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_RESOLUTION_MS)),
        loadgenLoopDelayMaxMs: round(Math.max(0, loopDelay.max / 1e6 - LOOP_RESOLUTION_MS)),
        cpuMsPerDelivered: cpuMsPerDelivery(oneToOne),
        groupSize: members,
        groupDeliveriesPerSecond: grouped.throughput,
        groupP99Ms: grouped.latencyMs.p99,
        groupDelivered: `${grouped.latencyMs.count}/${expected}`,
        maxSustainedRate: sweep.maxSustainedRate,
        firstFailedRate: sweep.firstFailedRate,
        sweepHarnessBound: sweep.harnessBound ? 'yes' : 'no',
        sweepAtFailure: sweep.atFailure || null,
        switchboardIdleNodeCpuPercent: idle.cpuPercent,
      },
      notes: [
        'one Centrifugo process, memory engine: nothing is stored, no broker between nodes; every delivery is in-process',
        `Switchboard's first API node stays up (idle, no clients) during this scenario: it used ${idle.cpuPercent}% of a core meanwhile`,
        'POST = the server API /api/publish (X-API-Key) to the receiver’s personal channel; the data is a Switchboard message.created frame of the same size',
        'clients: JSON protocol over /connection/websocket, subscribed server-side with the connection JWT’s channels claim',
        `sweep: 1:1 rate doubled from ${fanout.rate}/s, ${SWEEP_STEP_SECONDS[ctx.profile.name]} s a step, until a rate fails twice in a row (p99 ≥ ${SUSTAINED_P99_MS} ms, or a delivery lost); "harness-bound" when Centrifugo used under half a core at the step that failed (the load generator or the shared cores gave out first)`,
      ],
    };
  } finally {
    await set?.close();
    await http.close();
    await node.stop();
  }
}

/** Publishes through the server API; Centrifugo answers errors with 200 and an `error` body. */
function publisher(http: BenchHttp, node: CentrifugoNode) {
  const headers = { 'x-api-key': node.apiKey };
  return async (channel: string, data: unknown) => {
    const reply = await http.request<{ error?: { code: number; message: string } }>('POST', '/api/publish', {
      headers,
      body: { channel, data },
      expect: 200,
    });
    if (reply?.error) throw new Error(`publish ${channel}: ${reply.error.code} ${reply.error.message}`);
  };
}

/** What Switchboard's gateway pushes for a new message: the same fields, so the same bytes. */
function frame(tag: string, senderId: string, receiverId: string | null, groupId: string | null) {
  return {
    type: 'message.created',
    data: {
      message: {
        id: newId(),
        conversationId: groupId ?? directConversationId(senderId, receiverId as string),
        senderId,
        receiverId,
        groupId,
        content: messageContent(tag),
        createdAt: new Date().toISOString(),
        clientTimestamp: null,
        status: 'sent',
        editedAt: null,
        deletedAt: null,
        reactions: [],
        replyToId: null,
        threadId: null,
        thread: null,
      },
    },
  };
}
