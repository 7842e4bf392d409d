import { ulidTime } from '../domain/ids.js';
import { type Db, fromDate, orUnset, toDate, toLong } from './client.js';

const MINUTE_MS = 60_000;
const INSERT =
  'INSERT INTO pending_sends (node_id, minute, message_id, conversation_id, bucket, write_ts, sender_id, idempotency_key, root_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
const SELECT_FROM =
  'SELECT message_id, conversation_id, bucket, write_ts, sender_id, idempotency_key, root_id FROM pending_sends WHERE node_id = ? AND minute = ? AND message_id >= ?';

/** A send as registered before its insert: enough to find its message and abort it. */
export interface PendingSend {
  messageId: string;
  conversationId: string;
  bucketStart: number;
  /** The insert's write timestamp (µs); the abort deletes at this + 1. */
  writeTs: bigint;
  senderId: string;
  idempotencyKey: string | null;
  /** The thread a reply is stored in (thread_messages); null for main-history messages. */
  rootId: string | null;
}

const minuteOf = (ms: number) => Math.floor(ms / MINUTE_MS) * MINUTE_MS;

/** pending_sends: the one extra small write per send, read only by a reaper. */
export function createPendingSendRepository(db: Db) {
  return {
    async record(nodeId: string, send: PendingSend): Promise<void> {
      await db.execute(
        INSERT,
        [
          nodeId,
          toDate(minuteOf(ulidTime(send.messageId))),
          send.messageId,
          send.conversationId,
          toDate(send.bucketStart),
          toLong(send.writeTs),
          send.senderId,
          orUnset(send.idempotencyKey),
          orUnset(send.rootId),
        ],
        { idempotent: true },
      );
    },
    /** The node's sends with ids from `fromId` on, in the minutes from fromId's to `untilMs`'s. */
    async since(nodeId: string, fromId: string, untilMs: number): Promise<PendingSend[]> {
      const sends: PendingSend[] = [];
      for (let minute = minuteOf(ulidTime(fromId)); minute <= minuteOf(untilMs); minute += MINUTE_MS) {
        for (const row of await db.all(SELECT_FROM, [nodeId, toDate(minute), fromId])) {
          sends.push({
            messageId: row.message_id,
            conversationId: row.conversation_id,
            bucketStart: fromDate(row.bucket),
            writeTs: BigInt(row.write_ts.toString()),
            senderId: row.sender_id,
            idempotencyKey: row.idempotency_key ?? null,
            rootId: row.root_id ?? null,
          });
        }
      }
      return sends;
    },
  };
}

export type PendingSendRepository = ReturnType<typeof createPendingSendRepository>;
