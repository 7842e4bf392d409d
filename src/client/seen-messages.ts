import type { Message } from './types.js';

/**
 * What a message looks like for `changed`: the parts an edit, a delete, a reaction or a thread
 * reply can change, without the viewer-dependent ones (`me` is always false in frames, so
 * counting it would call every frame a change; `status` is the receipts' business).
 */
const versionOf = (message: Message) =>
  JSON.stringify([
    message.editedAt,
    message.deletedAt,
    message.reactions.map((reaction) => [reaction.emoji, reaction.count]),
    message.thread && [message.thread.replyCount, message.thread.lastReplyId],
  ]);

/**
 * The messages already handed out, by id, each with the version it was handed out at; bounded
 * (oldest forgotten first). A message can arrive twice by design: live and again in the catch-up
 * that follows `ready`, `settled` or `resync`, or as a retried publish. It can also come back
 * *changed*: a conversation the client has no cursor for yet is caught up from its start, so a
 * message seen live, then deleted while the client was away, returns in the page's `messages`
 * (deleted), not in its `updates`. With ids alone that delete was swallowed as a duplicate and
 * the app showed the message for good (tests/integration/client.sync.test.ts caught it).
 */
export function createSeenMessages(max = 20_000) {
  const versions = new Map<string, string>();
  function remember(id: string, version: string) {
    versions.delete(id); // re-inserted: the most recently touched are forgotten last
    versions.set(id, version);
    if (versions.size > max) versions.delete(versions.keys().next().value as string);
  }
  return {
    /** 'new' the first time an id is offered; then 'changed' when its version differs, else 'same'. */
    offer(message: Message): 'new' | 'changed' | 'same' {
      const before = versions.get(message.id);
      const version = versionOf(message);
      if (before === version) return 'same';
      remember(message.id, version);
      return before === undefined ? 'new' : 'changed';
    },
    /**
     * A change arrived (a frame or a page's `updates`): false when it is one already handed out.
     * An id never offered stays unknown, so a later page still hands it out as a message.
     */
    changed(message: Message): boolean {
      const before = versions.get(message.id);
      const version = versionOf(message);
      if (before === version) return false;
      if (before !== undefined) remember(message.id, version);
      return true;
    },
  };
}
