import { createMiddleware } from 'hono/factory';
import { AppError } from '../../domain/errors.js';
import type { TokenService } from '../../services/tokens.js';
import type { AppEnv } from '../context.js';

/** Extracts the bearer token from an Authorization header value. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim()) : null;
  return match?.[1];
}

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
