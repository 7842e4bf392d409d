import { sign, verify } from 'hono/jwt';
import { isUlid } from '../domain/ids.js';

/** Bearer tokens: HS256 JWTs with the user id as `sub`. */
export interface TokenService {
  issue(userId: string): Promise<string>;
  /** The user id of a valid token, or undefined for a missing, malformed, expired or forged one. */
  verify(token: string): Promise<string | undefined>;
}

/** How far ahead of this node's clock another node's `iat` may be. */
const CLOCK_SKEW_SECONDS = 60;

export function createTokenService(options: {
  secret: string;
  ttlSeconds: number;
  /** How many verified tokens to remember (a client sends the same token with every request). */
  cacheSize?: number;
}): TokenService {
  // token → who it names and when it expires. Only tokens whose signature checked out are kept,
  // so a hit is as good as a verification until `exp`; the HMAC is skipped on repeat requests.
  const verified = new Map<string, { userId: string; exp: number }>();
  const cacheSize = options.cacheSize ?? 10_000;

  async function verifySignature(token: string): Promise<{ userId: string; exp: number } | undefined> {
    try {
      // hono checks the signature and exp; iat we check ourselves with a leeway, so a token
      // issued by a node whose clock runs slightly ahead is not refused by this one.
      const payload = await verify(token, options.secret, { alg: 'HS256', iat: false });
      const now = Math.floor(Date.now() / 1000);
      if (typeof payload.exp !== 'number') return undefined;
      if (typeof payload.iat === 'number' && payload.iat > now + CLOCK_SKEW_SECONDS) return undefined;
      return typeof payload.sub === 'string' && isUlid(payload.sub)
        ? { userId: payload.sub, exp: payload.exp }
        : undefined;
    } catch {
      return undefined;
    }
  }

  return {
    async issue(userId) {
      const now = Math.floor(Date.now() / 1000);
      return sign({ sub: userId, iat: now, exp: now + options.ttlSeconds }, options.secret, 'HS256');
    },
    async verify(token) {
      const now = Math.floor(Date.now() / 1000);
      const known = verified.get(token);
      if (known) {
        if (known.exp > now) return known.userId;
        verified.delete(token);
        return undefined;
      }
      const result = await verifySignature(token);
      if (!result) return undefined;
      if (verified.size >= cacheSize) {
        const oldest = verified.keys().next().value;
        if (oldest !== undefined) verified.delete(oldest);
      }
      verified.set(token, result);
      return result.userId;
    },
  };
}
