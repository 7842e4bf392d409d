import { createMiddleware } from 'hono/factory';
import { bearerToken } from '../../api-shapes/bearer.js';
import { AppError } from '../../domain/errors.js';
import type { TokenService } from '../../services/tokens.js';
import type { AppEnv } from '../context.js';

// Shared with the WebSocket upgrade (api-shapes/), so both accept the same header forms.
export { bearerToken } from '../../api-shapes/bearer.js';

/** Requires a valid bearer token and puts its user id on the context. */
export function requireAuth(tokens: TokenService) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const token = bearerToken(c.req.header('authorization'));
    const userId = token ? await tokens.verify(token) : undefined;
    if (!userId) {
      c.header('WWW-Authenticate', 'Bearer');
      throw new AppError('UNAUTHENTICATED', token ? 'The token is invalid or expired' : 'A bearer token is required');
    }
    c.set('userId', userId);
    return next();
  });
}
