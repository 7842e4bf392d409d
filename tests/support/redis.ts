import { Cluster, Redis } from 'ioredis';
import { TEST_REDIS_CLUSTER, TEST_REDIS_CLUSTER_NODES } from './env.js';

/**
 * Tests that look at Redis directly (keys, channels, publishing as another node would) do it
 * through these, so they run unchanged on the single Redis and on the Redis Cluster
 * (TEST_REDIS_TOPOLOGY=cluster, see env.ts).
 */
export type TestRedis = Redis | Cluster;

const clusterNodes = () =>
  TEST_REDIS_CLUSTER_NODES.split(',').map((node) => {
    const [host = '127.0.0.1', port = '0'] = node.split(':');
    return { host, port: Number(port) };
  });

/** A plain client of the Redis the servers under test use. */
export function testRedis(options: { maxRetriesPerRequest?: number } = {}): TestRedis {
  const client = TEST_REDIS_CLUSTER
    ? new Cluster(clusterNodes(), { redisOptions: { ...options }, shardedSubscribers: true })
    : new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { ...options });
  client.on('error', () => {});
  return client;
}

/** Publishes as a node does: PUBLISH on one Redis, SPUBLISH on a cluster. */
export function publishAsNode(client: TestRedis, channel: string, message: string): Promise<number> {
  return (TEST_REDIS_CLUSTER ? client.spublish(channel, message) : client.publish(channel, message)) as Promise<number>;
}

/** How many connections are subscribed to a channel (summed over a cluster's primaries). */
export async function channelSubscribers(client: TestRedis, channel: string): Promise<number> {
  if (client instanceof Cluster) {
    let total = 0;
    for (const node of client.nodes('master')) {
      const [, count] = (await node.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
      total += Number(count);
    }
    return total;
  }
  const [, count] = (await client.pubsub('NUMSUB', channel)) as [string, number];
  return Number(count);
}

/**
 * Listens to exactly these channels (a cluster has no pattern subscriptions for sharded
 * channels); `on` gets each message. Resolves once subscribed; call the result to stop.
 */
export async function listenTo(
  client: TestRedis,
  channels: readonly string[],
  on: (channel: string, raw: string) => void,
): Promise<() => Promise<void>> {
  if (client instanceof Cluster) {
    client.on('smessage', on);
    for (const channel of channels) await client.ssubscribe(channel);
    return async () => {
      for (const channel of channels) await client.sunsubscribe(channel);
      client.off('smessage', on);
    };
  }
  client.on('message', on);
  await client.subscribe(...channels);
  return async () => {
    await client.unsubscribe(...channels);
    client.off('message', on);
  };
}
