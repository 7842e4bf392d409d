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
