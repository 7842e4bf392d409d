import { sign, verify } from 'hono/jwt';
import { isUlid } from '../domain/ids.js';

/** Bearer tokens: HS256 JWTs with the user id as `sub`. */
export interface TokenService {
  issue(userId: string): Promise<string>;
  /** The user id of a valid token, or undefined for a missing, malformed, expired or forged one. */
  verify(token: string): Promise<string | undefined>;
}

export function createTokenService(options: { secret: string; ttlSeconds: number }): TokenService {
  return {
    async issue(userId) {
      const now = Math.floor(Date.now() / 1000);
      return sign({ sub: userId, iat: now, exp: now + options.ttlSeconds }, options.secret, 'HS256');
    },
    async verify(token) {
      try {
        const payload = await verify(token, options.secret, 'HS256');
        return typeof payload.sub === 'string' && isUlid(payload.sub) ? payload.sub : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
