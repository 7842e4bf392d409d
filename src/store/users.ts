import type { User } from '../domain/types.js';
import { type Db, fromDate, type Row, toDate } from './client.js';

const INSERT_USER =
  'INSERT INTO users (user_id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)';
const DELETE_USER = 'DELETE FROM users WHERE user_id = ?';
const CLAIM_USERNAME = 'INSERT INTO users_by_username (username, user_id) VALUES (?, ?) IF NOT EXISTS';
const SELECT_USER = 'SELECT user_id, username, display_name, password_hash, created_at FROM users WHERE user_id = ?';
const SELECT_USER_ID = 'SELECT user_id FROM users WHERE user_id = ?';
const SELECT_USERS = 'SELECT user_id, username, display_name, created_at FROM users WHERE user_id IN ?';
const SELECT_ID_BY_USERNAME = 'SELECT user_id FROM users_by_username WHERE username = ?';

export interface UserRecord extends User {
  passwordHash: string;
}

const toUser = (row: Row): User => ({
  id: row.user_id,
  username: row.username,
  displayName: row.display_name,
  createdAt: fromDate(row.created_at),
});

/** Users and the username index. Usernames are stored lower-cased in the index. */
export function createUserRepository(db: Db) {
  return {
    async insert(user: UserRecord): Promise<void> {
      await db.execute(
        INSERT_USER,
        [user.id, user.username, user.displayName, user.passwordHash, toDate(user.createdAt)],
        { idempotent: true },
      );
    },

    /** Claims a username for a user id; false when someone else holds it. */
    async claimUsername(username: string, userId: string): Promise<boolean> {
      const result = await db.execute(CLAIM_USERNAME, [username.toLowerCase(), userId]);
      if (result.wasApplied()) return true;
      // A retried claim of our own (timeout after apply) reads back our own id: still ours.
      return result.first()?.user_id === userId;
    },

    async delete(userId: string): Promise<void> {
      await db.execute(DELETE_USER, [userId], { idempotent: true });
    },

    async findById(userId: string): Promise<UserRecord | undefined> {
      const row = (await db.execute(SELECT_USER, [userId], { idempotent: true })).first();
      return row ? { ...toUser(row), passwordHash: row.password_hash } : undefined;
    },

    /** Whether a user exists (the access-token check: a token of a deleted user stops working). */
    async exists(userId: string): Promise<boolean> {
      return (await db.execute(SELECT_USER_ID, [userId], { idempotent: true })).rowLength > 0;
    },

    async findManyByIds(userIds: readonly string[]): Promise<User[]> {
      if (userIds.length === 0) return [];
      const found: User[] = [];
      // IN on the partition key fans out to many replicas; keep each query small.
      for (let i = 0; i < userIds.length; i += 100) {
        const result = await db.execute(SELECT_USERS, [userIds.slice(i, i + 100)], { idempotent: true });
        for (const row of result.rows) found.push(toUser(row));
      }
      return found;
    },

    async findIdByUsername(username: string): Promise<string | undefined> {
      const row = (await db.execute(SELECT_ID_BY_USERNAME, [username.toLowerCase()], { idempotent: true })).first();
      return row?.user_id ?? undefined;
    },
  };
}

export type UserRepository = ReturnType<typeof createUserRepository>;
