/**
 * The environment integration tests run with: the real local Cassandra and Redis, a keyspace
 * of their own, a fixed test secret. Overrides per test (e.g. a tiny MESSAGE_BUCKET_MS).
 */
export const TEST_KEYSPACE = process.env.TEST_CASSANDRA_KEYSPACE ?? 'switchboard_test';
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256!!';

/**
 * `TEST_REDIS_TOPOLOGY=cluster`: the servers under test use the Redis Cluster of
 * `docker/native/stack.sh up redis-cluster` (TEST_REDIS_CLUSTER_NODES, default its six loopback
 * ports) instead of the single Redis. docker/native/test.sh runs the Redis-facing suites so too.
 */
export const TEST_REDIS_CLUSTER = process.env.TEST_REDIS_TOPOLOGY === 'cluster';
export const TEST_REDIS_CLUSTER_NODES =
  process.env.TEST_REDIS_CLUSTER_NODES ??
  [0, 1, 2, 3, 4, 5].map((i) => `127.0.0.1:${Number(process.env.REDIS_CLUSTER_BASE_PORT ?? 7101) + i}`).join(',');

export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    CASSANDRA_CONTACT_POINTS: process.env.CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:9042',
    CASSANDRA_KEYSPACE: TEST_KEYSPACE,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    // A test that names its own Redis (a private redis-server, a proxy in front of one) keeps it.
    ...(TEST_REDIS_CLUSTER && !overrides.REDIS_URL
      ? {
          REDIS_CLUSTER_NODES: TEST_REDIS_CLUSTER_NODES,
          // Six redis-server processes, two API nodes, Cassandra and the test runner share two
          // cores in CI, and the tests are about cluster semantics, not that contention: Redis
          // commands get 1 s there (REDIS_COMMAND_TIMEOUT_MS overrides it, e.g. 100, the default).
          // At 100 ms the presence-order test used to fail 1 run in 3 because of a real bug (a
          // timed-out close left a phantom connection until its TTL), fixed in cache/presence.ts.
          REDIS_COMMAND_TIMEOUT_MS: process.env.REDIS_COMMAND_TIMEOUT_MS ?? '1000',
        }
      : {}),
    JWT_SECRET: TEST_JWT_SECRET,
    STARTUP_RETRIES: '3',
    STARTUP_RETRY_DELAY_MS: '500',
    // The suite drives hundreds of users from 127.0.0.1; the rate-limit tests turn limits on.
    RATE_LIMIT_ENABLED: 'false',
    ...overrides,
  };
}
