import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { type Config, loadConfig } from '../../../src/config.js';
import { type CassandraClient, createCassandraClient } from '../../../src/store/client.js';
import { migrate } from '../../../src/store/migrations.js';
import { type ServerProcess, startServerProcess } from '../../support/server.js';

/**
 * Everything the benchmark starts and stops: the shared services (started if down, never
 * stopped), bench keyspaces (dropped and re-created each run), and API server processes.
 */
export const REPO = new URL('../../../', import.meta.url).pathname;
/** BENCH_KEYSPACE / BENCH_REDIS_PREFIX let two benches share one Cassandra and Redis without clobbering each other. */
export const BENCH_KEYSPACE = process.env.BENCH_KEYSPACE ?? 'switchboard_bench';
export const GROWTH_KEYSPACE = 'switchboard_bench_growth';
export const BENCH_REDIS_PREFIX = process.env.BENCH_REDIS_PREFIX ?? 'sbbench';
export const BENCH_JWT_SECRET = 'switchboard-bench-secret-not-for-production-use-0123456789';

/**
 * Rate limits with every quota at the largest value config.ts accepts: the limiters run on every
 * request (a Redis counter per policy) but never refuse one. `npm run bench -- --limits` starts
 * the nodes with these, and the `limiter` scenario compares a node with them to one without, to
 * measure what the limiter costs rather than what it refuses.
 */
export const UNREACHABLE_LIMITS: Record<string, string> = {
  RATE_LIMIT_ENABLED: 'true',
  REST_IP_LIMIT: '10000000',
  REST_USER_LIMIT: '10000000',
  REGISTER_IP_LIMIT: '1000000',
  LOGIN_IP_LIMIT: '1000000',
  LOGIN_IP_MAX_FAILURES: '1000000',
  LOGIN_ACCOUNT_MAX_FAILURES: '1000000',
  SEND_BURST_LIMIT: '1000000',
  SEND_SUSTAINED_LIMIT: '10000000',
};

/**
 * The API's environment for a bench node: production mode, quiet logs, a bench keyspace, and
 * rate limits off (RATE_LIMIT_ENABLED=false): the bench drives thousands of users from
 * 127.0.0.1, which the per-address limits would refuse. Pass UNREACHABLE_LIMITS to turn them on.
 */
export function benchEnv(keyspace: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    CASSANDRA_CONTACT_POINTS: process.env.CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:9042',
    CASSANDRA_KEYSPACE: keyspace,
    // The cluster topology's ring (docker/native/cluster.sh env): its RF 3 keyspace for the cluster bench.
    ...(process.env.CASSANDRA_REPLICATION ? { CASSANDRA_REPLICATION: process.env.CASSANDRA_REPLICATION } : {}),
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: BENCH_REDIS_PREFIX,
    JWT_SECRET: BENCH_JWT_SECRET,
    STARTUP_RETRIES: '60',
    STARTUP_RETRY_DELAY_MS: '1000',
    GROUP_MAX_MEMBERS: '1000',
    RATE_LIMIT_ENABLED: 'false',
    ...overrides,
  };
}

export const benchConfig = (keyspace: string): Config => loadConfig(benchEnv(keyspace));

/** `docker/native/stack.sh up`: reuses running Cassandra and Redis, starts them when down. */
export function ensureServices(): void {
  execFileSync('bash', ['docker/native/stack.sh', 'up'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
}

/** Drops a bench keyspace and applies cql/ to it afresh, so every run starts from the same state. */
export async function resetKeyspace(keyspace: string): Promise<void> {
  await withAdminClient(keyspace, async (client, config) => {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    await migrate(client, { dir: `${REPO}cql/`, keyspace, replication: config.cassandra.replication });
  });
}

/** Drops a bench keyspace (the growth data: no need to leave 10^6 rows in a shared Cassandra). */
export async function dropKeyspace(keyspace: string): Promise<void> {
  await withAdminClient(keyspace, (client) => client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`));
}

async function withAdminClient(keyspace: string, work: (client: CassandraClient, config: Config) => Promise<unknown>) {
  if (!keyspace.startsWith('switchboard_bench')) throw new Error(`refusing to drop ${keyspace}: not a bench keyspace`);
  const config = benchConfig(keyspace);
  const client = createCassandraClient(config.cassandra, { keyspace: false });
  try {
    await client.connect();
    await work(client, config);
  } finally {
    await client.shutdown();
  }
}

/** A driver client with the app's own settings (pooling, prepared, consistency) on a keyspace. */
export async function connectCassandra(keyspace: string): Promise<CassandraClient> {
  const client = createCassandraClient(benchConfig(keyspace).cassandra);
  await client.connect();
  return client;
}

export function connectRedis(): Redis {
  return new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: false });
}

/** Deletes the bench's Redis keys (prefix `sbbench:`), leaving everyone else's alone. */
export async function flushBenchKeys(redis: Redis): Promise<number> {
  return deleteMatching(redis, `${BENCH_REDIS_PREFIX}:*`);
}

/** How many Redis keys match a pattern (SCAN, never KEYS). */
export async function countKeys(redis: Redis, pattern: string): Promise<number> {
  let count = 0;
  for await (const keys of redis.scanStream({ match: pattern, count: 1000 })) count += (keys as string[]).length;
  return count;
}

async function deleteMatching(redis: Redis, pattern: string): Promise<number> {
  let deleted = 0;
  for await (const keys of redis.scanStream({ match: pattern, count: 1000 })) {
    if ((keys as string[]).length > 0) deleted += await redis.unlink(...(keys as string[]));
  }
  return deleted;
}

export interface ApiNode {
  name: string;
  url: string;
  /** The node's Prometheus listener (METRICS_PORT). */
  metricsUrl: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts `node --import tsx src/main.ts` on a free loopback port and waits for /readyz. With
 * `profileDir`, the node writes a V8 CPU profile there when it stops (`--cpu-prof`).
 */
export async function startApiNode(
  name: string,
  keyspace: string,
  options: { profileDir?: string | undefined; env?: Record<string, string> } = {},
): Promise<ApiNode> {
  // --cpu-prof is refused in NODE_OPTIONS: it goes on the node command line. No fixed file name:
  // tsx's loader thread writes a profile too, and each thread needs its own file.
  const nodeArgs = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}/${name}`] : [];
  const server: ServerProcess = await startServerProcess(
    benchEnv(keyspace, { NODE_ID: `bench-${name}`, ...options.env }),
    { nodeArgs },
  );
  const pid = server.child.pid;
  if (pid === undefined) throw new Error(`API node ${name} has no pid`);
  return {
    name,
    url: server.url,
    metricsUrl: server.metricsUrl,
    port: server.port,
    pid,
    async stop() {
      const code = await server.stop('SIGTERM');
      if (code !== 0) process.stderr.write(`bench: API node ${name} exited with ${code}\n${server.output()}\n`);
    },
  };
}

/** The live pid in a pid file, or undefined. */
function livePid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/**
 * The pids of the natively started Cassandra: the single node's, or else the cluster topology's
 * three (docker/native/cluster.sh), whose CPU a measurement adds up; empty when it runs elsewhere.
 */
export function cassandraPids(): number[] {
  const dir = process.env.SWITCHBOARD_NATIVE_DIR ?? `${REPO}.native`;
  const single = livePid(`${dir}/cassandra/cassandra.pid`);
  if (single !== undefined) return [single];
  return [1, 2, 3].map((n) => livePid(`${dir}/cluster/cassandra${n}/cassandra.pid`)).filter((pid) => pid !== undefined);
}
