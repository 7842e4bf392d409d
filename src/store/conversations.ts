import type { Db } from './client.js';

const INSERT_DIRECT = 'INSERT INTO direct_conversations_by_user (user_id, conversation_id, peer_id) VALUES (?, ?, ?)';
const SELECT_DIRECT = 'SELECT conversation_id, peer_id FROM direct_conversations_by_user WHERE user_id = ?';

export interface DirectConversationEntry {
  conversationId: string;
  peerId: string;
}

/** Each user's one-to-one conversations (groups come from groups_by_user). */
export function createConversationRepository(db: Db) {
  return {
    /** Records a one-to-one conversation for both of its users (idempotent). */
    async addDirect(conversationId: string, userA: string, userB: string): Promise<void> {
      await Promise.all([
        db.execute(INSERT_DIRECT, [userA, conversationId, userB], { idempotent: true }),
        db.execute(INSERT_DIRECT, [userB, conversationId, userA], { idempotent: true }),
      ]);
    },

    async listDirect(userId: string): Promise<DirectConversationEntry[]> {
      return (await db.all(SELECT_DIRECT, [userId])).map((row) => ({
        conversationId: row.conversation_id as string,
        peerId: row.peer_id as string,
      }));
    },
  };
}

export type ConversationRepository = ReturnType<typeof createConversationRepository>;
