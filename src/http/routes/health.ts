import { Hono } from 'hono';
import type { AppEnv } from '../context.js';

export type DependencyState = 'up' | 'down';

export interface HealthChecks {
  /** Whether Cassandra answers a query now: without it the node cannot serve. */
  cassandra(): Promise<boolean>;
  /** Whether Redis answers now: without it the node serves, degraded (no cache, no fan-out). */
  redis(): Promise<boolean>;
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
      const dependencies: Record<string, DependencyState> = {
        cassandra: cassandra ? 'up' : 'down',
        redis: redis ? 'up' : 'down',
      };
      const status = !cassandra ? 'unavailable' : redis ? 'ready' : 'degraded';
      return c.json({ status, dependencies }, cassandra ? 200 : 503);
    });
}
