import { ulidTime } from '../domain/ids.js';
import type { StoredMessage } from '../domain/types.js';
import type { RedisClient } from './client.js';
import { createCoalescer } from './coalesce.js';
import { bestEffort, type CacheCounters } from './counters.js';
import type { Keys } from './keys.js';
import { type CacheScripts, missTime } from './scripts.js';

/**
 * The recent-messages window of a conversation: its newest N + 1 messages in one sorted set
 * (layout in recent-read.lua), read through. The guarantee and its argument: cache/README.md.
 *
 * - read: a filled window answers the newest k entries; a miss (absent, pending, or too short)
 *   returns Redis's clock, and creates an absent key *pending* (expiring T later) so appends made
 *   while Cassandra is read land in it;
 * - fill: unions the Cassandra read into the key and sets its absolute expiry to (the miss's
 *   Redis time + T), only ever earlier; a fill whose expiry has already passed stores nothing;
 * - append: adds a durable message to an existing key, never creates one, never extends it.
 *
 * Every write is a union of durable messages (ZADD is idempotent and order-free) or a minimum of
 * expiries, so no ordering between nodes, fills and appends is needed. Capacity is N + 1: a first
 * page of N also learns whether an older page exists.
 */

const ULID_LENGTH = 26;

/**
 * Text as Cassandra will return it: Cassandra stores UTF-8, so a lone surrogate comes back as
 * U+FFFD. A cached copy is made the same way, so cache and Cassandra answer byte-identical text,
 * and the same message always encodes to the same entry (so a re-added entry is a no-op).
 */
export function storedText(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

type EntryReaction = [emoji: string, userId: string, at: string];

/**
 * A message as a window entry: its id, then a compact JSON array of the fields not derivable from
 * the key or the id. The fields of a changed message (edited, deleted, reactions, sorted so one
 * state is one encoding) follow only when set, so a message never changed encodes as before
 * issue 16. The id prefix is what the scripts find the entries of one id by (`<id>[`): a window
 * holds one entry per id, and a union that would bring a second, different one (an older or
 * newer state of that message) deletes the window instead (recent-fill.lua).
 */
export function encodeEntry(message: StoredMessage): string {
  const content = message.content === null ? null : storedText(message.content);
  const fields: unknown[] = [message.senderId, message.receiverId, message.groupId, content, message.clientTimestamp];
  const reactions: EntryReaction[] = (message.reactions ?? [])
    .map((r): EntryReaction => [storedText(r.emoji), r.userId, r.at])
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
  // The optional fields only when one is set: an entry without them stays byte-identical to what
  // earlier releases wrote for the same message, so a re-added entry is still a no-op. Thread
  // replies (threadId) never enter the window: it is the main history's.
  const changed = message.editedAt != null || message.deletedAt != null || reactions.length > 0;
  if (changed) fields.push(message.replyToId ?? null, message.editedAt ?? null, message.deletedAt ?? null, reactions);
  else if (message.replyToId) fields.push(message.replyToId);
  return `${message.id}${JSON.stringify(fields)}`;
}

export function decodeEntry(conversationId: string, entry: string): StoredMessage {
  const id = entry.slice(0, ULID_LENGTH);
  const [senderId, receiverId, groupId, content, clientTimestamp, replyToId, editedAt, deletedAt, reactions] =
    JSON.parse(entry.slice(ULID_LENGTH)) as [
      string,
      string | null,
      string | null,
      string | null,
      number | null,
      (string | null)?,
      (number | null)?,
      (number | null)?,
      EntryReaction[]?,
    ];
  const message: StoredMessage = {
    id,
    conversationId,
    senderId,
    receiverId,
    groupId,
    content,
    createdAt: ulidTime(id),
    clientTimestamp,
  };
  // Unset rather than null when absent, as for a message built before replies or edits existed.
  if (replyToId != null) message.replyToId = replyToId;
  if (editedAt != null) message.editedAt = editedAt;
  if (deletedAt != null) message.deletedAt = deletedAt;
  if (reactions && reactions.length > 0) {
    message.reactions = reactions.map(([emoji, userId, at]) => ({ emoji, userId, at }));
  }
  return message;
}

export function createRecentMessagesCache(options: {
  redis: Pick<RedisClient, 'unlink'>;
  scripts: CacheScripts;
  keys: Keys;
  counters: CacheCounters;
  /** N: how many messages a first page may take from the window (CACHE_RECENT_MESSAGES). */
  size: number;
  /** T (CACHE_STALENESS_MS). */
  stalenessMs: number;
}) {
  const { scripts, keys, counters, stalenessMs } = options;
  const capacity = options.size + 1;
  const loads = createCoalescer<StoredMessage[]>(stalenessMs);

  return {
    /** The most a caller may ask for (N + 1). */
    capacity,

    /**
     * The newest `count` (≤ capacity) messages, newest first (fewer when the conversation has
     * fewer). On a miss, `load(capacity)` reads Cassandra's newest messages, once per node for
     * concurrent misses, and the read fills the window. Never rejects because of Redis.
     */
    async newest(
      conversationId: string,
      count: number,
      load: (limit: number) => Promise<StoredMessage[]>,
    ): Promise<StoredMessage[]> {
      const key = keys.recentMessages(conversationId);
      const reply = await bestEffort(counters, 'recent', () => scripts.recentRead(key, count, stalenessMs));
      if (Array.isArray(reply) && reply[0] === 1) {
        try {
          const value = (reply[1] as string[]).map((entry) => decodeEntry(conversationId, entry));
          counters.count('recent', 'hit');
          return value;
        } catch {
          counters.count('recent', 'error');
        }
      }
      counters.count('recent', 'miss');
      const missedAt = missTime(reply);
      const read = await loads.run(conversationId, async () => {
        const rows = await load(capacity);
        if (missedAt !== undefined) {
          const applied = await bestEffort(counters, 'recent', () =>
            scripts.recentFill(
              key,
              missedAt + stalenessMs,
              capacity,
              rows.length < capacity ? 1 : 0,
              ...rows.slice(0, capacity).map(encodeEntry),
            ),
          );
          if (applied === 1) counters.count('recent', 'fill');
        }
        return rows;
      });
      return read.slice(0, count);
    },

    /**
     * After a change to an existing message is durable in Cassandra: the window goes, so the next
     * read fills it from Cassandra with the message as it now is. Best effort: if this is lost,
     * the window still ends within T of the read that filled it (cache/README.md).
     */
    async forget(conversationId: string): Promise<void> {
      await bestEffort(counters, 'recent', () => options.redis.unlink(keys.recentMessages(conversationId)));
    },

    /** Write-through of a message durable in Cassandra. Best effort: never rejects. */
    async append(message: StoredMessage): Promise<void> {
      await bestEffort(counters, 'recent', () =>
        scripts.recentAppend(keys.recentMessages(message.conversationId), encodeEntry(message), capacity),
      );
    },
  };
}

export type RecentMessagesCacheImpl = ReturnType<typeof createRecentMessagesCache>;
