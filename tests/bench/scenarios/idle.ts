import { setTimeout as sleep } from 'node:timers/promises';
import { openFileLimit, rssBytes, trackProcesses } from '../lib/process-metrics.js';
import { type BenchContext, type ScenarioResult, skipped } from '../lib/scenario.js';
import { seedUsers } from '../lib/seed.js';
import { round } from '../lib/stats.js';
import { type ClientSet, connectClients, gatewayMissingReason } from '../lib/ws-clients.js';

const ID = 'idle';
const TITLE = 'Idle WebSocket connections: RSS per connection';
/** File descriptors the bench process needs besides its sockets (drivers, pools, pipes). */
const FD_HEADROOM = 500;

/**
 * idle: a fresh API node, then `connections` clients that connect and stay silent. RSS per
 * connection = (RSS with everyone connected − RSS before) / connections, each RSS the median of
 * several samples once the process has settled.
 */
export async function runIdle(ctx: BenchContext): Promise<ScenarioResult> {
  const missing = gatewayMissingReason();
  if (missing) return skipped(ID, TITLE, missing);
  const started = performance.now();
  const notes: string[] = [];
  const limit = openFileLimit();
  let connections = ctx.profile.idle.connections;
  if (limit < connections + FD_HEADROOM) {
    connections = Math.max(100, limit - FD_HEADROOM);
    const line = `ulimit -n is ${limit}: measuring ${connections} connections instead of ${ctx.profile.idle.connections}; raise it (ulimit -n ${ctx.profile.idle.connections + FD_HEADROOM * 2}) and re-run`;
    ctx.log(`idle: ${line}`);
    notes.push(line);
  }
  const users = await seedUsers(ctx.client, connections, 'i');
  const node = await ctx.startNode('idle');
  let set: ClientSet | undefined;
  let warm: ClientSet | undefined;
  try {
    // Warm the gateway's code paths (module loading, JIT) so they are not billed to connections.
    warm = await connectClients([node.url], users.slice(0, Math.min(100, users.length)));
    if (warm.clients.length === 0) return skipped(ID, TITLE, `no WebSocket client could connect: ${warm.firstError}`);
    await warm.close();
    const before = await settledRss(node.pid);
    const tracker = trackProcesses([node.pid]);
    set = await connectClients([node.url], users, 200);
    const after = await settledRss(node.pid);
    const [usage] = tracker.stop();
    const open = set.clients.length;
    const perConnectionKb = round((after - before) / Math.max(1, open) / 1024, 2);
    ctx.log(`idle: ${open} connections (${set.failed} failed), ${perConnectionKb} KB RSS each`);
    return {
      id: ID,
      title: TITLE,
      status: 'ok',
      seconds: round((performance.now() - started) / 1000, 1),
      measurements: [],
      metrics: {
        connections: open,
        failed: set.failed,
        rssBeforeMb: round(before / 1024 / 1024, 1),
        rssAfterMb: round(after / 1024 / 1024, 1),
        rssPerConnectionKb: perConnectionKb,
        connectCpuSeconds: usage?.cpuSeconds ?? null,
        openFileLimit: Number.isFinite(limit) ? limit : 'unlimited',
      },
      notes: [
        ...notes,
        'clients connect like browsers (they offer permessage-deflate) and then send nothing; RSS samples are medians over 2 s after a 3 s settle',
        ...(set.firstError ? [`first connect error: ${set.firstError}`] : []),
      ],
    };
  } finally {
    await set?.close();
    await node.stop();
  }
}

/** Median RSS of a process over 2 s (10 samples), after letting it settle for 3 s. */
async function settledRss(pid: number): Promise<number> {
  await sleep(3000);
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    samples.push(rssBytes(pid));
    await sleep(200);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}
