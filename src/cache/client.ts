import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

/**
 * One Redis or a Redis Cluster: every caller uses only commands both run the same way (single-key
 * commands, scripts whose keys share one hash tag, pipelines — ioredis splits a pipeline per
 * slot on a cluster — and SPUBLISH/SSUBSCRIBE for pub/sub on a cluster). No MULTI across keys.
 */
export type RedisClient = Redis | Cluster;

/** Which kind of deployment a client talks to. */
export const isCluster = (client: RedisClient): client is Cluster => client instanceof Cluster;

/**
 * A Redis connection tuned for a cache that must never take the API down: commands time out
 * fast, fail at once while disconnected (no offline queue piling up), and the client keeps
 * reconnecting in the background so the cache recovers by itself. With `config.clusterNodes`
 * it is an ioredis `Cluster` with the same options on every node connection.
 */
export function createRedisClient(
  config: Config['redis'],
  logger: Logger,
  name: string,
  options: {
    /**
     * A pub/sub subscriber connection: it does not resubscribe by itself after a reconnect. Its
     * owner (realtime/bus.ts) subscribes exactly what it still needs; ioredis's own list would
     * also bring back channels whose UNSUBSCRIBE was refused while Redis was away. On a cluster
     * it is a sharded subscriber group (one connection per primary, SSUBSCRIBE), which
     * ioredis resubscribes itself after a topology change (the bus treats that as a possible gap).
     */
    subscriber?: boolean;
  } = {},
): RedisClient {
  const retryStrategy = (attempt: number) => Math.min(50 * 2 ** attempt, 2000);
  const common: RedisOptions = {
    connectionName: name,
    commandTimeout: config.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    // CLIENT SETINFO is unknown to Redis 7.0 (Debian bookworm): skip it rather than log an error.
    disableClientInfo: true,
    connectTimeout: 2000,
  };
  const client: RedisClient = config.clusterNodes
    ? new Cluster(config.clusterNodes, {
        redisOptions: { ...common, autoResubscribe: !options.subscriber },
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        lazyConnect: true,
        // Reconnect forever (the whole cluster away): like the single client's retryStrategy.
        clusterRetryStrategy: retryStrategy,
        // MOVED/ASK redirections and TRYAGAIN during a slot migration or failover: a few quick
        // retries inside the command timeout rather than an error.
        retryDelayOnMoved: 20,
        retryDelayOnFailover: 100,
        retryDelayOnTryAgain: 100,
        maxRedirections: 4,
        slotsRefreshTimeout: 1000,
        // Also refresh the slot map periodically: a map left stale after a failover (a refresh
        // that ran before the replica was promoted) is corrected within this, and the sharded
        // subscribers move their channels to the new owner.
        slotsRefreshInterval: 3000,
        // The subscriber: SSUBSCRIBE on the primary of each channel's slot (Redis ≥ 7).
        shardedSubscribers: options.subscriber === true,
      })
    : new Redis(config.url, {
        ...common,
        autoResubscribe: !options.subscriber,
        enableAutoPipelining: true,
        lazyConnect: true,
        retryStrategy,
      });
  let reported = false;
  client.on('error', (error) => {
    // ioredis emits an error per failed reconnect; log the first of each outage only.
    if (!reported) logger.warn({ err: error, redis: name }, 'redis connection error');
    reported = true;
  });
  client.on('ready', () => {
    if (reported) logger.info({ redis: name }, 'redis connection restored');
    reported = false;
  });
  if (isCluster(client)) client.on('node error', () => {});
  return client;
}

/** Waits until the client is connected (ioredis keeps retrying); resolves false on timeout. */
export async function connectRedis(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return true;
  if (client.status === 'wait') client.connect().catch(() => {});
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', onReady);
  });
}

export async function redisAnswers(client: RedisClient): Promise<boolean> {
  if (client.status !== 'ready') return false;
  return (await client.ping()) === 'PONG';
}
