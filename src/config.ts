import { z } from 'zod';
import { isAddressOrCidr } from './domain/client-address.js';

/**
 * The whole configuration, parsed once from the environment. Nothing else reads process.env.
 * Every variable is listed with its default in .env.example and in docs/configuration.md.
 */
const CONSISTENCIES = ['ONE', 'LOCAL_ONE', 'QUORUM', 'LOCAL_QUORUM', 'EACH_QUORUM', 'ALL'] as const;

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');
/** A comma-separated list: items trimmed, empty items dropped. */
const commaSeparated = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);
const list = commaSeparated.pipe(z.array(z.string()).min(1));
/** A comma-separated list of IP addresses or CIDR blocks ("10.0.0.0/8, ::1"); may be empty. */
const addressList = commaSeparated.pipe(
  z.array(z.string().refine(isAddressOrCidr, 'must be an IP address or CIDR block (e.g. 10.0.0.0/8)')),
);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: integer(0, 65535).default(3000),
  NODE_ID: z.string().min(1).max(64).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_GRACE_MS: integer(0, 120_000).default(10_000),
  HTTP_HEADERS_TIMEOUT_MS: integer(1000, 300_000).default(10_000),
  HTTP_REQUEST_TIMEOUT_MS: integer(1000, 600_000).default(30_000),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_PORT: integer(0, 65535).default(9464),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  STARTUP_RETRIES: integer(0, 1000).default(30),
  STARTUP_RETRY_DELAY_MS: integer(10, 60_000).default(2000),

  CASSANDRA_CONTACT_POINTS: list.default(['127.0.0.1:9042']),
  CASSANDRA_LOCAL_DC: z.string().min(1).default('datacenter1'),
  CASSANDRA_KEYSPACE: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,47}$/, 'must be a lowercase CQL identifier (letters, digits, _)')
    .default('switchboard'),
  CASSANDRA_REPLICATION: z
    .string()
    .regex(/^\{.*\}$/, "must be a CQL replication map, e.g. {'class': 'SimpleStrategy', 'replication_factor': 1}")
    .default("{'class': 'SimpleStrategy', 'replication_factor': 1}"),
  CASSANDRA_CONSISTENCY: z.enum(CONSISTENCIES).default('LOCAL_QUORUM'),
  CASSANDRA_USERNAME: z.string().optional(),
  CASSANDRA_PASSWORD: z.string().optional(),
  CASSANDRA_REQUEST_TIMEOUT_MS: integer(100, 120_000).default(12_000),
  // Where to reach each ring member instead of the address it gossips (`ip:port=host:port,…`):
  // for nodes behind NAT, or a proxy between this node and the ring (the fault suite's slowed and
  // cut link). The driver learns members from system.peers and connects to them directly, so a
  // proxied contact point alone would not stand between the node and the ring.
  CASSANDRA_ADDRESS_MAP: z
    .string()
    .regex(
      /^$|^\s*[^\s,:=]+:\d+=[^\s,:=]+:\d+(\s*,\s*[^\s,:=]+:\d+=[^\s,:=]+:\d+)*\s*$/,
      'must be ip:port=host:port,ip:port=host:port,…',
    )
    .optional(),

  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  // A Redis Cluster instead (`host:port,host:port,…`, a few of its nodes; the rest are
  // discovered). When set it wins over REDIS_URL (src/cache/README.md, "Redis Cluster").
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(/^$|^\s*[^\s,:]+:\d+(\s*,\s*[^\s,:]+:\d+)*\s*$/, 'must be host:port,host:port,…')
    .optional(),
  REDIS_COMMAND_TIMEOUT_MS: integer(10, 60_000).default(100),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[a-z0-9:_-]*$/)
    .default('sb'),

  JWT_SECRET: z.string().min(32, 'must be at least 32 characters'),
  // Access tokens are short-lived; a client renews them with its refresh token.
  JWT_TTL_SECONDS: integer(60, 60 * 60 * 24).default(15 * 60),
  REFRESH_TOKEN_TTL_SECONDS: integer(300, 60 * 60 * 24 * 365).default(60 * 60 * 24 * 30),
  // How long a node trusts its last "this session is live" answer: the revocation bound.
  AUTH_CHECK_CACHE_MS: integer(0, 60_000).default(5000),

  MESSAGE_BUCKET_MS: integer(60_000, 366 * 24 * 60 * 60 * 1000).default(10 * 24 * 60 * 60 * 1000),
  // Sync cursors (src/services/sync/README.md): how often a node reports its position (the
  // catch-up lag is about two of these), after how long a silent node is reaped (L; a node
  // answers 201 only within L/2 of its last good report), and D, after which an unfinished send
  // is aborted with a delete that beats its insert and answered 503.
  SYNC_REPORT_INTERVAL_MS: integer(10, 10_000).default(100),
  SYNC_NODE_TIMEOUT_MS: integer(1000, 600_000).default(10_000),
  SEND_DEADLINE_MS: integer(100, 120_000).default(5000),
  // Test only (refused unless NODE_ENV=test): skews this node's clock for ids, to show that a
  // node whose clock runs behind costs delay, never a missed message.
  SYNC_TEST_CLOCK_OFFSET_MS: z.coerce.number().int().default(0),
  GROUP_MAX_MEMBERS: integer(2, 100_000).default(1000),
  // Blocking (src/services/blocks.ts): the most users one user may block (GET /users/me/blocks
  // returns them all, so this bounds that answer and the partition), and how long a node trusts
  // its last "has X blocked Y?" answer: a block takes effect on every other node within this.
  BLOCKS_MAX_PER_USER: integer(1, 10_000).default(1000),
  BLOCK_CHECK_CACHE_MS: integer(0, 60_000).default(2000),
  // How far before a syncCursor the inbox's changedSince still reports the caller's own changes
  // (watermark moves, joins, leaves): the longest such a write can take plus clock skew between
  // nodes (src/domain/inbox.ts, changeBounds). Larger repeats more, smaller may miss one.
  INBOX_OWN_CHANGE_MARGIN_MS: integer(0, 3_600_000).default(30_000),
  BODY_LIMIT_BYTES: integer(1024, 10 * 1024 * 1024).default(64 * 1024),

  CACHE_ENABLED: boolean.default(true),
  CACHE_RECENT_MESSAGES: integer(1, 1000).default(50),
  CACHE_STALENESS_MS: integer(100, 60 * 60 * 1000).default(2000),

  WS_HEARTBEAT_MS: integer(1000, 300_000).default(30_000),
  WS_MAX_PAYLOAD_BYTES: integer(1024, 1024 * 1024).default(64 * 1024),
  WS_MAX_BUFFERED_BYTES: integer(1024, 64 * 1024 * 1024).default(1024 * 1024),
  WS_TYPING_MIN_INTERVAL_MS: integer(0, 60_000).default(1000),
  PRESENCE_TTL_SECONDS: integer(5, 3600).default(60),
  PRESENCE_VISIBILITY: z.enum(['shared', 'everyone']).default('shared'),
  // The two per-connection fallbacks (src/ws/README.md, "What an idle connection costs"): each
  // reads Cassandra for every connected user once per interval, so at the former 30 s and 60 s
  // 100,000 idle sockets cost ~6,700 reads/s. Notices (membership, session.ended) and the
  // re-checks after every gap do the work at once; these only catch a notice lost together with
  // its gap announcement (a node that gave up a publish died before Redis came back).
  WS_MEMBERSHIP_RECONCILE_MS: integer(100, 3_600_000).default(300_000),
  WS_ALLOWED_ORIGINS: commaSeparated.default([]),
  WS_SESSION_CHECK_MS: integer(1000, 3_600_000).default(600_000),

  // --- Rate limits (docs/security.md). Counted in Redis so every node shares one budget; an
  // in-memory per-node limit takes over while Redis is away. Windows are fixed windows that
  // start at a subject's first request. Defaults are for production traffic of a chat API:
  // well above what a person (or a NAT full of people) does, far below what a script does. ---
  /** Master switch for every limit, HTTP and WebSocket (off for benchmarks and load tests). */
  RATE_LIMIT_ENABLED: boolean.default(true),
  /** Proxies whose X-Forwarded-For is believed (IPs/CIDRs). Empty: the socket's peer is the client. */
  TRUSTED_PROXIES: addressList.default([]),
  // Consecutive failed logins of one account (from any address) before it is locked. 10 is far
  // above a person's typos and, with the lock, caps a guesser at ~10 tries per 15 minutes per
  // account (~1,000/day) instead of thousands per second. A correct password resets the count.
  LOGIN_ACCOUNT_MAX_FAILURES: integer(1, 1_000_000).default(10),
  LOGIN_ACCOUNT_WINDOW_SECONDS: integer(1, 86_400 * 30).default(3600),
  LOGIN_ACCOUNT_LOCK_SECONDS: integer(1, 86_400 * 30).default(900),
  // Failed logins from one client address, over all accounts (password spraying). Higher than
  // the per-account limit because a NAT or an office shares an address; never reset by a success,
  // so one valid account cannot launder an attacker's failures.
  LOGIN_IP_MAX_FAILURES: integer(1, 1_000_000).default(50),
  LOGIN_IP_FAILURE_WINDOW_SECONDS: integer(1, 86_400 * 30).default(3600),
  LOGIN_IP_LOCK_SECONDS: integer(1, 86_400 * 30).default(3600),
  // Every login attempt from one address, successful or not: a slow ceiling (tokens live a day,
  // so a person logs in a few times a day; 300/hour leaves room for a few hundred behind a NAT).
  LOGIN_IP_LIMIT: integer(1, 1_000_000).default(300),
  LOGIN_IP_WINDOW_SECONDS: integer(1, 86_400 * 30).default(3600),
  // Accounts created from one address: a family or a classroom signs up a handful in an hour; a
  // bot farming accounts wants thousands.
  REGISTER_IP_LIMIT: integer(1, 1_000_000).default(10),
  REGISTER_IP_WINDOW_SECONDS: integer(1, 86_400 * 30).default(3600),
  // Messages one user sends: a burst (pasting lines, a quick exchange: 30 in 10 s is faster than
  // anyone types) and a sustained rate (1,000 an hour ≈ one every 3.6 s for a whole hour).
  SEND_BURST_LIMIT: integer(1, 1_000_000).default(30),
  SEND_BURST_WINDOW_SECONDS: integer(1, 86_400).default(10),
  SEND_SUSTAINED_LIMIT: integer(1, 10_000_000).default(1000),
  SEND_SUSTAINED_WINDOW_SECONDS: integer(1, 86_400 * 7).default(3600),
  // Every /api/v1 request of one signed-in user (a client app polling history, receipts and
  // profiles does a few per second at most) and of one client address (several users behind it).
  REST_USER_LIMIT: integer(1, 10_000_000).default(600),
  REST_USER_WINDOW_SECONDS: integer(1, 86_400).default(60),
  REST_IP_LIMIT: integer(1, 10_000_000).default(1200),
  REST_IP_WINDOW_SECONDS: integer(1, 86_400).default(60),
  // WebSocket limits, enforced by src/ws/ (config lives here so every limit has one place):
  // open connections per user (phone + laptop + tabs), a token bucket of inbound frames per
  // connection (20/s steady, bursts of 40), and how many refused frames within
  // WS_ABUSE_WINDOW_SECONDS close the connection (a client that ignores RATE_LIMITED errors).
  WS_MAX_CONNECTIONS_PER_USER: integer(1, 100_000).default(10),
  WS_FRAMES_PER_SECOND: integer(1, 100_000).default(20),
  WS_FRAME_BURST: integer(1, 1_000_000).default(40),
  WS_ABUSE_CLOSE_AFTER: integer(1, 1_000_000).default(50),
  WS_ABUSE_WINDOW_SECONDS: integer(1, 3600).default(10),
});

export type Env = z.input<typeof envSchema>;

export interface Config {
  env: 'development' | 'production' | 'test';
  nodeId: string | undefined;
  http: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    shutdownGraceMs: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
  };
  /** The Prometheus listener: its own port, loopback unless told otherwise, optionally a bearer token. */
  metrics: { host: string; port: number; token: string | undefined };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  startup: { retries: number; retryDelayMs: number };
  cassandra: {
    contactPoints: string[];
    localDataCenter: string;
    keyspace: string;
    replication: string;
    consistency: (typeof CONSISTENCIES)[number];
    username: string | undefined;
    password: string | undefined;
    requestTimeoutMs: number;
    /** Ring member address (as gossiped, `ip:port`) → where this node reaches it. */
    addressMap: ReadonlyMap<string, string>;
  };
  redis: {
    url: string;
    /** Set: a Redis Cluster reached through these nodes (REDIS_URL is then ignored). */
    clusterNodes: Array<{ host: string; port: number }> | undefined;
    commandTimeoutMs: number;
    keyPrefix: string;
  };
  auth: { jwtSecret: string; jwtTtlSeconds: number; refreshTtlSeconds: number; checkCacheMs: number };
  messages: { bucketMs: number };
  sync: { reportIntervalMs: number; nodeTimeoutMs: number; sendDeadlineMs: number; testClockOffsetMs: number };
  groups: { maxMembers: number };
  /** `checkCacheMs`: the bound within which a block takes effect on every node (services/blocks.ts). */
  blocks: { maxPerUser: number; checkCacheMs: number };
  /** `ownChangeMarginMs`: how far before a syncCursor the caller's own changes count (src/domain/inbox.ts). */
  inbox: { ownChangeMarginMs: number };
  /** `stalenessMs` is T of the cache's guarantee (src/cache/README.md): entries live at most T after their fill's read. */
  cache: { enabled: boolean; recentMessages: number; stalenessMs: number };
  ws: {
    heartbeatMs: number;
    maxPayloadBytes: number;
    maxBufferedBytes: number;
    typingMinIntervalMs: number;
    presenceTtlSeconds: number;
    /** `shared`: a user sees the presence of users they share a conversation with; `everyone`: of anyone. */
    presenceVisibility: 'shared' | 'everyone';
    membershipReconcileMs: number;
    /** Browser Origins allowed to open a WebSocket; empty = any (tokens, not cookies, authenticate). */
    allowedOrigins: string[];
    /** How often open connections' sessions are re-checked (an ended session closes them with 1008). */
    sessionCheckMs: number;
  };
  rateLimit: RateLimitConfig;
}

/** A fixed-window limit: at most `limit` in `windowSeconds`. */
export interface WindowLimit {
  limit: number;
  windowSeconds: number;
}
/** A failure counter: `limit` failures in `windowSeconds` lock the subject for `lockSeconds`. */
export interface FailureLimit extends WindowLimit {
  lockSeconds: number;
}

export interface RateLimitConfig {
  enabled: boolean;
  trustedProxies: string[];
  loginAccount: FailureLimit;
  loginIpFailures: FailureLimit;
  loginIp: WindowLimit;
  registerIp: WindowLimit;
  sendBurst: WindowLimit;
  sendSustained: WindowLimit;
  restUser: WindowLimit;
  restIp: WindowLimit;
  ws: {
    maxConnectionsPerUser: number;
    framesPerSecond: number;
    frameBurst: number;
    abuseCloseAfter: number;
    abuseWindowSeconds: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws ConfigError naming every bad variable at once. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // Empty strings mean "not set", as in most .env tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const e = parsed.data;
  // An access token must not outlive its session's row (which lives as long as the refresh token).
  if (e.JWT_TTL_SECONDS >= e.REFRESH_TOKEN_TTL_SECONDS) {
    throw new ConfigError(['JWT_TTL_SECONDS: must be less than REFRESH_TOKEN_TTL_SECONDS']);
  }
  if (e.SYNC_TEST_CLOCK_OFFSET_MS !== 0 && e.NODE_ENV !== 'test') {
    throw new ConfigError(['SYNC_TEST_CLOCK_OFFSET_MS: only allowed with NODE_ENV=test']);
  }
  // A lease (L/2) must outlast several reports, or one slow report stops every 201.
  if (e.SYNC_NODE_TIMEOUT_MS < 4 * e.SYNC_REPORT_INTERVAL_MS) {
    throw new ConfigError(['SYNC_NODE_TIMEOUT_MS: must be at least 4 × SYNC_REPORT_INTERVAL_MS']);
  }
  return {
    env: e.NODE_ENV,
    nodeId: e.NODE_ID,
    http: {
      host: e.HOST,
      port: e.PORT,
      bodyLimitBytes: e.BODY_LIMIT_BYTES,
      shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
    },
    metrics: { host: e.METRICS_HOST, port: e.METRICS_PORT, token: e.METRICS_TOKEN },
    log: { level: e.LOG_LEVEL },
    startup: { retries: e.STARTUP_RETRIES, retryDelayMs: e.STARTUP_RETRY_DELAY_MS },
    cassandra: {
      contactPoints: e.CASSANDRA_CONTACT_POINTS,
      localDataCenter: e.CASSANDRA_LOCAL_DC,
      keyspace: e.CASSANDRA_KEYSPACE,
      replication: e.CASSANDRA_REPLICATION,
      consistency: e.CASSANDRA_CONSISTENCY,
      username: e.CASSANDRA_USERNAME,
      password: e.CASSANDRA_PASSWORD,
      requestTimeoutMs: e.CASSANDRA_REQUEST_TIMEOUT_MS,
      addressMap: new Map(
        commaSeparated.parse(e.CASSANDRA_ADDRESS_MAP ?? '').map((pair) => pair.split('=') as [string, string]),
      ),
    },
    redis: {
      url: e.REDIS_URL,
      clusterNodes: e.REDIS_CLUSTER_NODES?.trim()
        ? e.REDIS_CLUSTER_NODES.split(',').map((node) => {
            const [host = '', port = ''] = node.trim().split(':');
            return { host, port: Number(port) };
          })
        : undefined,
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
      keyPrefix: e.REDIS_KEY_PREFIX,
    },
    auth: {
      jwtSecret: e.JWT_SECRET,
      jwtTtlSeconds: e.JWT_TTL_SECONDS,
      refreshTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      checkCacheMs: e.AUTH_CHECK_CACHE_MS,
    },
    messages: { bucketMs: e.MESSAGE_BUCKET_MS },
    sync: {
      reportIntervalMs: e.SYNC_REPORT_INTERVAL_MS,
      nodeTimeoutMs: e.SYNC_NODE_TIMEOUT_MS,
      sendDeadlineMs: e.SEND_DEADLINE_MS,
      testClockOffsetMs: e.SYNC_TEST_CLOCK_OFFSET_MS,
    },
    groups: { maxMembers: e.GROUP_MAX_MEMBERS },
    blocks: { maxPerUser: e.BLOCKS_MAX_PER_USER, checkCacheMs: e.BLOCK_CHECK_CACHE_MS },
    inbox: { ownChangeMarginMs: e.INBOX_OWN_CHANGE_MARGIN_MS },
    cache: {
      enabled: e.CACHE_ENABLED,
      recentMessages: e.CACHE_RECENT_MESSAGES,
      stalenessMs: e.CACHE_STALENESS_MS,
    },
    ws: {
      heartbeatMs: e.WS_HEARTBEAT_MS,
      maxPayloadBytes: e.WS_MAX_PAYLOAD_BYTES,
      maxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      typingMinIntervalMs: e.WS_TYPING_MIN_INTERVAL_MS,
      presenceTtlSeconds: e.PRESENCE_TTL_SECONDS,
      presenceVisibility: e.PRESENCE_VISIBILITY,
      membershipReconcileMs: e.WS_MEMBERSHIP_RECONCILE_MS,
      allowedOrigins: e.WS_ALLOWED_ORIGINS,
      sessionCheckMs: e.WS_SESSION_CHECK_MS,
    },
    rateLimit: {
      enabled: e.RATE_LIMIT_ENABLED,
      trustedProxies: e.TRUSTED_PROXIES,
      loginAccount: {
        limit: e.LOGIN_ACCOUNT_MAX_FAILURES,
        windowSeconds: e.LOGIN_ACCOUNT_WINDOW_SECONDS,
        lockSeconds: e.LOGIN_ACCOUNT_LOCK_SECONDS,
      },
      loginIpFailures: {
        limit: e.LOGIN_IP_MAX_FAILURES,
        windowSeconds: e.LOGIN_IP_FAILURE_WINDOW_SECONDS,
        lockSeconds: e.LOGIN_IP_LOCK_SECONDS,
      },
      loginIp: { limit: e.LOGIN_IP_LIMIT, windowSeconds: e.LOGIN_IP_WINDOW_SECONDS },
      registerIp: { limit: e.REGISTER_IP_LIMIT, windowSeconds: e.REGISTER_IP_WINDOW_SECONDS },
      sendBurst: { limit: e.SEND_BURST_LIMIT, windowSeconds: e.SEND_BURST_WINDOW_SECONDS },
      sendSustained: { limit: e.SEND_SUSTAINED_LIMIT, windowSeconds: e.SEND_SUSTAINED_WINDOW_SECONDS },
      restUser: { limit: e.REST_USER_LIMIT, windowSeconds: e.REST_USER_WINDOW_SECONDS },
      restIp: { limit: e.REST_IP_LIMIT, windowSeconds: e.REST_IP_WINDOW_SECONDS },
      ws: {
        maxConnectionsPerUser: e.WS_MAX_CONNECTIONS_PER_USER,
        framesPerSecond: e.WS_FRAMES_PER_SECOND,
        frameBurst: e.WS_FRAME_BURST,
        abuseCloseAfter: e.WS_ABUSE_CLOSE_AFTER,
        abuseWindowSeconds: e.WS_ABUSE_WINDOW_SECONDS,
      },
    },
  };
}
