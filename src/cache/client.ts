import { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

export type RedisClient = Redis;

/**
 * A Redis connection tuned for a cache that must never take the API down: commands time out
 * fast, fail at once while disconnected (no offline queue piling up), and the client keeps
 * reconnecting in the background so the cache recovers by itself.
 */
export function createRedisClient(
  config: Config['redis'],
  logger: Logger,
  name: string,
  options: {
    /**
     * A pub/sub subscriber connection: it does not resubscribe by itself after a reconnect. Its
     * owner (realtime/bus.ts) subscribes exactly what it still needs; ioredis's own list would
     * also bring back channels whose UNSUBSCRIBE was refused while Redis was away.
     */
    subscriber?: boolean;
  } = {},
): Redis {
  const client = new Redis(config.url, {
    autoResubscribe: !options.subscriber,
    connectionName: name,
    commandTimeout: config.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    // CLIENT SETINFO is unknown to Redis 7.0 (Debian bookworm): skip it rather than log an error.
    disableClientInfo: true,
    connectTimeout: 2000,
    lazyConnect: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
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
  return client;
}

/** Waits until the client is connected (ioredis keeps retrying); resolves false on timeout. */
export async function connectRedis(client: Redis, timeoutMs: number): Promise<boolean> {
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

export async function redisAnswers(client: Redis): Promise<boolean> {
  if (client.status !== 'ready') return false;
  return (await client.ping()) === 'PONG';
}
