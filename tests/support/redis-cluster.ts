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
  /** The primaries (`127.0.0.1:<port>`) alive now. */
  primaries(): Promise<string[]>;
  /**
   * Moves one slot and its keys from the primary that holds it to `to`, the way an operator's
   * `redis-cli --cluster reshard` does: SETSLOT IMPORTING on the target, MIGRATING on the
   * source, MIGRATE of its keys, then SETSLOT NODE on the target, the source and every other
   * primary. The source then pushes SUNSUBSCRIBE to its subscribers of that slot's channels.
   */
  migrateSlot(slot: number, to: string): Promise<void>;
  /** How many connections hold a sharded subscription to the channel on this primary (PUBSUB SHARDNUMSUB). */
  shardSubscribers(address: string, channel: string): Promise<number>;
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

  const portOf = (address: string) => Number(address.split(':')[1]);
  /** This node's own line of CLUSTER NODES: `<id> <addr> myself,master - … <slot ranges…>`. */
  const myself = async (port: number) =>
    (await cli(port, 'cluster', 'nodes')).stdout.split('\n').find((line) => line.includes('myself')) ?? '';

  async function primaries() {
    const found: string[] = [];
    for (const port of dataPorts) {
      const node = children.get(port);
      if (!node || node.exitCode !== null || node.signalCode !== null) continue;
      const role = (await cli(port, 'role').catch(() => ({ stdout: '' }))).stdout.split('\n')[0]?.trim();
      if (role === 'master') found.push(`127.0.0.1:${port}`);
    }
    return found;
  }

  /** The live primary that serves a slot number now (it lists the slot in its own CLUSTER NODES line). */
  async function slotOwner(slot: number) {
    for (const address of await primaries()) {
      const ranges = (await myself(portOf(address))).split(' ').slice(8);
      const owns = ranges.some((range) => {
        const [low, high = low] = range.split('-').map(Number) as [number, number?];
        return slot >= low && slot <= (high as number);
      });
      if (owns) return address;
    }
    throw new Error(`no live primary holds slot ${slot}`);
  }

  const primaryOf = async (keyOrChannel: string) => slotOwner(Number(await admin.cluster('KEYSLOT', keyOrChannel)));

  async function migrateSlot(slot: number, to: string) {
    const from = portOf(await slotOwner(slot));
    const target = portOf(to);
    if (from === target) return;
    const idOf = async (port: number) => (await myself(port)).split(' ')[0] ?? '';
    const [fromId, targetId] = await Promise.all([idOf(from), idOf(target)]);
    await cli(target, 'cluster', 'setslot', String(slot), 'importing', fromId);
    await cli(from, 'cluster', 'setslot', String(slot), 'migrating', targetId);
    for (;;) {
      const listed = await cli(from, 'cluster', 'getkeysinslot', String(slot), '100');
      const keys = listed.stdout.split('\n').filter(Boolean);
      if (keys.length === 0) break;
      await cli(from, 'migrate', '127.0.0.1', String(target), '', '0', '5000', 'keys', ...keys);
    }
    // The target first (it must own the slot before anyone is sent there), then the source, then the rest.
    const others = (await primaries()).map(portOf).filter((port) => port !== from && port !== target);
    for (const port of [target, from, ...others]) await cli(port, 'cluster', 'setslot', String(slot), 'node', targetId);
  }

  return {
    nodes: addresses.join(','),
    admin,
    primaryOf,
    primaries,
    migrateSlot,
    async shardSubscribers(address, channel) {
      // redis-cli prints the reply's two elements on two lines: the channel, then its count.
      const { stdout } = await cli(portOf(address), 'pubsub', 'shardnumsub', channel);
      return Number(stdout.trim().split('\n')[1]);
    },
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
