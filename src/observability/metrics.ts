import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from '../http/middleware/request-context.js';

/** Latency buckets in seconds: sub-millisecond cache hits up to multi-second timeouts. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type Outcome = 'ok' | 'error';

/**
 * Cumulative cache counts by cache name (e.g. `recent`, `receipts`, `members`, `users`) and
 * event (`hit`, `miss`, `fill`, `error`), read at scrape time from the cache layer's counters.
 */
export type CacheCountsSource = () => Iterable<{ cache: string; event: CacheEvent; count: number }>;
export type CacheEvent = 'hit' | 'miss' | 'fill' | 'error';

/**
 * Everything the node reports to Prometheus. One registry per container (never the global
 * one), so several containers in one process (tests) do not mix their numbers.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Content type of `render()`'s text, for the /metrics response. */
  readonly contentType: string;
  render(): Promise<string>;
  /** HTTP request durations by route pattern, method and status (from the request-context middleware). */
  readonly http: RequestObserver;
  /** Cassandra statement durations, fed by the store's Db wrapper. */
  cassandra(statement: string, outcome: Outcome, seconds: number): void;
  /** Redis command durations, fed by `instrumentRedis`. */
  redis(command: string, outcome: Outcome, seconds: number): void;
  /** A message was stored for the first time (idempotent replays are not counted). */
  messageSent(kind: 'direct' | 'group'): void;
  /** WebSocket gateway: a connection opened / closed (the gauge follows the difference). */
  wsConnectionOpened(): void;
  wsConnectionClosed(): void;
  /** Frames of a fan-out event written to local WebSocket connections. */
  fanoutDelivered(event: string, count?: number): void;
  /**
   * The pub/sub subscriber lost its subscriptions (a reconnect; on a cluster a failover or slot
   * migration) and subscribed again: events published meanwhile may have been missed.
   */
  pubsubPossibleGap(reason: string): void;
  /** A failed publish was queued for a retry (src/realtime/publisher.ts). */
  pubsubPublishRetried(): void;
  /** A publish was given up after its retries or because the retry queue was full; its channel is owed a resync notice. */
  pubsubPublishGivenUp(reason: 'retries exhausted' | 'queue full'): void;
  /** A `resync` notice was published on a channel whose publish had been given up. */
  pubsubResyncNoticePublished(): void;
  /** `resync` frames handed to local WebSocket connections, by reason. */
  resyncDelivered(reason: string, count: number): void;
  /** `settled` frames sent (src/ws/settled-notices.ts). */
  settledSent(count: number): void;
  /** Sync cursors (src/services/sync/): from a send's 201 until the stable position passes it. */
  catchUpLag(seconds: number): void;
  /** A send aborted (deadline D, lease lost, store error, or superseded by an idempotent retry). */
  sendAborted(reason: string): void;
  /** A node that stopped reporting was reaped by this node. */
  nodeReaped(): void;
  /** Connects the cache layer's counters; read at every scrape. */
  useCacheCounts(source: CacheCountsSource): void;
}

/** Builds the registry and every series Switchboard exposes on GET /metrics. */
export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const httpDuration = new Histogram({
    name: 'switchboard_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const cassandraDuration = new Histogram({
    name: 'switchboard_cassandra_request_duration_seconds',
    help: 'Cassandra statement duration by statement (verb and table) and outcome',
    labelNames: ['statement', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const redisDuration = new Histogram({
    name: 'switchboard_redis_command_duration_seconds',
    help: 'Redis command duration by command and outcome',
    labelNames: ['command', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const messagesSent = new Counter({
    name: 'switchboard_messages_sent_total',
    help: 'Messages stored by this node, by conversation kind',
    labelNames: ['kind'] as const,
    registers,
  });
  const wsConnections = new Gauge({
    name: 'switchboard_ws_connections',
    help: 'Open WebSocket connections on this node',
    registers,
  });
  const fanoutDeliveries = new Counter({
    name: 'switchboard_fanout_deliveries_total',
    help: 'Event frames written to local WebSocket connections, by event type',
    labelNames: ['event'] as const,
    registers,
  });

  const pubsubGaps = new Counter({
    name: 'switchboard_pubsub_possible_gaps_total',
    help: 'Times pub/sub subscriptions were lost and restored (reconnect, failover, slot migration, failed subscribe): events may have been missed',
    labelNames: ['reason'] as const,
    registers,
  });
  const publishRetries = new Counter({
    name: 'switchboard_pubsub_publish_retries_total',
    help: 'Failed real-time publishes queued for a retry',
    registers,
  });
  const publishesGivenUp = new Counter({
    name: 'switchboard_pubsub_publishes_given_up_total',
    help: 'Real-time publishes given up (retries exhausted, retry queue full); their channels are told to resync',
    labelNames: ['reason'] as const,
    registers,
  });
  const resyncNotices = new Counter({
    name: 'switchboard_pubsub_resync_notices_total',
    help: 'Resync notices published on channels whose publish was given up',
    registers,
  });
  const resyncFrames = new Counter({
    name: 'switchboard_ws_resync_frames_total',
    help: 'resync frames sent to WebSocket connections (events may have been missed), by reason',
    labelNames: ['reason'] as const,
    registers,
  });

  const settledFrames = new Counter({
    name: 'switchboard_ws_settled_frames_total',
    help: 'settled frames sent to WebSocket connections (a catch-up now returns everything stored before their ready)',
    registers,
  });

  const catchUpLag = new Histogram({
    name: 'switchboard_sync_catch_up_lag_seconds',
    help: "From a send's 201 until this node's stable position passes its id (a cursor reader can see it)",
    buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30],
    registers,
  });
  const sendsAborted = new Counter({
    name: 'switchboard_sync_sends_aborted_total',
    help: 'Sends aborted with a delete that beats their insert, by reason (deadline, lease, error, superseded)',
    labelNames: ['reason'] as const,
    registers,
  });
  const nodesReaped = new Counter({
    name: 'switchboard_sync_nodes_reaped_total',
    help: 'Nodes that stopped reporting their position and whose sends this node settled',
    registers,
  });

  let cacheSource: CacheCountsSource | undefined;
  // Counters whose value lives in the cache layer: each scrape copies the current totals in.
  const cacheCounter = (event: CacheEvent, name: string, help: string) =>
    new Counter({
      name,
      help,
      labelNames: ['cache'] as const,
      registers,
      collect() {
        if (!cacheSource) return;
        this.reset();
        for (const entry of cacheSource()) {
          if (entry.event === event && entry.count > 0) this.inc({ cache: entry.cache }, entry.count);
        }
      },
    });
  cacheCounter('hit', 'switchboard_cache_hits_total', 'Cache lookups answered from Redis, by cache');
  cacheCounter('miss', 'switchboard_cache_misses_total', 'Cache lookups that fell through to Cassandra, by cache');
  cacheCounter('fill', 'switchboard_cache_fills_total', 'Cache entries filled from Cassandra reads, by cache');
  cacheCounter(
    'error',
    'switchboard_cache_errors_total',
    'Cache operations that failed (Redis down or slow), by cache',
  );

  // Pre-create the label sets a dashboard always expects, so the series exist before traffic.
  messagesSent.inc({ kind: 'direct' }, 0);
  messagesSent.inc({ kind: 'group' }, 0);

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    http: {
      observe(route, method, status, seconds) {
        httpDuration.observe({ route, method, status: String(status) }, seconds);
      },
    },
    cassandra(statement, outcome, seconds) {
      cassandraDuration.observe({ statement, outcome }, seconds);
    },
    redis(command, outcome, seconds) {
      redisDuration.observe({ command, outcome }, seconds);
    },
    messageSent(kind) {
      messagesSent.inc({ kind });
    },
    wsConnectionOpened() {
      wsConnections.inc();
    },
    wsConnectionClosed() {
      wsConnections.dec();
    },
    pubsubPossibleGap(reason) {
      pubsubGaps.inc({ reason });
    },
    pubsubPublishRetried() {
      publishRetries.inc();
    },
    pubsubPublishGivenUp(reason) {
      publishesGivenUp.inc({ reason });
    },
    pubsubResyncNoticePublished() {
      resyncNotices.inc();
    },
    resyncDelivered(reason, count) {
      if (count > 0) resyncFrames.inc({ reason }, count);
    },
    settledSent(count) {
      settledFrames.inc(count);
    },
    fanoutDelivered(event, count = 1) {
      if (count > 0) fanoutDeliveries.inc({ event }, count);
    },
    catchUpLag(seconds) {
      catchUpLag.observe(seconds);
    },
    sendAborted(reason) {
      sendsAborted.inc({ reason });
    },
    nodeReaped() {
      nodesReaped.inc();
    },
    useCacheCounts(source) {
      cacheSource = source;
    },
  };
}
