import type { Bucket } from '../domain/buckets.js';
import { reactionKey } from '../domain/reactions.js';
import { type Db, toDate } from './client.js';

const MAIN_KEY = 'WHERE conversation_id = ? AND bucket = ? AND message_id = ?';
const REPLY_KEY = 'WHERE conversation_id = ? AND root_id = ? AND bucket = ? AND message_id = ?';

/** The four writes, for one table and its key (messages, or thread_messages for a thread reply: cql/0017). */
const statementsFor = (table: string, key: string) => ({
  setContent: `UPDATE ${table} SET content = ?, edited_at = ? ${key}`,
  addReaction: `UPDATE ${table} SET reactions = reactions + ? ${key}`,
  removeReaction: `UPDATE ${table} SET reactions = reactions - ? ${key}`,
  deleteForEveryone: `UPDATE ${table} SET content = null, edited_at = null, reactions = null, deleted_at = ? ${key}`,
});
const MAIN_STATEMENTS = statementsFor('messages', MAIN_KEY);
const REPLY_STATEMENTS = statementsFor('thread_messages', REPLY_KEY);

/**
 * Write timestamps of deletes for everyone: this base minus the delete's time in µs (~4.6·10¹⁸,
 * where an edit or reaction written now carries ~1.7·10¹⁵). Cassandra keeps, cell by cell, the
 * write with the highest timestamp, so a delete beats every edit and reaction whatever order they
 * reach the replicas in: an edit that read the message just before the delete and lands just
 * after it writes its content under the delete's null and is never seen. Without it, that edit
 * (timestamp "now", later than the delete's) brought the deleted text back. Minus the time, so
 * of two deletes racing the earlier one's deletedAt is what stays.
 */
export const TOMBSTONE_TIMESTAMP_BASE = 2n ** 62n;

/** Where a message's row is: `rootId` set → a reply of that thread, in thread_messages; else messages. */
export interface MessageKey {
  conversationId: string;
  bucket: Bucket;
  messageId: string;
  rootId?: string | undefined;
}

const keyParams = (key: MessageKey) =>
  key.rootId === undefined
    ? [key.conversationId, toDate(key.bucket.start), key.messageId]
    : [key.conversationId, key.rootId, toDate(key.bucket.start), key.messageId];
const statementsOf = (key: MessageKey) => (key.rootId === undefined ? MAIN_STATEMENTS : REPLY_STATEMENTS);

/**
 * The writes of edit, delete for everyone and reactions to a message row (cql/0014) or a thread
 * reply's row (cql/0017), with the same timestamps and rules for both. Each is one
 * idempotent write with an explicit timestamp, so a retry of the same write changes nothing and
 * no read-modify-write or lightweight transaction is needed: edits are last-write-wins, each
 * reaction is its own map cell, a delete wins over both.
 */
export function createMessageMutationRepository(db: Db) {
  return {
    async edit(key: MessageKey, content: string, editedAt: number, writeTs: bigint): Promise<void> {
      await db.execute(statementsOf(key).setContent, [content, toDate(editedAt), ...keyParams(key)], {
        idempotent: true,
        timestamp: writeTs,
      });
    },

    /** Nulls the content, the edit time and every reaction, and records when: the tombstone. */
    async deleteForEveryone(key: MessageKey, deletedAt: number): Promise<void> {
      await db.execute(statementsOf(key).deleteForEveryone, [toDate(deletedAt), ...keyParams(key)], {
        idempotent: true,
        timestamp: TOMBSTONE_TIMESTAMP_BASE - BigInt(deletedAt) * 1000n,
      });
    },

    /** One reaction cell; `at` (the change id) is its value: when it was given. */
    async addReaction(key: MessageKey, emoji: string, userId: string, at: string, writeTs: bigint): Promise<void> {
      await db.execute(statementsOf(key).addReaction, [{ [reactionKey(emoji, userId)]: at }, ...keyParams(key)], {
        idempotent: true,
        timestamp: writeTs,
      });
    },

    async removeReaction(key: MessageKey, emoji: string, userId: string, writeTs: bigint): Promise<void> {
      await db.execute(statementsOf(key).removeReaction, [[reactionKey(emoji, userId)], ...keyParams(key)], {
        idempotent: true,
        timestamp: writeTs,
      });
    },
  };
}

export type MessageMutationRepository = ReturnType<typeof createMessageMutationRepository>;
