import { timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { AppError } from '../domain/errors.js';
import { problemResponse } from './problem.js';

/**
 * The Prometheus exposition on a listener of its own (METRICS_HOST:METRICS_PORT, loopback by
 * default). On the API port it told anyone the Node version, memory, descriptors, per-route
 * traffic and table names, and path tricks (`/api/v1/%2e%2e/metrics`) reached it; here the API
 * has no such route at all. With METRICS_TOKEN set, scrapes also need `Authorization: Bearer`.
 */
export function createMetricsApp(deps: {
  metrics: { contentType: string; render(): Promise<string> };
  token?: string | undefined;
}) {
  const expected = deps.token ? Buffer.from(`Bearer ${deps.token}`) : undefined;
  const app = new Hono();
  app.get('/metrics', async (c) => {
    if (expected) {
      const given = Buffer.from(c.req.header('authorization') ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        c.header('WWW-Authenticate', 'Bearer');
        return problemResponse(c, new AppError('UNAUTHENTICATED', 'A valid metrics token is required'));
      }
    }
    return c.body(await deps.metrics.render(), 200, { 'content-type': deps.metrics.contentType });
  });
  app.notFound((c) => problemResponse(c, new AppError('NOT_FOUND', 'Only GET /metrics is served here')));
  return app;
}
