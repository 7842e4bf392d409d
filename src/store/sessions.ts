import { type Db, fromDate, toDate } from './client.js';

/**
 * Sessions (refresh-token families) and the refresh tokens that point at them (cql/0009_sessions.cql).
 * Tokens are stored by their SHA-256 hash only. Every write to a session's own columns is a lightweight
 * transaction: Paxos orders rotations and revocations, so a revocation racing a rotation is never lost
 * (a plain write could carry an older timestamp than the Paxos write and be overwritten by it). The
 * static valid_after is written plainly: no transaction writes it, and a rotation racing it still
 * leaves a session created before it, which every check refuses.
 */
const INSERT_REFRESH_TOKEN =
  'INSERT INTO refresh_tokens (token_hash, user_id, session_id) VALUES (?, ?, ?) USING TTL ?';
const SELECT_REFRESH_TOKEN = 'SELECT user_id, session_id FROM refresh_tokens WHERE token_hash = ?';
const INSERT_SESSION =
  'INSERT INTO sessions (user_id, session_id, created_at, current_hash, revoked) VALUES (?, ?, ?, ?, false) IF NOT EXISTS USING TTL ?';
const SELECT_SESSION =
  'SELECT valid_after, created_at, current_hash, revoked FROM sessions WHERE user_id = ? AND session_id = ?';
// Rewrites every regular column so the whole row gets the new TTL (a refresh token's lifetime counts
// again from each rotation); created_at keeps its original value.
const ROTATE_SESSION =
  'UPDATE sessions USING TTL ? SET current_hash = ?, created_at = ?, revoked = false WHERE user_id = ? AND session_id = ? IF current_hash = ? AND revoked = false';
const REVOKE_SESSION = 'UPDATE sessions USING TTL ? SET revoked = true WHERE user_id = ? AND session_id = ? IF EXISTS';
const END_ALL_SESSIONS = 'UPDATE sessions USING TTL ? SET valid_after = ? WHERE user_id = ?';

/** A session row as the access-token check and the rotation need it. */
export interface SessionRecord {
  userId: string;
  sessionId: string;
  createdAt: number;
  currentHash: string;
  revoked: boolean;
  /** The user's "log out everywhere" time (epoch ms): sessions created at or before it are over. */
  validAfter: number | undefined;
}

export function createSessionRepository(db: Db) {
  return {
    /** Records a refresh token (by hash) as belonging to a session, for `ttlSeconds`. */
    async insertRefreshToken(token: { hash: string; userId: string; sessionId: string; ttlSeconds: number }) {
      await db.execute(INSERT_REFRESH_TOKEN, [token.hash, token.userId, token.sessionId, token.ttlSeconds], {
        idempotent: true,
      });
    },

    async findRefreshToken(hash: string): Promise<{ userId: string; sessionId: string } | undefined> {
      const row = (await db.execute(SELECT_REFRESH_TOKEN, [hash], { idempotent: true })).first();
      return row ? { userId: row.user_id, sessionId: row.session_id } : undefined;
    },

    /** Creates a session whose current refresh token is `currentHash`. The id is fresh, so this always applies. */
    async insertSession(session: {
      userId: string;
      sessionId: string;
      createdAt: number;
      currentHash: string;
      ttlSeconds: number;
    }): Promise<void> {
      const result = await db.execute(INSERT_SESSION, [
        session.userId,
        session.sessionId,
        toDate(session.createdAt),
        session.currentHash,
        session.ttlSeconds,
      ]);
      // Not applied only when a retry of our own insert already wrote the row: same session.
      if (!result.wasApplied() && result.first()?.current_hash !== session.currentHash) {
        throw new Error(`session ${session.sessionId} already exists`);
      }
    },

    async findSession(userId: string, sessionId: string): Promise<SessionRecord | undefined> {
      const row = (await db.execute(SELECT_SESSION, [userId, sessionId], { idempotent: true })).first();
      // A partition with only the static column (valid_after) answers no row for a clustering key.
      if (!row || row.created_at == null || row.current_hash == null) return undefined;
      return {
        userId,
        sessionId,
        createdAt: fromDate(row.created_at),
        currentHash: row.current_hash,
        revoked: row.revoked === true,
        validAfter: row.valid_after == null ? undefined : fromDate(row.valid_after),
      };
    },

    /**
     * Moves a session from refresh token `fromHash` to `toHash`. True for exactly one of several
     * concurrent rotations of the same token; false when the token was already rotated or the session
     * revoked (or expired).
     */
    async rotate(session: SessionRecord, fromHash: string, toHash: string, ttlSeconds: number): Promise<boolean> {
      const result = await db.execute(ROTATE_SESSION, [
        ttlSeconds,
        toHash,
        toDate(session.createdAt),
        session.userId,
        session.sessionId,
        fromHash,
      ]);
      return result.wasApplied();
    },

    /** Marks a session revoked; false (nothing to do) when it no longer exists (expired). */
    async revoke(userId: string, sessionId: string, ttlSeconds: number): Promise<boolean> {
      return (await db.execute(REVOKE_SESSION, [ttlSeconds, userId, sessionId])).wasApplied();
    },

    /**
     * Ends every session of a user created at or before `at` (epoch ms). `ttlSeconds` must outlive
     * every such session: no rotation of theirs succeeds after this, so none lives longer than one
     * refresh-token lifetime from now.
     */
    async endAllSessions(userId: string, at: number, ttlSeconds: number): Promise<void> {
      await db.execute(END_ALL_SESSIONS, [ttlSeconds, toDate(at), userId], { idempotent: true });
    },
  };
}

export type SessionRepository = ReturnType<typeof createSessionRepository>;
