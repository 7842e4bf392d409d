import { ulidWriteTimestampMicros } from '../domain/ids.js';
import type { Receipt } from '../domain/types.js';
import { type Db, optionalText, type Row } from './client.js';

const SET_DELIVERED = 'UPDATE receipts SET delivered_up_to = ? WHERE conversation_id = ? AND user_id = ?';
const SET_READ = 'UPDATE receipts SET delivered_up_to = ?, read_up_to = ? WHERE conversation_id = ? AND user_id = ?';
const SELECT_ONE =
  'SELECT conversation_id, user_id, delivered_up_to, read_up_to FROM receipts WHERE conversation_id = ? AND user_id = ?';
const SELECT_ALL =
  'SELECT conversation_id, user_id, delivered_up_to, read_up_to FROM receipts WHERE conversation_id = ?';

const toReceipt = (row: Row): Receipt => ({
  conversationId: row.conversation_id,
  userId: row.user_id,
  deliveredUpTo: optionalText(row.delivered_up_to),
  readUpTo: optionalText(row.read_up_to),
});

/**
 * Delivered/read watermarks. Each write carries a write timestamp derived from the message id
 * (see ulidWriteTimestampMicros): Cassandra keeps the cell with the highest timestamp, so the
 * highest id wins whatever order concurrent writes land in, and an older id never moves a
 * watermark back. No read-before-write, no lightweight transaction.
 */
export function createReceiptRepository(db: Db) {
  return {
    async advance(conversationId: string, userId: string, messageId: string, status: 'delivered' | 'read') {
      const timestamp = ulidWriteTimestampMicros(messageId);
      if (status === 'read') {
        // Read implies delivered: both cells move in one statement.
        await db.execute(SET_READ, [messageId, messageId, conversationId, userId], { idempotent: true, timestamp });
      } else {
        await db.execute(SET_DELIVERED, [messageId, conversationId, userId], { idempotent: true, timestamp });
      }
    },

    async find(conversationId: string, userId: string): Promise<Receipt> {
      const row = (await db.execute(SELECT_ONE, [conversationId, userId], { idempotent: true })).first();
      return row ? toReceipt(row) : { conversationId, userId, deliveredUpTo: null, readUpTo: null };
    },

    async listForConversation(conversationId: string): Promise<Receipt[]> {
      return (await db.all(SELECT_ALL, [conversationId])).map(toReceipt);
    },
  };
}

export type ReceiptRepository = ReturnType<typeof createReceiptRepository>;
