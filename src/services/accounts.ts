import { AppError } from '../domain/errors.js';
import { newId, ulidTime } from '../domain/ids.js';
import type { User } from '../domain/types.js';
import type { UserRepository } from '../store/users.js';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from './passwords.js';
import type { SessionService } from './sessions.js';
import type { TokenService } from './tokens.js';

/**
 * Registration, login, sessions and profiles. Signing in starts a session (an access token and a
 * refresh token); see services/sessions.ts for rotation and revocation.
 */
export function createAccountService(deps: { users: UserRepository; sessions: SessionService; tokens: TokenService }) {
  const { users, sessions } = deps;

  return {
    async register(input: { username: string; password: string; displayName?: string | undefined }) {
      const username = input.username.toLowerCase();
      // Cheap early answer for the common case; the lightweight transaction below decides races.
      if (await users.findIdByUsername(username)) throw new AppError('CONFLICT', 'That username is taken');
      // createdAt is the time inside the id: one clock reading, so the two always agree.
      const id = newId();
      const user: User = {
        id,
        username,
        displayName: input.displayName ?? username,
        createdAt: ulidTime(id),
      };
      // The user row first, then the username claim: a lost race leaves at most an unreachable
      // row that we delete, never a username that points at nothing.
      await users.insert({ ...user, passwordHash: await hashPassword(input.password) });
      if (!(await users.claimUsername(username, user.id))) {
        await users.delete(user.id).catch(() => {});
        throw new AppError('CONFLICT', 'That username is taken');
      }
      return { user, ...(await sessions.start(user.id)) };
    },

    async login(input: { username: string; password: string }) {
      const userId = await users.findIdByUsername(input.username.toLowerCase());
      const record = userId ? await users.findById(userId) : undefined;
      // Verify against a dummy hash for unknown users: same answer, same cost.
      const valid = await verifyPassword(input.password, record?.passwordHash ?? DUMMY_PASSWORD_HASH);
      if (!record || !valid) throw new AppError('UNAUTHENTICATED', 'Wrong username or password');
      const { passwordHash: _hash, ...user } = record;
      return { user, ...(await sessions.start(user.id)) };
    },

    /** A new access + refresh pair for a refresh token, which is spent (see SessionService.refresh). */
    refresh(refreshToken: string) {
      return sessions.refresh(refreshToken);
    },

    /** Ends the session (device) a refresh token belongs to; needs no access token. */
    logout(refreshToken: string) {
      return sessions.logout(refreshToken);
    },

    /** Ends every session of the user an access token names; UNAUTHENTICATED without a valid one. */
    async logoutAll(accessToken: string | undefined): Promise<void> {
      const userId = accessToken ? await deps.tokens.verify(accessToken) : undefined;
      if (!userId) {
        throw new AppError(
          'UNAUTHENTICATED',
          accessToken ? 'The token is invalid or expired' : 'Logging out everywhere needs a bearer token',
        );
      }
      await sessions.logoutAll(userId);
    },

    async getUser(userId: string): Promise<User> {
      const record = await users.findById(userId);
      if (!record) throw new AppError('NOT_FOUND', `User ${userId} does not exist`);
      const { passwordHash: _hash, ...user } = record;
      return user;
    },

    /** A user by username (case-insensitive, as usernames are unique in lower case). */
    async findByUsername(username: string): Promise<User> {
      const userId = await users.findIdByUsername(username.toLowerCase());
      const record = userId ? await users.findById(userId) : undefined;
      if (!record) throw new AppError('NOT_FOUND', `No user is called ${username}`);
      const { passwordHash: _hash, ...user } = record;
      return user;
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
