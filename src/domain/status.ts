import type { MessageStatus, Receipt, StoredMessage } from './types.js';

/**
 * A message's status from the watermarks of everyone in the conversation except its sender:
 * read when all of them have read up to it, else delivered when all have it delivered, else sent.
 * Participants without a receipt have neither.
 */
export function messageStatus(
  message: StoredMessage,
  participantIds: readonly string[],
  receiptsByUser: ReadonlyMap<string, Receipt>,
): MessageStatus {
  let allRead = true;
  let allDelivered = true;
  let others = 0;
  for (const userId of participantIds) {
    if (userId === message.senderId) continue;
    others++;
    const receipt = receiptsByUser.get(userId);
    const read = receipt?.readUpTo != null && receipt.readUpTo >= message.id;
    const delivered = read || (receipt?.deliveredUpTo != null && receipt.deliveredUpTo >= message.id);
    if (!read) allRead = false;
    if (!delivered) allDelivered = false;
    if (!allDelivered) break;
  }
  // A conversation with nobody else in it (a group whose other members all left) stays "sent".
  if (others === 0) return 'sent';
  if (allRead) return 'read';
  return allDelivered ? 'delivered' : 'sent';
}

/** The messages a watermark move changes something for: ids in `(low, high]` that `covers`. */
export interface WatermarkMove {
  /** Exclusive lower bound; null = from the conversation's first message. */
  low: string | null;
  /** Inclusive upper bound. */
  high: string;
  /** Whether a message id in `(low, high]` is in one of the moved ranges. */
  covers(messageId: string): boolean;
}

/**
 * What a participant's watermark move changes. A message's status is derived from every other
 * participant's watermarks (above), so when one reader's `deliveredUpTo` moves from d0 to d1 and
 * `readUpTo` from r0 to r1, the only messages whose per-reader state (and so, possibly, whose
 * status) changed are those in (d0, d1] ∪ (r0, r1]; undefined when neither moved. The senders of
 * those messages are the ones who need to hear of it.
 */
export function watermarkMove(before: Receipt | undefined, after: Receipt): WatermarkMove | undefined {
  const ranges: Array<[string | null, string]> = [];
  const moved = (from: string | null | undefined, to: string | null) => {
    if (to !== null && (from == null || to > from)) ranges.push([from ?? null, to]);
  };
  moved(before?.deliveredUpTo, after.deliveredUpTo);
  moved(before?.readUpTo, after.readUpTo);
  if (ranges.length === 0) return undefined;
  const lows = ranges.map(([low]) => low);
  // ULIDs sort as text in time order.
  const low = lows.includes(null) ? null : ((lows as string[]).sort()[0] ?? null);
  const high = ranges.map(([, to]) => to).sort()[ranges.length - 1] as string;
  return {
    low,
    high,
    covers: (id) => ranges.some(([from, to]) => (from === null || id > from) && id <= to),
  };
}
