import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = new URL('../../../', import.meta.url).pathname;

/** What `docker/native/cluster.sh up` wrote to $CLUSTER_DIR/topology.json. */
export interface Topology {
  balancer: string;
  keyspace: string;
  cassandra: { n: number; host: string; cqlPort: number; jmxPort: number; pidFile: string }[];
  api: { n: number; nodeId: string; url: string; metricsUrl: string; pidFile: string; log: string }[];
  redis: { port: number; pidFile: string }[];
}

/** The running cluster's topology; fails with the command to run when it is not up. */
export function readTopology(): Topology {
  const dir = process.env.CLUSTER_DIR ?? `${process.env.SWITCHBOARD_NATIVE_DIR ?? `${REPO}.native`}/cluster`;
  try {
    return JSON.parse(readFileSync(`${dir}/topology.json`, 'utf8')) as Topology;
  } catch {
    throw new Error(`no cluster topology in ${dir}: start it with npm run up -- --cluster (same CLUSTER_* settings)`);
  }
}

/** docker/native/cluster.sh with these arguments (the fault levers: start/kill a node, restart Redis empty). */
export async function cluster(...args: string[]): Promise<string> {
  const { stdout, stderr } = await run('bash', [`${REPO}docker/native/cluster.sh`, ...args], {
    cwd: REPO,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout + stderr;
}

/** nodetool against node n (docker/native/nodetool.sh). */
export async function nodetool(n: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [`${REPO}docker/native/nodetool.sh`, String(n), ...args], {
    cwd: REPO,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** The Redis Cluster's primaries now (ports), from each live node's ROLE. */
export async function redisPrimaries(topology: Topology): Promise<number[]> {
  const primaries: number[] = [];
  for (const { port } of topology.redis) {
    const role = await run('redis-cli', ['-p', String(port), 'role']).then(
      ({ stdout }) => stdout.split('\n')[0]?.trim(),
      () => undefined,
    );
    if (role === 'master') primaries.push(port);
  }
  return primaries;
}

/** Whether every Redis node that runs reports cluster_state:ok. */
export async function redisClusterOk(topology: Topology): Promise<boolean> {
  for (const { port } of topology.redis) {
    const info = await run('redis-cli', ['-p', String(port), 'cluster', 'info']).then(
      ({ stdout }) => stdout,
      () => '',
    );
    if (info && !info.includes('cluster_state:ok')) return false;
  }
  return true;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` is true or `timeoutMs` passed; resolves with the time it took, or undefined. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, everyMs = 250) {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check().catch(() => false)) return Date.now() - started;
    await sleep(everyMs);
  }
  return undefined;
}
