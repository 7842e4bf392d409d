import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { buildAsyncApiDocument } from './asyncapi.js';
import { connectRedis, createRedisClient, redisAnswers } from './cache/client.js';
import { createCacheCounters } from './cache/counters.js';
import { createKeys } from './cache/keys.js';
import { createCacheLayer } from './cache/layer.js';
import { createPresenceStore } from './cache/presence.js';
import type { Config } from './config.js';
import { createTrustedProxies } from './domain/client-address.js';
import { createApp } from './http/app.js';
import { createMetricsApp } from './http/metrics-app.js';
import { answerClientErrors } from './http/node-server.js';
import { createRateLimits } from './limits/rate-limits.js';
import { createLogger, type Logger } from './logger.js';
import { instrumentMessaging } from './observability/messaging.js';
import { createMetrics } from './observability/metrics.js';
import { instrumentRedis } from './observability/redis.js';
import { createRedisBus } from './realtime/bus.js';
import { presenceChanged } from './realtime/events.js';
import { createRealtime } from './realtime/index.js';
import { createAccountService } from './services/accounts.js';
import { createBlockService } from './services/blocks.js';
import { createGroupService } from './services/groups.js';
import { createMessagingService } from './services/messaging.js';
import { createPresencePolicy } from './services/presence-policy.js';
import { createSessionCheck, createSessionService } from './services/sessions.js';
import { createSync } from './services/sync/index.js';
import { createTokenService } from './services/tokens.js';
import { createBlockRepository } from './store/blocks.js';
import { createCassandraClient, createDb } from './store/client.js';
import { createConversationRepository } from './store/conversations.js';
import { createGroupRepository } from './store/groups.js';
import { createIdempotencyRepository } from './store/idempotency.js';
import { createInboxRepository } from './store/inbox.js';
import { createMessageChangeRepository } from './store/message-changes.js';
import { createMessageMutationRepository } from './store/message-mutations.js';
import { createMessageRepository } from './store/messages.js';
import { createPendingSendRepository } from './store/pending-sends.js';
import { createReceiptRepository } from './store/receipts.js';
import { createSessionRepository } from './store/sessions.js';
import { createSyncPositionRepository } from './store/sync-positions.js';
import { createThreadRepository, messageRows } from './store/threads.js';
import { createUserRepository } from './store/users.js';
import { createGateway } from './ws/gateway.js';
import { createSettledNotices, SETTLED_CLOCK_MARGIN_MS } from './ws/settled-notices.js';

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
  const metrics = createMetrics();
  const db = createDb(cassandra, { observe: metrics.cassandra });

  const redis = instrumentRedis(createRedisClient(config.redis, logger, `switchboard:${nodeId}:cmd`), metrics.redis);
  // Redis is not required to serve: start degraded when it is away and let it reconnect.
  if (!(await connectRedis(redis, Math.max(2000, config.startup.retryDelayMs * 2)))) {
    const where = config.redis.clusterNodes
      ? { clusterNodes: config.redis.clusterNodes.map(({ host, port }) => `${host}:${port}`).join(',') }
      : { url: redactUrl(config.redis.url) };
    logger.warn(where, 'redis not reachable at start; serving without cache');
  }

  const users = createUserRepository(db);
  const groupsRepo = createGroupRepository(db);
  const messagesRepo = createMessageRepository(db);
  const threadsRepo = createThreadRepository(db);
  const receiptsRepo = createReceiptRepository(db);
  const idempotency = createIdempotencyRepository(db);
  const conversations = createConversationRepository(db);
  const sessionsRepo = createSessionRepository(db);
  const inbox = createInboxRepository(db);

  // Sync cursors (src/services/sync/): this node's row in sync_positions, the stable position
  // catch-up reads stop at, and the guard every send goes through. Joined before serving.
  const sync = createSync({
    baseNodeId: nodeId,
    positions: createSyncPositionRepository(db),
    pending: createPendingSendRepository(db),
    // A thread reply's row is in thread_messages: the guard and reaper abort it there.
    messages: messageRows(messagesRepo, threadsRepo),
    idempotency,
    timings: { reportIntervalMs: config.sync.reportIntervalMs, nodeTimeoutMs: config.sync.nodeTimeoutMs },
    sendDeadlineMs: config.sync.sendDeadlineMs,
    bucketMs: config.messages.bucketMs,
    clockOffsetMs: config.sync.testClockOffsetMs,
    logger,
    observer: metrics,
  });
  await sync.start();

  // The Redis cache (CACHE_ENABLED): read-through windows, receipts and members whose guarantee
  // is a time bound that holds whatever Redis does (src/cache/README.md).
  const keys = createKeys(config.redis.keyPrefix);
  const cacheCounters = createCacheCounters();
  metrics.useCacheCounts(cacheCounters.entries);
  const caches = config.cache.enabled
    ? createCacheLayer({ redis, keys, counters: cacheCounters, config: config.cache })
    : undefined;

  // Real time (src/realtime/): a dedicated subscriber connection for the bus (a subscribed
  // connection runs nothing else), presence in Redis, and the layer that implements the
  // conversation/membership hooks, the presence reader and the gateway's port.
  const subscriber = createRedisClient(
    { ...config.redis, commandTimeoutMs: Math.max(config.redis.commandTimeoutMs, 2000) },
    logger,
    `switchboard:${nodeId}:sub`,
    { subscriber: true },
  );
  // A possible gap (subscriptions lost and restored, a publish given up) is logged and counted,
  // and the affected connections are told to resync (src/realtime/gaps.ts).
  const bus = createRedisBus({ publisher: redis, subscriber, nodeId, logger, observer: metrics });
  const realtime = createRealtime({
    bus,
    // Presence changes are published by the Redis scripts that make them, in the bus's envelope.
    presence: createPresenceStore({
      redis,
      keys,
      ttlSeconds: config.ws.presenceTtlSeconds,
      nodeId,
      encode: (presence) => bus.encode(presenceChanged(presence)),
      publishCommand: bus.publishCommand,
    }),
    groups: groupsRepo,
    // A group receipt is addressed to the senders of the messages it covers (realtime/fanout.ts).
    senders: {
      async between(conversationId, afterId, upToId, limit) {
        const page = await messagesRepo.page({
          conversationId,
          lowId: afterId ?? MIN_MESSAGE_ID,
          highId: upToId,
          exclude: afterId ?? undefined,
          order: 'desc',
          limit,
        });
        return page.map((message) => ({ id: message.id, senderId: message.senderId }));
      },
    },
    channels: keys,
    logger,
    refreshMs: Math.min(config.ws.heartbeatMs, Math.floor((config.ws.presenceTtlSeconds * 1000) / 3)),
    reconcileMs: config.ws.membershipReconcileMs,
    observer: metrics,
  });
  realtime.start();

  // Blocks: the one-to-one send check (cached per node for BLOCK_CHECK_CACHE_MS, the bound on a
  // block taking effect elsewhere), group additions and presence; a block drops live presence
  // watches of the blocker on every node through the blocked user's channel.
  const blocks = createBlockService({
    blocks: createBlockRepository(db),
    users,
    maxPerUser: config.blocks.maxPerUser,
    checkCacheMs: config.blocks.checkCacheMs,
    listener: realtime,
  });

  const presencePolicy = createPresencePolicy({
    visibility: config.ws.presenceVisibility,
    groups: groupsRepo,
    conversations,
    blocks,
  });

  // Access tokens are checked against their session (user exists, not revoked, not logged out
  // everywhere); each node trusts a check for AUTH_CHECK_CACHE_MS, the bound on revocation.
  const tokens = createTokenService({
    secret: config.auth.jwtSecret,
    ttlSeconds: config.auth.jwtTtlSeconds,
    sessions: createSessionCheck({ users, sessions: sessionsRepo }),
    checkCacheMs: config.auth.checkCacheMs,
  });
  const sessions = createSessionService({
    sessions: sessionsRepo,
    users,
    tokens,
    refreshTtlSeconds: config.auth.refreshTtlSeconds,
    // An ended session's open sockets close on every node at once (a notice on the user's channel).
    listener: realtime,
  });
  const accounts = createAccountService({ users, sessions, tokens });
  const groups = createGroupService({
    groups: groupsRepo,
    users,
    inbox,
    maxMembers: config.groups.maxMembers,
    events: realtime,
    blocks,
    listener: {
      // The members cache first (best effort, never rejects): a member told of the change by
      // real time may read at once.
      async membershipChanged(groupId, userId, change, outcome) {
        await caches?.members.forget(groupId);
        await realtime.membershipChanged(groupId, userId, change, outcome);
      },
    },
  });
  const messaging = instrumentMessaging(
    createMessagingService({
      messages: messagesRepo,
      threads: threadsRepo,
      mutations: createMessageMutationRepository(db),
      changes: createMessageChangeRepository(db),
      receipts: receiptsRepo,
      groups: groupsRepo,
      users,
      idempotency,
      conversations,
      inbox,
      ownChangeMarginMs: config.inbox.ownChangeMarginMs,
      guard: sync.guard,
      position: sync.position,
      bucketMs: config.messages.bucketMs,
      events: realtime,
      blocks,
      ...(caches
        ? {
            recent: caches.recent,
            receiptsCache: caches.receipts,
            membersCache: caches.members,
            threadsCache: caches.threads,
          }
        : {}),
    }),
    metrics,
  );

  const health = {
    cassandra: async () => {
      await db.execute('SELECT release_version FROM system.local', [], { idempotent: true });
      return true;
    },
    redis: () => redisAnswers(redis),
    sync: () => sync.holdsLease(),
  };

  // Parts that need the listening HTTP server (the WebSocket gateway) register here; drainers
  // run first on shutdown (e.g. closing sockets with 1001) while in-flight requests finish.
  const attachers: Array<(server: Server) => void> = [];
  const drainers: Array<() => Promise<void>> = [];
  attachers.push((server) => answerClientErrors(server, logger));
  // `settled` frames: once S passes the point a connection subscribed at, it is told to catch up.
  const settled = createSettledNotices({
    now: () => Date.now() + config.sync.testClockOffsetMs,
    marginMs: SETTLED_CLOCK_MARGIN_MS,
    delayMs: 2 * config.sync.reportIntervalMs,
    observer: metrics,
  });
  sync.onAdvance(settled.advanced);
  attachers.push((server) => {
    const gateway = createGateway({
      server,
      config: config.ws,
      tokens,
      messaging,
      realtime,
      presencePolicy,
      logger,
      observer: metrics,
      settled,
      limits: {
        enabled: config.rateLimit.enabled,
        maxConnectionsPerUser: config.rateLimit.ws.maxConnectionsPerUser,
        framesPerSecond: config.rateLimit.ws.framesPerSecond,
        frameBurst: config.rateLimit.ws.frameBurst,
        closeAfterRefusals: config.rateLimit.ws.abuseCloseAfter,
        abuseWindowMs: config.rateLimit.ws.abuseWindowSeconds * 1000,
      },
    });
    drainers.push(() => gateway.drain());
  });

  // Rate limits in Redis, shared by every node (src/limits/rate-limits.ts); none at all when
  // RATE_LIMIT_ENABLED=false. The gateway reuses trustedProxies for its clients' addresses.
  const trustedProxies = createTrustedProxies(config.rateLimit.trustedProxies);
  const rateLimits = config.rateLimit.enabled
    ? createRateLimits({ config: config.rateLimit, redis, keys, logger })
    : undefined;

  const app = createApp({
    logger,
    asyncApiDocument: buildAsyncApiDocument(),
    tokens,
    accounts,
    groups,
    messaging,
    blocks: { service: blocks, maxPerUser: config.blocks.maxPerUser },
    health,
    presence: realtime,
    presencePolicy,
    observer: metrics.http,
    bodyLimitBytes: config.http.bodyLimitBytes,
    maxGroupMembers: config.groups.maxMembers,
    ...(rateLimits ? { rateLimits: { limits: rateLimits, trustedProxies } } : {}),
  });

  // Prometheus on its own listener (main.ts starts it on METRICS_HOST:METRICS_PORT), never on the API port.
  const metricsApp = createMetricsApp({ metrics, token: config.metrics.token });

  return {
    nodeId,
    logger,
    app,
    metricsApp,
    deps: {
      config,
      logger,
      tokens,
      accounts,
      sessions,
      groups,
      blocks,
      messaging,
      redis,
      cassandra,
      db,
      users,
      health,
      metrics,
      caches,
      cacheCounters,
      rateLimits,
      trustedProxies,
      sync,
    },
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
      // First: sends still settling need Cassandra; then the row is marked left so S moves on.
      await sync.stop();
      realtime.stop();
      await bus.close();
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

/** The smallest ULID: a range from the first message on. */
const MIN_MESSAGE_ID = '00000000000000000000000000';

const redactUrl = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');
