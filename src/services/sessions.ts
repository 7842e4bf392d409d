import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { User } from '../domain/types.js';
import type { SessionRecord, SessionRepository } from '../store/sessions.js';
import type { UserRepository } from '../store/users.js';
import type { SessionListener } from './ports.js';
import type { SessionCheck, TokenService } from './tokens.js';

/** What a sign-in or a refresh answers: an access token, its lifetime, and the next refresh token. */
export interface Grant {
  token: string;
  refreshToken: string;
  /** Seconds until `token` expires. */
  expiresIn: number;
}

/** 32 random bytes: a refresh token cannot be guessed, so its SHA-256 needs no salt or slow hash. */
const REFRESH_TOKEN_BYTES = 32;
/** Margin added to how long a "log out everywhere" mark is kept beyond the sessions it ends. */
const END_ALL_MARGIN_SECONDS = 60 * 60;

export const hashRefreshToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Whether a session row still stands (not revoked, not ended by "log out everywhere"). */
const standing = (session: SessionRecord) =>
  !session.revoked && (session.validAfter === undefined || session.createdAt > session.validAfter);

/**
 * The access-token check: the user exists and the session stands. Two single-partition reads, in
 * parallel; the token service caches the answer per node for AUTH_CHECK_CACHE_MS.
 */
export function createSessionCheck(deps: {
  users: Pick<UserRepository, 'exists'>;
  sessions: Pick<SessionRepository, 'findSession'>;
}): SessionCheck {
  return async (userId, sessionId) => {
    const [exists, session] = await Promise.all([
      deps.users.exists(userId),
      deps.sessions.findSession(userId, sessionId),
    ]);
    return exists && session !== undefined && standing(session);
  };
}

/**
 * Sessions: one per sign-in, holding a refresh-token family. Refresh tokens are rotated on every use;
 * presenting one that was already rotated (or revoked) revokes the whole session, as the OAuth 2.0
 * Security BCP (RFC 9700 §4.14.2) asks: either the holder or a thief replayed it, and the server cannot
 * tell which, so the newer token of the family stops working too.
 */
export function createSessionService(deps: {
  sessions: SessionRepository;
  users: Pick<UserRepository, 'findById'>;
  tokens: TokenService;
  refreshTtlSeconds: number;
  /** Tells every node to re-check the user's open sockets (best effort: the session sweep is the fallback). */
  listener?: SessionListener | undefined;
}) {
  const { sessions, tokens, refreshTtlSeconds } = deps;
  // The session row decides; the notice only makes other nodes look now rather than at their
  // next sweep, so a publish that fails never fails the logout.
  const announce = (userId: string, sessionId: string | null) =>
    deps.listener?.sessionEnded(userId, sessionId).catch(() => {});

  async function newRefreshToken(userId: string, sessionId: string) {
    const refreshToken = randomBytes(REFRESH_TOKEN_BYTES).toString('base64url');
    const hash = hashRefreshToken(refreshToken);
    await sessions.insertRefreshToken({ hash, userId, sessionId, ttlSeconds: refreshTtlSeconds });
    return { refreshToken, hash };
  }

  async function grant(userId: string, sessionId: string, refreshToken: string): Promise<Grant> {
    return { token: await tokens.issue(userId, sessionId), refreshToken, expiresIn: tokens.ttlSeconds };
  }

  async function revoke(userId: string, sessionId: string) {
    // Not applied only when the session already expired: then no token of it verifies anyway.
    await sessions.revoke(userId, sessionId, refreshTtlSeconds);
    tokens.forget(userId, sessionId);
    await announce(userId, sessionId);
  }

  const refused = () => new AppError('UNAUTHENTICATED', 'The refresh token is invalid, expired or revoked');

  return {
    /** Starts a session for a user who just proved who they are (registration, password). */
    async start(userId: string): Promise<Grant> {
      const sessionId = newId();
      // The token row first: once the session row names the hash, the token must be findable.
      const { refreshToken, hash } = await newRefreshToken(userId, sessionId);
      await sessions.insertSession({
        userId,
        sessionId,
        createdAt: Date.now(),
        currentHash: hash,
        ttlSeconds: refreshTtlSeconds,
      });
      return grant(userId, sessionId, refreshToken);
    },

    /** Rotates a refresh token: a new access + refresh pair; the presented token is spent. */
    async refresh(refreshToken: string): Promise<{ user: User } & Grant> {
      const hash = hashRefreshToken(refreshToken);
      const owner = await sessions.findRefreshToken(hash);
      if (!owner) throw refused();
      const session = await sessions.findSession(owner.userId, owner.sessionId);
      if (!session || !standing(session)) throw refused();
      if (session.currentHash !== hash) {
        // Reuse of a rotated token: end the session, the legitimate holder's newer token included.
        await revoke(owner.userId, owner.sessionId);
        throw refused();
      }
      const record = await deps.users.findById(owner.userId);
      if (!record) throw refused();
      const next = await newRefreshToken(owner.userId, owner.sessionId);
      if (!(await sessions.rotate(session, hash, next.hash, refreshTtlSeconds))) {
        // Another request rotated this very token first (or a revocation won): the token is spent, so
        // this is a reuse too. Clients must refresh one at a time.
        await revoke(owner.userId, owner.sessionId);
        throw refused();
      }
      const { passwordHash: _hash, ...user } = record;
      return { user, ...(await grant(owner.userId, owner.sessionId, next.refreshToken)) };
    },

    /**
     * Ends the session of a refresh token (current, spent or revoked: any token of the family ends it).
     * An unknown or expired token is not an error: there is nothing left to end (as RFC 7009 §2.2 answers).
     */
    async logout(refreshToken: string): Promise<void> {
      const owner = await sessions.findRefreshToken(hashRefreshToken(refreshToken));
      if (owner) await revoke(owner.userId, owner.sessionId);
    },

    /** Ends every session of a user that exists now, and with them every access token issued so far. */
    async logoutAll(userId: string): Promise<void> {
      // Kept as long as any session it ends can live: no rotation of theirs succeeds after this, so
      // none outlives one refresh-token lifetime (plus one access-token lifetime) from now.
      await sessions.endAllSessions(userId, Date.now(), refreshTtlSeconds + tokens.ttlSeconds + END_ALL_MARGIN_SECONDS);
      tokens.forget(userId);
      await announce(userId, null);
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
