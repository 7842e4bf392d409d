import { setTimeout as sleep } from 'node:timers/promises';
import { metricTotal } from '../../support/server.js';
import { connectIdleFleet, type IdleFleet, sourceAddresses } from '../lib/idle-clients.js';
import { openFileLimit, rssBytes, trackProcesses } from '../lib/process-metrics.js';
import { type BenchContext, type ScenarioResult, skipped } from '../lib/scenario.js';
import { seedUsers } from '../lib/seed.js';
import { countersPer, formatPer, snapshotCounters } from '../lib/server-counters.js';
import type { ApiNode } from '../lib/stack.js';
import { round } from '../lib/stats.js';
import { connectClients, gatewayMissingReason } from '../lib/ws-clients.js';

const ID = 'idle';
const TITLE = 'Idle WebSocket connections: RSS per connection';
/** File descriptors a process needs besides its sockets (drivers, pools, pipes, listeners). */
const FD_HEADROOM = 500;
/** Client source addresses (127.0.0.2 …): each gives ~28,000 ephemeral ports towards one node. */
const SOURCE_ADDRESSES = 8;

/**
 * idle: fresh API nodes, then `connections` clients that connect and stay silent. One process can
 * hold at most `ulimit -n` sockets, so the connections are spread over as many API nodes (and as
 * many client worker processes, one per node) as that takes: one node for 10,000, six for 100,000
 * at ulimit -n 20,000. RSS per connection = (the nodes' RSS with everyone connected − their RSS
 * before) / connections, each RSS the median of several samples once the processes have settled.
 */
export async function runIdle(ctx: BenchContext): Promise<ScenarioResult> {
  const missing = gatewayMissingReason();
  if (missing) return skipped(ID, TITLE, missing);
  const started = performance.now();
  const limit = openFileLimit();
  const { connections, backgroundSeconds, env = {} } = ctx.profile.idle;
  const perProcess = Number.isFinite(limit) ? limit - FD_HEADROOM : connections;
  const nodeCount = Math.ceil(connections / perProcess);
  const users = await seedUsers(ctx.client, connections, 'i');
  ctx.log(`idle: ${connections} users seeded; ${nodeCount} API node(s) (ulimit -n ${limit})`);
  const nodes: ApiNode[] = await Promise.all(
    Array.from({ length: nodeCount }, (_, i) => ctx.startNode(`idle${i}`, undefined, env)),
  );
  const pids = nodes.map((node) => node.pid);
  let fleet: IdleFleet | undefined;
  try {
    // Warm each gateway's code paths (module loading, JIT) so they are not billed to connections.
    for (const node of nodes) {
      const warm = await connectClients([node.url], users.slice(0, Math.min(100, users.length)));
      if (warm.clients.length === 0) return skipped(ID, TITLE, `no WebSocket client could connect: ${warm.firstError}`);
      await warm.close();
    }
    const before = await settledRss(pids);
    const tracker = trackProcesses(pids);
    const connectStarted = performance.now();
    // User i goes to node i mod nodeCount, like everywhere else in the bench.
    const shares = nodes.map((node, n) => ({
      url: node.url,
      tokens: users.filter((_, i) => i % nodeCount === n).map((user) => user.token),
    }));
    const localAddresses = sourceAddresses(SOURCE_ADDRESSES);
    fleet = await connectIdleFleet(shares, { localAddresses, concurrency: 200 });
    const connectSeconds = (performance.now() - connectStarted) / 1000;
    const after = await settledRss(pids);
    const usage = tracker.stop();
    const open = fleet.open;
    // The nodes' own count (the gauge of registered connections), beside the clients' count.
    const serverConnections = (
      await Promise.all(nodes.map((node) => metricTotal(node.metricsUrl, 'switchboard_ws_connections')))
    ).reduce((sum, n) => sum + n, 0);
    // What the nodes do on their own for connections that send nothing (timers: presence
    // refresh, membership reconciliation, session re-checks, heartbeats).
    const metricsUrls = nodes.map((node) => node.metricsUrl);
    const quietBefore = await snapshotCounters(metricsUrls, ctx.redis);
    const quietTracker = trackProcesses(pids);
    await sleep(backgroundSeconds * 1000);
    const quietUsage = quietTracker.stop();
    const background = countersPer(quietBefore, await snapshotCounters(metricsUrls, ctx.redis), backgroundSeconds);
    const backgroundApiCpuPercent = round(
      quietUsage.reduce((sum, u) => sum + u.cpuPercent, 0),
      1,
    );
    ctx.log(
      `idle: background per second over ${backgroundSeconds} s: Cassandra ${formatPer(background.cassandraTotal, background.cassandra)}; Redis ${formatPer(background.redisTotal, background.redis)}; API CPU ${backgroundApiCpuPercent} %`,
    );
    const perConnectionKb = round((after - before) / Math.max(1, open) / 1024, 2);
    const connectCpuSeconds = round(
      usage.reduce((sum, u) => sum + u.cpuSeconds, 0),
      1,
    );
    const clientRssMb = round(
      fleet.reports.reduce((sum, r) => sum + r.rssMb, 0),
      0,
    );
    ctx.log(
      `idle: ${open} connections (${fleet.failed} failed, ${fleet.retries} retries ${JSON.stringify(fleet.retryReasons)}, closed after ready ${JSON.stringify(fleet.closedAfterReady)}) over ${nodeCount} node(s) in ${round(connectSeconds, 1)} s, ${perConnectionKb} KB RSS each`,
    );
    return {
      id: ID,
      title: TITLE,
      status: 'ok',
      seconds: round((performance.now() - started) / 1000, 1),
      measurements: [],
      metrics: {
        connections: open,
        serverConnections,
        failed: fleet.failed,
        connectRetries: fleet.retries,
        closedAfterReady: Object.values(fleet.closedAfterReady).reduce((sum, n) => sum + n, 0),
        apiNodes: nodeCount,
        sourceAddresses: SOURCE_ADDRESSES,
        rssBeforeMb: round(before / 1024 / 1024, 1),
        rssAfterMb: round(after / 1024 / 1024, 1),
        rssPerConnectionKb: perConnectionKb,
        connectSeconds: round(connectSeconds, 1),
        connectsPerSecond: round(open / connectSeconds, 0),
        connectCpuSeconds,
        apiCpuMsPerConnect: round((connectCpuSeconds * 1000) / Math.max(1, open), 3),
        clientProcessesRssMb: clientRssMb,
        backgroundCassandraPerSecond: background.cassandraTotal,
        backgroundRedisPerSecond: background.redisTotal,
        backgroundApiCpuPercent,
        openFileLimit: Number.isFinite(limit) ? limit : 'unlimited',
      },
      notes: [
        `${connections} clients over ${nodeCount} API node(s) (user i on node i mod ${nodeCount}), one client process per node, source addresses ${localAddresses[0]}–${localAddresses.at(-1)}; 200 handshakes in flight per client process`,
        'clients connect like browsers (they offer permessage-deflate), wait for `ready` and then send nothing; RSS samples (the API nodes added up) are medians over 2 s after a 3 s settle',
        `API CPU while connecting (all nodes, the connects and their presence writes): ${connectCpuSeconds} s`,
        `once connected, per second over ${backgroundSeconds} s (the nodes' own timers): Cassandra statements ${formatPer(background.cassandraTotal, background.cassandra)}; Redis commands ${formatPer(background.redisTotal, background.redis)}; API CPU ${backgroundApiCpuPercent} % (all nodes)`,
        ...(Object.keys(env).length > 0
          ? [
              `idle nodes' environment: ${Object.entries(env)
                .map(([k, v]) => `${k}=${v}`)
                .join(', ')}`,
            ]
          : []),
        `a connection counts once the gateway said \`ready\` and the socket is still open when its client process has connected its whole share; a failed connect is retried with backoff (up to 6 attempts), as clients do: ${fleet.retries} retries${
          fleet.retries > 0
            ? ` (${Object.entries(fleet.retryReasons)
                .map(([reason, count]) => `${reason}: ${count}`)
                .join(', ')})`
            : ''
        }`,
        `sockets closed after \`ready\` while their share was still connecting (not reconnected, not counted): ${JSON.stringify(fleet.closedAfterReady)}`,
        ...(fleet.firstError ? [`first connect error: ${fleet.firstError}`] : []),
      ],
    };
  } finally {
    await fleet?.close();
    await Promise.all(nodes.map((node) => node.stop()));
  }
}

/** The processes' RSS added up: the median over 2 s (10 samples), after letting them settle for 3 s. */
async function settledRss(pids: readonly number[]): Promise<number> {
  await sleep(3000);
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    samples.push(pids.reduce((sum, pid) => sum + rssBytes(pid), 0));
    await sleep(200);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}
