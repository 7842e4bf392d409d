import { createHmac, timingSafeEqual } from 'node:crypto';
import { isUlid } from '../domain/ids.js';

/**
 * Access tokens: HS256 JWTs `{ sub: userId, sid: sessionId, iat, exp }`, short-lived, checked against
 * the session they belong to. Verification is strict: only the exact bytes this service issues verify.
 */
export interface AccessClaims {
  userId: string;
  sessionId: string;
  /** Epoch seconds. */
  issuedAt: number;
  /** Epoch seconds. */
  expiresAt: number;
}

/**
 * Whether a session still stands: its user exists, and it is neither revoked (logout, refresh-token
 * reuse) nor ended by the user's "log out everywhere". Reads the store; may throw UNAVAILABLE.
 */
export type SessionCheck = (userId: string, sessionId: string) => Promise<boolean>;

export interface TokenService {
  /** Lifetime of the access tokens this service signs, in seconds (the `expiresIn` of an answer). */
  readonly ttlSeconds: number;
  /** Signs an access token of a session. */
  issue(userId: string, sessionId: string): Promise<string>;
  /**
   * The user id of a valid token, or undefined for a missing, malformed, non-canonical, expired or forged
   * one, or one whose session is over (see SessionCheck). Throws UNAVAILABLE when the store cannot say.
   */
  verify(token: string): Promise<string | undefined>;
  /** The claims of a valid token (same rules as verify). */
  authenticate(token: string): Promise<AccessClaims | undefined>;
  /**
   * Drops this node's cached session checks of a user (one session, or all of them) so that a logout
   * handled here takes effect here at once; other nodes notice within `checkCacheMs`.
   */
  forget(userId: string, sessionId?: string): void;
}

/** How far ahead of this node's clock another node's `iat` may be. */
const CLOCK_SKEW_SECONDS = 60;
/** Longer strings are not tokens of ours (ours are about 200 characters). */
const MAX_TOKEN_LENGTH = 2048;
/** The one header we issue and accept, byte for byte: {"alg":"HS256","typ":"JWT"}. */
const HEADER_SEGMENT = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const SIGNATURE_BYTES = 32;

/**
 * The bytes of a canonical base64url segment (no padding, only [A-Za-z0-9_-], and the unused low bits
 * of the last character zero), else undefined. Node's decoder is lenient: "…Q", "…R", "…S", "…T" and
 * "…Q=" can all decode to the same bytes; decode → re-encode must give back the input exactly, so
 * exactly one spelling of each token verifies (and the token cache, keyed by the string, cannot be
 * reached by a variant).
 */
export function decodeCanonical(segment: string): Buffer | undefined {
  if (!BASE64URL.test(segment)) return undefined;
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

const isEpochSeconds = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

export function createTokenService(options: {
  secret: string;
  ttlSeconds: number;
  sessions: SessionCheck;
  /**
   * How long (ms) this node trusts a session check, positive or negative. This is the revocation bound:
   * a logout, a refresh-token reuse or a deleted user stops that session's access tokens on every node
   * within this time. 0 checks the store on every request.
   */
  checkCacheMs?: number;
  /** How many verified tokens (and checked sessions) to remember. */
  cacheSize?: number;
}): TokenService {
  const checkCacheMs = options.checkCacheMs ?? 5000;
  const cacheSize = options.cacheSize ?? 10_000;
  // token string → its claims. Only tokens whose signature checked out are kept, so a hit skips the
  // HMAC until `exp`. Keyed by the exact string: a re-spelled variant is never a hit.
  const verified = new Map<string, AccessClaims>();
  // `${userId}:${sessionId}` → the session check's answer and until when (epoch ms) it is trusted.
  const checked = new Map<string, { live: boolean; until: number }>();
  // Concurrent misses of one session on this node share one store read.
  const inFlight = new Map<string, Promise<boolean>>();
  // Bumped by forget(): a check that started before a logout must not cache its stale answer after it.
  let generation = 0;

  const remember = <V>(map: Map<string, V>, key: string, value: V) => {
    if (map.size >= cacheSize && !map.has(key)) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
    map.set(key, value);
  };

  const hmac = (signingInput: string) => createHmac('sha256', options.secret).update(signingInput).digest();

  function verifySignature(token: string, now: number): AccessClaims | undefined {
    if (token.length > MAX_TOKEN_LENGTH) return undefined;
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [header, payload, signature] = parts as [string, string, string];
    if (header !== HEADER_SEGMENT) return undefined;
    const payloadBytes = decodeCanonical(payload);
    const signatureBytes = decodeCanonical(signature);
    if (!payloadBytes || signatureBytes?.length !== SIGNATURE_BYTES) return undefined;
    if (!timingSafeEqual(hmac(`${header}.${payload}`), signatureBytes)) return undefined;
    let claims: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(payloadBytes.toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
      claims = parsed as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const { sub, sid, iat, exp } = claims;
    if (typeof sub !== 'string' || !isUlid(sub) || typeof sid !== 'string' || !isUlid(sid)) return undefined;
    if (!isEpochSeconds(iat) || !isEpochSeconds(exp) || exp <= iat) return undefined;
    // A token issued by a node whose clock runs slightly ahead is accepted; one from far ahead is not.
    if (exp <= now || iat > now + CLOCK_SKEW_SECONDS) return undefined;
    return { userId: sub, sessionId: sid, issuedAt: iat, expiresAt: exp };
  }

  async function sessionLive(userId: string, sessionId: string): Promise<boolean> {
    const key = `${userId}:${sessionId}`;
    const known = checked.get(key);
    if (known && known.until > Date.now()) return known.live;
    let pending = inFlight.get(key);
    if (!pending) {
      const startedAt = generation;
      pending = options
        .sessions(userId, sessionId)
        .then((live) => {
          if (checkCacheMs > 0 && generation === startedAt) {
            remember(checked, key, { live, until: Date.now() + checkCacheMs });
          }
          return live;
        })
        .finally(() => {
          if (inFlight.get(key) === pending) inFlight.delete(key);
        });
      inFlight.set(key, pending);
    }
    return pending;
  }

  async function authenticate(token: string): Promise<AccessClaims | undefined> {
    if (typeof token !== 'string') return undefined;
    const now = Math.floor(Date.now() / 1000);
    let claims = verified.get(token);
    if (claims && claims.expiresAt <= now) {
      verified.delete(token);
      return undefined;
    }
    if (!claims) {
      claims = verifySignature(token, now);
      if (!claims) return undefined;
      remember(verified, token, claims);
    }
    return (await sessionLive(claims.userId, claims.sessionId)) ? claims : undefined;
  }

  return {
    ttlSeconds: options.ttlSeconds,
    async issue(userId, sessionId) {
      const now = Math.floor(Date.now() / 1000);
      const payload = Buffer.from(
        JSON.stringify({ sub: userId, sid: sessionId, iat: now, exp: now + options.ttlSeconds }),
      ).toString('base64url');
      const signingInput = `${HEADER_SEGMENT}.${payload}`;
      return `${signingInput}.${hmac(signingInput).toString('base64url')}`;
    },
    authenticate,
    async verify(token) {
      return (await authenticate(token))?.userId;
    },
    forget(userId, sessionId) {
      generation++;
      const matches =
        sessionId === undefined
          ? (key: string) => key.startsWith(`${userId}:`)
          : (key: string) => key === `${userId}:${sessionId}`;
      // In-flight reads too: a request arriving after the logout must not join a read that began before it.
      for (const map of [checked, inFlight]) for (const key of map.keys()) if (matches(key)) map.delete(key);
    },
  };
}
