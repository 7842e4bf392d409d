import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../context.js';

/**
 * Headers every response carries, as production APIs send them (OWASP REST Security cheat sheet):
 * - `X-Content-Type-Options: nosniff`: a browser never runs a JSON answer as script or HTML.
 * - `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'` unless the route set
 *   its own (/docs does): an API answer loads nothing and is framed by nobody.
 * - `Cache-Control: no-store` on /api/* unless the route set its own: answers hold tokens and
 *   private messages, which no shared or browser cache should keep.
 * - `Referrer-Policy: no-referrer`, `Cross-Origin-Resource-Policy: same-origin`, `X-Frame-Options: DENY`.
 * HSTS is left to the TLS-terminating proxy, which knows whether the site is HTTPS-only.
 */
export function securityHeaders() {
  return createMiddleware<AppEnv>(async (c, next) => {
    await next();
    const headers = c.res.headers;
    headers.set('X-Content-Type-Options', 'nosniff');
    headers.set('Referrer-Policy', 'no-referrer');
    headers.set('X-Frame-Options', 'DENY');
    headers.set('Cross-Origin-Resource-Policy', 'same-origin');
    if (!headers.has('Content-Security-Policy')) {
      headers.set('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    }
    if (c.req.path.startsWith('/api/') && !headers.has('Cache-Control')) headers.set('Cache-Control', 'no-store');
  });
}
