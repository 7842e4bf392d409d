import { z } from 'zod';

/**
 * The whole configuration, parsed once from the environment. Nothing else reads process.env.
 * Every variable is listed with its default in .env.example and in the README.
 */
const CONSISTENCIES = ['ONE', 'LOCAL_ONE', 'QUORUM', 'LOCAL_QUORUM', 'EACH_QUORUM', 'ALL'] as const;

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');
const list = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  )
  .pipe(z.array(z.string()).min(1));

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

  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  REDIS_COMMAND_TIMEOUT_MS: integer(10, 60_000).default(100),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[a-z0-9:_-]*$/)
    .default('sb'),

  JWT_SECRET: z.string().min(32, 'must be at least 32 characters'),
  JWT_TTL_SECONDS: integer(60, 60 * 60 * 24 * 365).default(60 * 60 * 24),

  MESSAGE_BUCKET_MS: integer(60_000, 366 * 24 * 60 * 60 * 1000).default(10 * 24 * 60 * 60 * 1000),
  GROUP_MAX_MEMBERS: integer(2, 100_000).default(1000),
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
  WS_MEMBERSHIP_RECONCILE_MS: integer(100, 3_600_000).default(30_000),
  WS_ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0),
    ),
  WS_MAX_CONNECTIONS_PER_USER: integer(1, 10_000).default(10),
  WS_FRAMES_PER_SECOND: integer(1, 100_000).default(20),
  WS_FRAME_BURST: integer(1, 100_000).default(40),
  WS_RATE_LIMIT_CLOSE_AFTER: integer(1, 100_000).default(50),
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
  };
  redis: { url: string; commandTimeoutMs: number; keyPrefix: string };
  auth: { jwtSecret: string; jwtTtlSeconds: number };
  messages: { bucketMs: number };
  groups: { maxMembers: number };
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
    maxConnectionsPerUser: number;
    framesPerSecond: number;
    frameBurst: number;
    closeAfterRefusals: number;
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
    },
    redis: { url: e.REDIS_URL, commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS, keyPrefix: e.REDIS_KEY_PREFIX },
    auth: { jwtSecret: e.JWT_SECRET, jwtTtlSeconds: e.JWT_TTL_SECONDS },
    messages: { bucketMs: e.MESSAGE_BUCKET_MS },
    groups: { maxMembers: e.GROUP_MAX_MEMBERS },
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
      maxConnectionsPerUser: e.WS_MAX_CONNECTIONS_PER_USER,
      framesPerSecond: e.WS_FRAMES_PER_SECOND,
      frameBurst: e.WS_FRAME_BURST,
      closeAfterRefusals: e.WS_RATE_LIMIT_CLOSE_AFTER,
    },
  };
}
