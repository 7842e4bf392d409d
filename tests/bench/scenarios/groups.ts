import { setTimeout as sleep } from 'node:timers/promises';
import { createHttp } from '../lib/http.js';
import { closedLoop } from '../lib/load.js';
import { openFileLimit } from '../lib/process-metrics.js';
import { type BenchContext, type Measurement, measure, type ScenarioResult, skipped } from '../lib/scenario.js';
import { createGroups, messageContent, type SeedUser, seedUsers } from '../lib/seed.js';
import { round } from '../lib/stats.js';
import { type ClientSet, connectClients, gatewayMissingReason, hrNow } from '../lib/ws-clients.js';
import { collectDeliveries } from './fanout.js';

const ID = 'groups';
const TITLE = 'Group size: deliveries per second and POST → frame latency, 10 to 10,000 members';
/** Sockets the bench process needs besides its clients. */
const FD_HEADROOM = 500;
/** How long a size's deliveries may take to arrive after its last POST. */
const DELIVERY_WAIT_MS = 60_000;

/**
 * groups: one set of users, the largest group's size, all connected over two API nodes (user i on
 * node i mod 2). One group per size, each made of the first `size` users and owned by user 0, all
 * created through the API before anyone connects. Then, size by size, user 0 sends a fixed number
 * of messages (4 in flight) and every other member's `message.created` is collected: deliveries
 * per second, POST → frame latency, and the API CPU per delivery.
 */
export async function runGroups(ctx: BenchContext): Promise<ScenarioResult> {
  const missing = gatewayMissingReason();
  if (missing) return skipped(ID, TITLE, missing);
  const started = performance.now();
  const { sizes, messages } = ctx.profile.groups;
  const largest = Math.max(...sizes);
  const limit = openFileLimit();
  if (largest + FD_HEADROOM > limit) {
    return skipped(ID, TITLE, `ulimit -n is ${limit}: ${largest} clients need ${largest + FD_HEADROOM}`);
  }
  const env = { GROUP_MAX_MEMBERS: String(largest), BODY_LIMIT_BYTES: String(4 * 1024 * 1024) };
  const nodes = await Promise.all([ctx.startNode('groupsA', undefined, env), ctx.startNode('groupsB', undefined, env)]);
  const pids = nodes.map((node) => node.pid);
  const http = createHttp((nodes[0] as (typeof nodes)[0]).url, 8);
  let set: ClientSet | undefined;
  try {
    const users = await seedUsers(ctx.client, largest, 'gs');
    const owner = users[0] as SeedUser;
    const createdAt = performance.now();
    const groups: string[] = [];
    const creationSeconds: number[] = [];
    for (const size of sizes) {
      const began = performance.now();
      const [group] = await createGroups(http, [users.slice(0, size)]);
      groups.push(group?.id as string);
      creationSeconds.push(round((performance.now() - began) / 1000, 2));
    }
    ctx.log(`groups: created ${sizes.join(', ')}-member groups in ${creationSeconds.join(', ')} s`);
    const connectStarted = performance.now();
    set = await connectClients(
      nodes.map((node) => node.url),
      users,
      200,
    );
    const connectSeconds = round((performance.now() - connectStarted) / 1000, 1);
    ctx.log(
      `groups: ${set.clients.length} clients connected over 2 nodes in ${connectSeconds} s (${set.failed} failed)`,
    );
    if (set.failed > 0) return skipped(ID, TITLE, `${set.failed} clients could not connect: ${set.firstError}`);
    const clientSet = set;

    const sendAll = async (groupId: string, count: number, tag: string, expected: number) => {
      const collector = collectDeliveries(clientSet, tag);
      const posts = await closedLoop({
        total: count,
        concurrency: 4,
        task: async (i) => {
          collector.sentAt[i] = hrNow();
          await http.request('POST', '/api/v1/messages', {
            token: owner.token,
            body: { groupId, content: messageContent(`${tag} ${i}`) },
          });
        },
      });
      const delivered = await collector.finish(expected, posts, DELIVERY_WAIT_MS);
      return { delivered, duplicates: collector.duplicates() };
    };
    // Warm both nodes' group path (the smallest group); not counted.
    await sendAll(groups[0] as string, 20, 'warm', 20 * ((sizes[0] as number) - 1));
    await sleep(500);

    const measurements: Measurement[] = [];
    const metrics: ScenarioResult['metrics'] = {};
    const notes: string[] = [];
    for (const [index, size] of sizes.entries()) {
      const count = messages[index] as number;
      const expected = count * (size - 1);
      let duplicates = 0;
      const measured = await measure(
        `${size}-member group, ${count} sends, 4 in flight`,
        pids,
        { concurrency: 4 },
        async () => {
          const run = await sendAll(groups[index] as string, count, `g${size}`, expected);
          duplicates = run.duplicates;
          return run.delivered;
        },
      );
      measurements.push(measured);
      const apiCpuSeconds = measured.api.reduce((sum, u) => sum + u.cpuSeconds, 0);
      const delivered = measured.latencyMs.count;
      metrics[`deliveriesPerSecond_${size}`] = measured.throughput;
      metrics[`p50Ms_${size}`] = measured.latencyMs.p50;
      metrics[`p99Ms_${size}`] = measured.latencyMs.p99;
      metrics[`delivered_${size}`] = `${delivered}/${expected}`;
      metrics[`duplicates_${size}`] = duplicates;
      metrics[`apiCpuUsPerDelivery_${size}`] = round((apiCpuSeconds * 1e6) / Math.max(1, delivered), 1);
      ctx.log(
        `groups ${size}: ${measured.throughput} deliveries/s, ${delivered}/${expected} delivered, p50 ${measured.latencyMs.p50} ms, p99 ${measured.latencyMs.p99} ms, API ${metrics[`apiCpuUsPerDelivery_${size}`]} µs CPU per delivery`,
      );
      notes.push(
        `${size} members: created through POST /api/v1/groups in ${creationSeconds[index]} s; ${count} messages → ${delivered} of ${expected} deliveries, ${duplicates} duplicates`,
      );
    }
    return {
      id: ID,
      title: TITLE,
      status: 'ok',
      seconds: round((performance.now() - started) / 1000, 1),
      measurements,
      metrics: {
        clients: set.clients.length,
        connectSeconds,
        groupsCreatedSeconds: round((connectStarted - createdAt) / 1000, 1),
        ...metrics,
      },
      notes: [
        `${largest} clients over 2 API nodes, all connected through every size (the members of the smaller groups are the first users); one sender (user 0, on node A), 4 sends in flight`,
        'latency: from just before the POST to the frame at each receiving member; throughput is deliveries per second, from the first POST to the last frame; API CPU per delivery: both nodes, the sends included',
        'a group message is one Redis PUBLISH on the group channel; each node encodes the frame once and writes it to its members’ sockets',
        ...notes,
      ],
    };
  } finally {
    await set?.close();
    await http.close();
    await Promise.all(nodes.map((node) => node.stop()));
  }
}
