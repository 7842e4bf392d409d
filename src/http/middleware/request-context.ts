import { randomUUID } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import type { Logger } from '../../logger.js';
import type { AppEnv } from '../context.js';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RequestObserver {
  /** Called once per request with its matched route pattern, status and duration. */
  observe(route: string, method: string, status: number, seconds: number): void;
}

/**
 * Gives every request an id (the client's X-Request-Id when it is sane), echoes it in the
 * response, and writes one access log line (with the id, without bodies).
 */
export function requestContext(options: { logger: Logger; observer?: RequestObserver }) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = process.hrtime.bigint();
    const offered = c.req.header('x-request-id');
    const requestId = offered && SANE_REQUEST_ID.test(offered) ? offered : randomUUID();
    c.set('requestId', requestId);
    await next();
    c.header('X-Request-Id', requestId);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const route = c.req.routePath || 'unmatched';
    options.observer?.observe(route, c.req.method, c.res.status, seconds);
    // The request id as a field rather than a child logger per request: a child costs an object
    // and a serialization per request even when the line is below the log level.
    if (options.logger.isLevelEnabled('info')) {
      options.logger.info(
        { requestId, method: c.req.method, route, status: c.res.status, ms: Math.round(seconds * 1e4) / 10 },
        'request',
      );
    }
  });
}
