import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { freePort } from './server.js';

const run = promisify(execFile);

/**
 * A private, throwaway Redis Cluster (3 primaries, 3 replicas, no persistence) on free loopback
 * ports, for tests that kill its nodes: the shared cluster other suites use is never touched.
 * A short cluster-node-timeout makes a replica take over a few seconds after its primary died.
 */
export interface RedisClusterChild {
  /** `host:port,…` for REDIS_CLUSTER_NODES. */
  nodes: string;
  /** A plain cluster client to inspect it. */
  admin: Cluster;
  /** The primary (`127.0.0.1:<port>`) that holds a key's or channel's slot now. */
  primaryOf(keyOrChannel: string): Promise<string>;
  /** SIGKILLs the node on this port. */
  kill(address: string): Promise<void>;
  close(): Promise<void>;
}

export async function startRedisCluster(options: { nodeTimeoutMs?: number } = {}): Promise<RedisClusterChild> {
  const ports: number[] = [];
  while (ports.length < 12) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const dataPorts = ports.slice(0, 6);
  const busPorts = ports.slice(6);
  const children = new Map<number, ChildProcess>();
  const dir = (await run('mktemp', ['-d'])).stdout.trim();
  for (const port of dataPorts) await run('mkdir', ['-p', `${dir}/${port}`]);
  dataPorts.forEach((port, i) => {
    const child = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
        ...['--cluster-enabled', 'yes', '--cluster-port', String(busPorts[i])],
        // A directory per node: replicas load their primary's snapshot from their own dir.
        ...['--cluster-config-file', `${dir}/${port}/nodes.conf`, '--dir', `${dir}/${port}`],
        ...['--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1000)],
        // A replica takes over however long ago it last heard from its primary (test cluster).
        ...['--cluster-replica-validity-factor', '0'],
      ],
      { stdio: 'ignore' },
    );
    children.set(port, child);
  });
  const cli = (port: number, ...args: string[]) => run('redis-cli', ['-p', String(port), ...args]);
  for (const port of dataPorts) {
    for (let i = 0; ; i++) {
      const answer = await cli(port, 'ping').catch(() => ({ stdout: '' }));
      if (answer.stdout.trim() === 'PONG') break;
      if (i > 100) throw new Error(`redis-server on ${port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const addresses = dataPorts.map((port) => `127.0.0.1:${port}`);
  await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes']);
  for (const port of dataPorts) {
    for (let i = 0; ; i++) {
      const info = await cli(port, 'cluster', 'info');
      if (info.stdout.includes('cluster_state:ok')) break;
      if (i > 200) throw new Error(`cluster node ${port} did not reach cluster_state:ok`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const admin = new Cluster(
    dataPorts.map((port) => ({ host: '127.0.0.1', port })),
    { redisOptions: { maxRetriesPerRequest: 1 } },
  );
  admin.on('error', () => {});
  await new Promise((resolve) => admin.once('ready', resolve));

  async function primaryOf(keyOrChannel: string) {
    const slot = Number(await admin.cluster('KEYSLOT', keyOrChannel));
    for (const port of dataPorts) {
      const node = children.get(port);
      if (!node || node.exitCode !== null || node.signalCode !== null) continue;
      // Ask each live primary whether it serves the slot (its own line of CLUSTER NODES).
      const role = (await cli(port, 'role').catch(() => ({ stdout: '' }))).stdout.split('\n')[0]?.trim();
      if (role !== 'master') continue;
      const { stdout: nodes } = await cli(port, 'cluster', 'nodes');
      const me = nodes.split('\n').find((line) => line.includes('myself'));
      const ranges = me?.split(' ').slice(8) ?? [];
      const owns = ranges.some((range) => {
        const [low, high = low] = range.split('-').map(Number) as [number, number?];
        return slot >= low && slot <= (high as number);
      });
      if (owns) return `127.0.0.1:${port}`;
    }
    throw new Error(`no live primary holds slot ${slot}`);
  }

  return {
    nodes: addresses.join(','),
    admin,
    primaryOf,
    async kill(address) {
      const port = Number(address.split(':')[1]);
      const child = children.get(port);
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
    async close() {
      admin.disconnect();
      await Promise.all(
        [...children.values()].map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGKILL');
          await exited;
        }),
      );
      await run('rm', ['-rf', dir]);
    },
  };
}
