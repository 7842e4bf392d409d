import { minUlidAt, ulidTime } from './ids.js';

/**
 * The inbox's rules (GET /conversations), no I/O: how conversations are ordered, how a page
 * continues, what counts as "changed since" a sync position, and how an unread count is capped.
 */

/** One of the caller's conversations, with the positions the inbox orders and filters by. */
export interface InboxEntry {
  conversationId: string;
  kind: 'direct' | 'group';
  peerId: string | null;
  groupId: string | null;
  /** The conversation's newest message id (conversation_activity); undefined when it has none. */
  lastMessageId: string | undefined;
  /**
   * Its newest change to an existing message (edit, delete, reaction); undefined when none. Reported
   * by changedSince like a message, but never orders the inbox: a reaction to an old message must
   * not move the conversation to the top.
   */
  lastChangeId?: string | undefined;
  /** The caller's own last change here (watermark move, join, leave); undefined when none. */
  ownChange: string | undefined;
}

/** Where a page ends: the next page starts just after this conversation in inbox order. */
export interface InboxPosition {
  activity: string;
  conversationId: string;
}

/**
 * What a conversation sorts by: its newest message id. A group without a message sorts by its
 * creation (its id is a ULID minted then), so a group just created shows at the top rather than
 * below years of conversations; a one-to-one conversation without an activity row (its messages
 * all predate cql/0012_inbox.cql) sorts last until its next message. The caller's own changes do
 * not count: reading a conversation must not move it to the top.
 */
export function activityOf(entry: InboxEntry): string {
  return entry.lastMessageId ?? (entry.kind === 'group' && entry.groupId ? entry.groupId : '');
}

/** Inbox order: newest activity first; ties (and conversations without activity) by id, descending. */
export function compareByActivity(a: InboxPosition, b: InboxPosition): number {
  if (a.activity !== b.activity) return a.activity > b.activity ? -1 : 1;
  if (a.conversationId === b.conversationId) return 0;
  return a.conversationId > b.conversationId ? -1 : 1;
}

export const positionOf = (entry: InboxEntry): InboxPosition => ({
  activity: activityOf(entry),
  conversationId: entry.conversationId,
});

/**
 * Sorts entries into inbox order and cuts the page that follows `after` (from the start when
 * undefined). `next` is where the following page starts, undefined on the last page. Positions
 * are compared, not indexes, so a conversation that appears or moves between two pages never
 * makes the next page repeat or skip one that kept its place.
 */
export function inboxPage<T extends InboxEntry>(
  entries: readonly T[],
  after: InboxPosition | undefined,
  limit: number,
): { page: T[]; next: InboxPosition | undefined } {
  const sorted = [...entries].sort((a, b) => compareByActivity(positionOf(a), positionOf(b)));
  const rest = after ? sorted.filter((entry) => compareByActivity(positionOf(entry), after) > 0) : sorted;
  const page = rest.slice(0, limit);
  const last = page[page.length - 1];
  return { page, next: rest.length > limit && last ? positionOf(last) : undefined };
}

/** The lower bounds a changedSince position gives: exact for messages, with a margin for the caller's own changes. */
export interface ChangeBounds {
  messages: string;
  own: string;
}

/**
 * Messages compare against the sync position S itself: every message below S had settled
 * (stored or aborted) before S was issued, and its activity row was written before its insert,
 * so the read that produced S saw it. The caller's own changes take their position from a clock
 * when they start, and nothing tracks them in flight: a watermark move minted at t that lands
 * after an inbox read at S > t would be missed. They therefore count from `marginMs` before S,
 * the longest such a write can take (driver attempts on two hosts) plus the clock skew between
 * nodes; a change within that margin is reported again, never missed.
 */
export function changeBounds(since: string, marginMs: number): ChangeBounds {
  return { messages: since, own: minUlidAt(Math.max(0, ulidTime(since) - marginMs)) };
}

/**
 * Whether a conversation changed at or after the bounds: a new message, the caller's own change,
 * or (a group) its creation, which is when its first members joined.
 */
export function changedSince(entry: InboxEntry, bounds: ChangeBounds): boolean {
  if (entry.lastMessageId !== undefined && entry.lastMessageId >= bounds.messages) return true;
  // Change ids are minted in flight like message ids, and the activity write lands before the
  // change settles: the same argument as for messages, so the same exact bound.
  if (entry.lastChangeId !== undefined && entry.lastChangeId >= bounds.messages) return true;
  if (entry.ownChange !== undefined && entry.ownChange >= bounds.own) return true;
  return entry.kind === 'group' && entry.groupId !== null && entry.groupId >= bounds.own;
}

/**
 * Groups the caller left at or after the bounds: a recorded own change in a group that is no
 * longer among the caller's groups. groups_by_user stays the truth of membership; the change row
 * only says when, and it is written before the membership changes, so a leave that a read sees
 * has its change row too.
 */
export function leftSince(
  changes: ReadonlyMap<string, string>,
  memberOf: ReadonlySet<string>,
  bounds: ChangeBounds,
  isGroup: (conversationId: string) => boolean,
): string[] {
  return [...changes]
    .filter(([id, position]) => position >= bounds.own && !memberOf.has(id) && isGroup(id))
    .map(([id]) => id)
    .sort();
}

/** Unread counts are exact up to this; from one more on they read this with `unreadCountCapped`. */
export const UNREAD_EXACT_UP_TO = 99;

/**
 * An unread count from a scan that counted `others` messages of other users after the caller's
 * read watermark. `complete`: the scan reached the watermark (or the first message). A scan that
 * stopped early (at its row bound, when the caller wrote most of the newest messages) only knows
 * "at least", which is what `capped` says.
 */
export function unreadCount(others: number, complete: boolean): { unreadCount: number; unreadCountCapped: boolean } {
  if (others > UNREAD_EXACT_UP_TO) return { unreadCount: UNREAD_EXACT_UP_TO, unreadCountCapped: true };
  return { unreadCount: others, unreadCountCapped: !complete };
}
