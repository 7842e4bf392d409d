import type { ConversationRef } from './conversations.js';
import { AppError } from './errors.js';

/**
 * Who may read and write a conversation, and how a refusal is answered. No I/O: callers look the
 * facts up (is the caller a member? does the group exist?) and these rules decide.
 *
 * The "404 or 403" rule: an unknown group is 404; a group the caller is not in is 403. A
 * one-to-one conversation's id names its two participants, so there is nothing to hide by
 * answering 404: someone else's is 403. (A group id is a random ULID: answering 403 for a group
 * that exists tells an outsider no more than the id they already hold.)
 */
export function notAMemberError(groupId: string, groupExists: boolean): AppError {
  return groupExists
    ? new AppError('FORBIDDEN', 'You are not a member of this group')
    : new AppError('NOT_FOUND', `Group ${groupId} does not exist`);
}

/** Throws 403 unless the caller is one of a one-to-one conversation's two participants. */
export function requireDirectParticipant(ref: ConversationRef & { kind: 'direct' }, callerId: string): void {
  if (!ref.userIds.includes(callerId)) throw new AppError('FORBIDDEN', 'You are not part of this conversation');
}
