import { createMiddleware } from 'hono/factory';
import { AppError } from '../../domain/errors.js';
import type { AppEnv } from '../context.js';

/**
 * Refuses a request whose path or query does not percent-decode to valid UTF-8 (`%FF`, an
 * encoded lone surrogate `%ED%A0%80`, a stray `%`). Hono decodes such text leniently, so a
 * query value would otherwise reach the validators (and storage) changed. 400, before routing.
 */
export function strictUrl() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const url = c.req.url;
    const start = url.indexOf('/', url.indexOf('//') + 2);
    const target = start < 0 ? '' : url.slice(start);
    if (target.includes('%')) {
      try {
        decodeURIComponent(target);
      } catch {
        throw new AppError('VALIDATION_FAILED', 'The URL is not valid UTF-8 percent-encoding', {
          issues: [{ path: 'url', message: 'must percent-encode valid UTF-8' }],
        });
      }
    }
    return next();
  });
}
