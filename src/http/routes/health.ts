import { Hono } from 'hono';
import type { AppEnv } from '../context.js';

export type DependencyState = 'up' | 'down';

export interface HealthChecks {
  /** Whether Cassandra answers a query now: without it the node cannot serve. */
  cassandra(): Promise<boolean>;
  /** Whether Redis answers now: without it the node serves, degraded (no cache, no fan-out). */
  redis(): Promise<boolean>;
  /**
   * Whether the node holds its sync lease (src/services/sync/README.md, "Lease"): without it every
   * send answers 503, so the node is not ready though Cassandra may still answer (a link so slow
   * that position reports outlast the lease, or a node whose row was reaped, until it rejoins).
   */
  sync(): boolean;
}

/** Liveness and readiness, outside /api/v1 so load balancers and orchestrators find them. */
export function healthRoutes(checks: HealthChecks) {
  return new Hono<AppEnv>()
    .get('/healthz', (c) => c.json({ status: 'ok' }, 200))
    .get('/readyz', async (c) => {
      const [cassandra, redis] = await Promise.all([
        checks.cassandra().catch(() => false),
        checks.redis().catch(() => false),
      ]);
      const sync = checks.sync();
      const dependencies: Record<string, DependencyState> = {
        cassandra: cassandra ? 'up' : 'down',
        redis: redis ? 'up' : 'down',
        sync: sync ? 'up' : 'down',
      };
      const serves = cassandra && sync;
      const status = !serves ? 'unavailable' : redis ? 'ready' : 'degraded';
      return c.json({ status, dependencies }, serves ? 200 : 503);
    });
}
