import { createMiddleware } from 'hono/factory';
import { matchedRoutes } from 'hono/route';
import { AppError } from '../../domain/errors.js';
import type { TokenService } from '../../services/tokens.js';
import type { AppEnv } from '../context.js';
import { bearerToken } from './auth.js';

/**
 * Authenticates every request to a protected route before anything else judges it. Without it a
 * request with no token to, say, POST /messages was answered 400, 413 or 415 from its body
 * (the body guard runs before the route's own auth middleware): an anonymous client could probe
 * the validators, and make the node read and parse bodies for nobody. Now such a request is
 * 401 before its body is read. Routes keep their own `requireAuth` (it finds the same cached
 * verification), so a route mounted without this middleware is still protected.
 *
 * `publicRoutes` are `METHOD /path` pairs (the route's full path) that need no token. A request
 * no route answers is left alone, so an unknown path is 404 with or without a token.
 */
export function authenticate(options: { tokens: TokenService; publicRoutes: readonly string[] }) {
  const open = new Set(options.publicRoutes);
  return createMiddleware<AppEnv>(async (c, next) => {
    const route = matchedRoutes(c).find((r) => r.method === c.req.method);
    if (!route || open.has(`${c.req.method} ${route.path}`)) return next();
    const token = bearerToken(c.req.header('authorization'));
    const userId = token ? await options.tokens.verify(token) : undefined;
    if (!userId) {
      c.header('WWW-Authenticate', 'Bearer');
      throw new AppError('UNAUTHENTICATED', token ? 'The token is invalid or expired' : 'A bearer token is required');
    }
    c.set('userId', userId);
    return next();
  });
}
