import type { StoredMessage } from '../domain/types.js';
import { type Db, orUnset, type Row, toDate, toLong } from './client.js';
import { toMessage } from './messages.js';

const CLAIM =
  "INSERT INTO message_idempotency (sender_id, idempotency_key, request_hash, message_id, conversation_id, receiver_id, group_id, content, client_ts, reply_to_id, thread_id, state, write_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?) IF NOT EXISTS";
const MARK_STORED =
  "UPDATE message_idempotency SET state = 'stored' WHERE sender_id = ? AND idempotency_key = ? IF message_id = ? AND state = 'pending'";
const TAKE_OVER =
  "UPDATE message_idempotency SET message_id = ?, write_ts = ?, state = 'pending' WHERE sender_id = ? AND idempotency_key = ? IF message_id = ? AND state = 'pending'";
// Claims written before cql/0013 have no state (their first attempt wrote without a timestamp).
const TAKE_OVER_LEGACY =
  "UPDATE message_idempotency SET message_id = ?, write_ts = ?, state = 'pending' WHERE sender_id = ? AND idempotency_key = ? IF message_id = ? AND state = null";

/** pending: its attempt has not (yet) confirmed the insert; stored: it has; legacy: written before states existed. */
export type ClaimState = 'pending' | 'stored' | 'legacy';

export interface ExistingClaim {
  kind: 'existing';
  requestHash: string;
  message: StoredMessage;
  state: ClaimState;
  /** The claimed attempt's insert timestamp (µs); null for legacy claims. */
  writeTs: bigint | null;
}

export type IdempotencyClaim = { kind: 'claimed' } | ExistingClaim;

const stateOf = (row: Row): ClaimState => (row.state === 'stored' || row.state === 'pending' ? row.state : 'legacy');

/**
 * Idempotent sends (src/services/sync/README.md, "Idempotent retries"). The first send with a
 * key claims it with a lightweight transaction holding the whole message, its id, its write
 * timestamp and state `pending`; the attempt flips it to `stored` (LWT on its id) once its
 * insert completed, and answers 201 only if that applied. A retry that finds it pending takes it
 * over under a fresh id (LWT on the old id), so exactly one attempt can ever flip it: the one
 * whose id the claim holds. The old id is then aborted, never re-inserted: re-inserting it up to
 * 24 h later would put a message below every client's cursor.
 */
export function createIdempotencyRepository(db: Db) {
  return {
    async claim(key: string, requestHash: string, message: StoredMessage, writeTs: bigint): Promise<IdempotencyClaim> {
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
        orUnset(message.replyToId),
        orUnset(message.threadId),
        toLong(writeTs),
      ]);
      if (result.wasApplied()) return { kind: 'claimed' };
      const row = result.first();
      if (!row) throw new Error('lightweight transaction returned no row');
      return {
        kind: 'existing',
        requestHash: row.request_hash,
        message: toMessage(row),
        state: stateOf(row),
        writeTs: row.write_ts == null ? null : BigInt(row.write_ts.toString()),
      };
    },

    /**
     * pending → stored for `messageId`. True when the claim now says stored with this id (also
     * when an earlier attempt of this same call applied it and only its answer was lost).
     */
    async markStored(senderId: string, key: string, messageId: string): Promise<boolean> {
      const result = await db.execute(MARK_STORED, [senderId, key, messageId]);
      if (result.wasApplied()) return true;
      const row = result.first();
      return row?.message_id === messageId && row?.state === 'stored';
    },

    /** Moves a pending (or legacy) claim from `fromId` to a fresh attempt; true when this call won. */
    async takeOver(
      senderId: string,
      key: string,
      from: { id: string; state: ClaimState },
      to: { id: string; writeTs: bigint },
    ): Promise<boolean> {
      const statement = from.state === 'legacy' ? TAKE_OVER_LEGACY : TAKE_OVER;
      const result = await db.execute(statement, [to.id, toLong(to.writeTs), senderId, key, from.id]);
      return result.wasApplied();
    },
  };
}

export type IdempotencyRepository = ReturnType<typeof createIdempotencyRepository>;
