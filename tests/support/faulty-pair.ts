import { type RedisChild, startRedisChild } from './redis-server.js';
import { type ServerProcess, startServerProcess } from './server.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/**
 * The randomized sync tests' cluster: two API node processes on a private redis-server (the test
 * kills and restarts it), node B reaching Cassandra through a TCP proxy the test slows down.
 */
export interface FaultyPair {
  redis: RedisChild;
  slowLink: TcpProxy;
  nodeA: ServerProcess;
  nodeB: ServerProcess;
  close(): Promise<void>;
}

export async function startFaultyPair(sendDeadlineMs: number): Promise<FaultyPair> {
  const redis = await startRedisChild();
  const slowLink = await startTcpProxy('127.0.0.1', 9042);
  const common = { REDIS_URL: redis.url, SEND_DEADLINE_MS: String(sendDeadlineMs) };
  const [nodeA, nodeB] = await Promise.all([
    startServerProcess(common),
    startServerProcess({ ...common, CASSANDRA_CONTACT_POINTS: `127.0.0.1:${slowLink.port}` }),
  ]);
  return {
    redis,
    slowLink,
    nodeA,
    nodeB,
    async close() {
      // SIGTERM, not SIGKILL: a killed node's sync row would hold every other test's catch-up back
      // until it is reaped (tests/support/sync.ts, CATCH_UP_WITHIN_MS); a stopped node marks it left.
      await Promise.all([nodeA.stop('SIGTERM'), nodeB.stop('SIGTERM')]);
      await slowLink.close();
      await redis.close();
    },
  };
}
