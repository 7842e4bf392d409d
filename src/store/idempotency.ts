import type { StoredMessage } from '../domain/types.js';
import { type Db, orUnset, toDate } from './client.js';
import { toMessage } from './messages.js';

const CLAIM =
  'INSERT INTO message_idempotency (sender_id, idempotency_key, request_hash, message_id, conversation_id, receiver_id, group_id, content, client_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS';

export type IdempotencyClaim = { kind: 'claimed' } | { kind: 'existing'; requestHash: string; message: StoredMessage };

/**
 * Idempotent sends. The first send with a key claims it with a lightweight transaction that
 * stores the whole message; a retry (even a concurrent one) finds the claim and gets the same
 * message back. Because the claim holds the message, whoever sees it can write the message row
 * again with identical values, so a sender that died between claim and write loses nothing.
 */
export function createIdempotencyRepository(db: Db) {
  return {
    async claim(key: string, requestHash: string, message: StoredMessage): Promise<IdempotencyClaim> {
      const result = await db.execute(CLAIM, [
        message.senderId,
        key,
        requestHash,
        message.id,
        message.conversationId,
        orUnset(message.receiverId),
        orUnset(message.groupId),
        message.content,
        orUnset(message.clientTimestamp == null ? null : toDate(message.clientTimestamp)),
      ]);
      if (result.wasApplied()) return { kind: 'claimed' };
      const row = result.first();
      if (!row) throw new Error('lightweight transaction returned no row');
      return {
        kind: 'existing',
        requestHash: row.request_hash,
        message: toMessage(row),
      };
    },
  };
}

export type IdempotencyRepository = ReturnType<typeof createIdempotencyRepository>;
