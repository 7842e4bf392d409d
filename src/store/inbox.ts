import { ulidWriteTimestampMicros } from '../domain/ids.js';
import type { Db, Statement } from './client.js';

const SET_ACTIVITY = 'UPDATE conversation_activity SET last_message_id = ? WHERE conversation_id = ?';
const SET_CHANGED = 'UPDATE conversation_activity SET last_change_id = ? WHERE conversation_id = ?';
const SELECT_ACTIVITY = 'SELECT last_message_id, last_change_id FROM conversation_activity WHERE conversation_id = ?';
const SET_CHANGE = 'UPDATE inbox_changes_by_user SET changed_at = ? WHERE user_id = ? AND conversation_id = ?';
const SELECT_CHANGES = 'SELECT conversation_id, changed_at FROM inbox_changes_by_user WHERE user_id = ?';

/** A conversation's activity row: its newest message and its newest change to an existing message. */
export interface ConversationActivity {
  lastMessageId: string | undefined;
  lastChangeId: string | undefined;
}

/**
 * Activity reads run this many at a time: a user in thousands of conversations must not take
 * every connection of the driver's pool (the same bound as the group lookups of groups.ts).
 */
const ACTIVITY_READ_CONCURRENCY = 32;

/**
 * The inbox's two tables (cql/0012_inbox.cql): each conversation's newest message id, and each
 * user's own changes (watermark moves, joins, leaves) per conversation. Both are written with a
 * write timestamp derived from the id they store (ulidWriteTimestampMicros), so the highest id
 * wins whatever order concurrent writes land in: no read before write, no lightweight transaction.
 */
export function createInboxRepository(db: Db) {
  return {
    /**
     * Records a message as its conversation's newest activity (idempotent). Called before the
     * message is inserted, so a stored message is never newer than its conversation's row.
     */
    async recordMessage(message: { id: string; conversationId: string }): Promise<void> {
      await db.execute(SET_ACTIVITY, [message.id, message.conversationId], {
        idempotent: true,
        timestamp: ulidWriteTimestampMicros(message.id),
      });
    },

    /**
     * Records a change to an existing message (edit, delete, reaction) as its conversation's
     * newest change, the highest change id winning. Its own column: it reports the conversation
     * as changed without moving it up the inbox (last_message_id orders it).
     */
    async recordMessageChange(conversationId: string, changeId: string): Promise<void> {
      await db.execute(SET_CHANGED, [changeId, conversationId], {
        idempotent: true,
        timestamp: ulidWriteTimestampMicros(changeId),
      });
    },

    /**
     * The newest message id and newest change id of each conversation that has an activity row.
     * One point read per conversation, in parallel, rather than `IN (…)` on the partition key:
     * token-aware routing sends each read straight to a replica, where one IN over hundreds of
     * partitions makes a single coordinator fan out to every replica and hold all the rows until
     * the slowest answers.
     */
    async activity(conversationIds: readonly string[]): Promise<Map<string, ConversationActivity>> {
      const found = new Map<string, ConversationActivity>();
      for (let i = 0; i < conversationIds.length; i += ACTIVITY_READ_CONCURRENCY) {
        const chunk = conversationIds.slice(i, i + ACTIVITY_READ_CONCURRENCY);
        const rows = await Promise.all(
          chunk.map((id) => db.execute(SELECT_ACTIVITY, [id], { idempotent: true }).then((result) => result.first())),
        );
        rows.forEach((row, index) => {
          const id = chunk[index];
          if (!row || !id) return;
          found.set(id, {
            lastMessageId: (row.last_message_id as string | null) ?? undefined,
            lastChangeId: (row.last_change_id as string | null) ?? undefined,
          });
        });
      }
      return found;
    },

    /** Records the user's own change in a conversation at `position` (a fresh ULID); the highest wins. */
    async recordChange(userId: string, conversationId: string, position: string): Promise<void> {
      await db.execute(SET_CHANGE, [position, userId, conversationId], {
        idempotent: true,
        timestamp: ulidWriteTimestampMicros(position),
      });
    },

    /**
     * The same change as a statement, for a logged batch that makes it land with the write it
     * describes (a join or a leave: store/groups.ts). It takes the batch's write timestamp, so
     * among changes of one user and group the later write wins, not the higher position; both are
     * recent either way, and changedSince counts own changes from INBOX_OWN_CHANGE_MARGIN_MS
     * before its cursor.
     */
    changeStatement(userId: string, conversationId: string, position: string): Statement {
      return { query: SET_CHANGE, params: [position, userId, conversationId] };
    },

    /** The user's own last change per conversation (conversation id → position). */
    async changesOf(userId: string): Promise<Map<string, string>> {
      const rows = await db.all(SELECT_CHANGES, [userId]);
      return new Map(rows.map((row) => [row.conversation_id as string, row.changed_at as string]));
    },
  };
}

export type InboxRepository = ReturnType<typeof createInboxRepository>;
