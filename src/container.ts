import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { connectRedis, createRedisClient, redisAnswers } from './cache/client.js';
import type { Config } from './config.js';
import { createApp } from './http/app.js';
import { createLogger, type Logger } from './logger.js';
import { createAccountService } from './services/accounts.js';
import { createGroupService } from './services/groups.js';
import { createMessagingService } from './services/messaging.js';
import { createTokenService } from './services/tokens.js';
import { createCassandraClient, createDb } from './store/client.js';
import { createGroupRepository } from './store/groups.js';
import { createIdempotencyRepository } from './store/idempotency.js';
import { createMessageRepository } from './store/messages.js';
import { createReceiptRepository } from './store/receipts.js';
import { createUserRepository } from './store/users.js';

/**
 * The one composition root: builds every client, repository and service once, and returns them
 * with a close() that tears down in reverse order. Nothing here runs at import time.
 */
export async function createContainer(config: Config, options: { logger?: Logger } = {}) {
  const nodeId = config.nodeId ?? `node-${randomBytes(4).toString('hex')}`;
  const logger = options.logger ?? createLogger({ ...config, nodeId });

  const cassandra = await connectWithRetries(
    'cassandra',
    async () => {
      // A fresh client per attempt: a client whose first connect failed is not reused.
      const client = createCassandraClient(config.cassandra);
      try {
        await client.connect();
        return client;
      } catch (error) {
        await client.shutdown().catch(() => {});
        throw error;
      }
    },
    config,
    logger,
  );
  const db = createDb(cassandra);

  const redis = createRedisClient(config.redis, logger, `switchboard:${nodeId}:cmd`);
  // Redis is not required to serve: start degraded when it is away and let it reconnect.
  if (!(await connectRedis(redis, Math.max(2000, config.startup.retryDelayMs * 2)))) {
    logger.warn({ url: redactUrl(config.redis.url) }, 'redis not reachable at start; serving without cache');
  }

  const users = createUserRepository(db);
  const groupsRepo = createGroupRepository(db);
  const messagesRepo = createMessageRepository(db);
  const receiptsRepo = createReceiptRepository(db);
  const idempotency = createIdempotencyRepository(db);

  const tokens = createTokenService({ secret: config.auth.jwtSecret, ttlSeconds: config.auth.jwtTtlSeconds });
  const accounts = createAccountService({ users, tokens });
  const groups = createGroupService({ groups: groupsRepo, users, maxMembers: config.groups.maxMembers });
  const messaging = createMessagingService({
    messages: messagesRepo,
    receipts: receiptsRepo,
    groups: groupsRepo,
    users,
    idempotency,
    bucketMs: config.messages.bucketMs,
  });

  const health = {
    cassandra: async () => {
      await db.execute('SELECT release_version FROM system.local', [], { idempotent: true });
      return true;
    },
    redis: () => redisAnswers(redis),
  };

  // Parts that need the listening HTTP server (the WebSocket gateway) register here; drainers
  // run first on shutdown (e.g. closing sockets with 1001) while in-flight requests finish.
  const attachers: Array<(server: Server) => void> = [];
  const drainers: Array<() => Promise<void>> = [];

  const app = createApp({
    logger,
    tokens,
    accounts,
    groups,
    messaging,
    health,
    bodyLimitBytes: config.http.bodyLimitBytes,
    maxGroupMembers: config.groups.maxMembers,
  });

  return {
    nodeId,
    logger,
    app,
    deps: { config, logger, tokens, accounts, groups, messaging, redis, cassandra, db, users, health },
    /** Connects server-bound parts (WebSocket upgrade) to the listening server. */
    attach(server: Server) {
      for (const attach of attachers) attach(server);
    },
    /** First step of a graceful stop: tell connected clients to go elsewhere. */
    async drain() {
      await Promise.all(drainers.map((drain) => drain().catch(() => {})));
    },
    /** Last step: close clients in reverse order of creation. */
    async close() {
      redis.disconnect();
      await cassandra.shutdown();
    },
  };
}

export type Container = Awaited<ReturnType<typeof createContainer>>;

async function connectWithRetries<T>(name: string, connect: () => Promise<T>, config: Config, logger: Logger) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect();
    } catch (error) {
      if (attempt >= config.startup.retries) {
        throw new Error(`${name} did not answer after ${attempt + 1} attempts: ${(error as Error).message}`);
      }
      logger.warn({ attempt: attempt + 1, of: config.startup.retries + 1 }, `waiting for ${name}`);
      await new Promise((resolve) => setTimeout(resolve, config.startup.retryDelayMs));
    }
  }
}

const redactUrl = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');
