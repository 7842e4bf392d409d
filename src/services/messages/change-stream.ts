import { incrementId } from '../../domain/ids.js';
import type { InboxRepository } from '../../store/inbox.js';
import type { ChangeKind, MessageChangeRepository } from '../../store/message-changes.js';
import type { SendAttempt, SendGuard } from '../sync/index.js';
import type { ChangesOf } from './paging.js';

/**
 * Records that an existing message changed, in the conversation's change stream (cql/0014): a row
 * of message_changes and the conversation's last_change_id, under a change id minted in flight by
 * the sync guard (guard.storeChange), together with `applyRow`, the write that makes the change.
 * Catch-up pages then return the message in `updates` and the inbox's changedSince reports the
 * conversation (src/services/sync/README.md, "Changes to existing messages"). Shared by the edits,
 * deletes and reactions (mutations.ts) and the thread summaries (threads.ts), so both keep one rule.
 */
export function createChangeStream(deps: {
  guard: SendGuard;
  changes: Pick<MessageChangeRepository, 'record'>;
  inbox: Pick<InboxRepository, 'recordMessageChange'>;
}) {
  return {
    record(
      conversationId: string,
      messageId: string,
      kind: ChangeKind,
      applyRow: (attempt: SendAttempt) => Promise<void>,
      attempt: SendAttempt = deps.guard.begin(),
    ): Promise<void> {
      return deps.guard.storeChange(
        attempt,
        () => applyRow(attempt),
        async (changeId) => {
          await Promise.all([
            deps.changes.record(conversationId, changeId, messageId, kind),
            deps.inbox.recordMessageChange(conversationId, changeId),
          ]);
        },
      );
    },
  };
}

export type ChangeStream = ReturnType<typeof createChangeStream>;

/**
 * The changes of (cursor, upTo] in a conversation's change stream (edits, deletes, reactions and
 * thread summaries of any of its messages, main history and thread replies alike), at most
 * `limit`; `cut` when there are more. What catch-up pages (paging.ts) pass as `changesOf`; the
 * history and thread endpoints then keep only the ids that are rows of their own timeline.
 */
export const changesOfConversation =
  (changes: Pick<MessageChangeRepository, 'between'>, conversationId: string): ChangesOf =>
  async (after, upTo, limit) => {
    const low = 'id' in after ? incrementId(after.id) : after.below;
    if (low > upTo) return { messageIds: [], cut: undefined };
    const found = await changes.between(conversationId, low, upTo, limit + 1);
    const kept = found.slice(0, limit);
    return {
      messageIds: kept.map((change) => change.messageId),
      cut: found.length > limit ? kept[kept.length - 1]?.changeId : undefined,
    };
  };
