import { idBefore, incrementId, maxUlidAt, minUlidAt } from '../../domain/ids.js';
import type { StoredMessage } from '../../domain/types.js';
import type { IdRange } from '../../store/bucket-walk.js';
import type { HistoryAfter } from './types.js';

export const MIN_ID = '00000000000000000000000000';
export const MAX_ID = '7ZZZZZZZZZZZZZZZZZZZZZZZZZ';

/** The cursor parameters of a page, as the history and thread endpoints take them. */
export interface CursorQuery {
  limit: number;
  before?: string | undefined;
  /** A message id (exclusive) or a sync cursor (the caller holds every message below its position). */
  after?: HistoryAfter | undefined;
  from?: number | undefined;
  to?: number | undefined;
}

export interface CursorPage {
  page: StoredMessage[];
  /**
   * Ids of messages below the page's position that changed since the cursor (edits, deletes,
   * reactions, thread summaries: the change stream) and are not on the page; only on `after`
   * pages, and only when the caller passes `changesOf`.
   */
  changedIds: string[];
  nextCursor: string | null;
  /** Where to catch up from next: on `after` pages and the newest-first first page; else null. */
  syncPosition: string | null;
}

/**
 * The changes of (cursor, upTo], at most `limit`; `cut`: the last change returned when there are
 * more (the page must then end there).
 */
export type ChangesOf = (
  after: HistoryAfter,
  upTo: string,
  limit: number,
) => Promise<{ messageIds: string[]; cut: string | undefined }>;

/**
 * One page of a message stream (a conversation's history, a thread's replies) by the cursor rules
 * of issue 13, in one place so both endpoints keep the same ones: newest first by `before`, oldest
 * first by `after` (a message id, exclusive, or a sync cursor), time bounds `from`/`to`. Catch-up
 * pages (`after`) return only ids below `stable` (S, read by the caller before calling): below S
 * every send (and every change) has settled for good, so what the page does not return now can
 * never appear below its cursor later (src/services/sync/README.md). `read` runs the range;
 * `firstPage` (optional) answers the newest-first first page instead (the recent-messages cache);
 * `changesOf` (optional) adds the change stream to catch-up pages.
 */
export async function cursorPage(
  query: CursorQuery,
  stable: string,
  read: (range: IdRange) => Promise<StoredMessage[]>,
  options: { firstPage?: ((limit: number) => Promise<StoredMessage[]>) | undefined; changesOf?: ChangesOf } = {},
): Promise<CursorPage> {
  const after = query.after;
  const ascending = after !== undefined;
  let lowId = query.from === undefined ? MIN_ID : minUlidAt(query.from);
  const requestedHigh = query.to === undefined ? MAX_ID : maxUlidAt(query.to);
  let highId = requestedHigh;
  let exclude: string | undefined;
  if (after !== undefined) {
    if ('id' in after) {
      if (after.id >= lowId) {
        lowId = after.id;
        exclude = after.id;
      }
    } else if (after.below > lowId) {
      lowId = after.below;
    }
    const settled = idBefore(stable);
    if (settled < highId) highId = settled;
  }
  if (query.before !== undefined && query.before <= highId) {
    highId = query.before;
    exclude = query.before;
  }

  const isFirstPage = !ascending && query.before === undefined && query.to === undefined;
  /**
   * The catch-up position after this page: the caller then holds every message, and every
   * change, below it. `end`: the page's last id (message or change) when it was cut short.
   */
  const positionAfter = (end: string | undefined, hasMore: boolean): string | null => {
    if (!ascending) return isFirstPage ? stable : null;
    let below = hasMore && end ? incrementId(end) : stable;
    if (!hasMore && requestedHigh < stable) below = incrementId(requestedHigh);
    // A cursor never moves back (another node's S may trail the one that issued it).
    if ('below' in after && after.below > below) below = after.below;
    return below;
  };

  if (lowId > highId)
    return { page: [], changedIds: [], nextCursor: null, syncPosition: positionAfter(undefined, false) };

  let stored: StoredMessage[];
  if (isFirstPage && options.firstPage) {
    // The newest `limit + 1` (one more to know whether more exist), with any `from` bound applied
    // to them exactly as Cassandra would.
    stored = (await options.firstPage(query.limit + 1)).filter((message) => message.id >= lowId);
  } else {
    stored = await read({ lowId, highId, exclude, order: ascending ? 'asc' : 'desc', limit: query.limit + 1 });
  }
  let hasMore = stored.length > query.limit;
  let page = stored.slice(0, query.limit);
  let changedIds: string[] = [];
  /** Where the page ends (inclusive) when it is cut short: its last message, or its last change. */
  let end = hasMore ? page[page.length - 1]?.id : undefined;
  if (after !== undefined && options.changesOf) {
    // At most `limit` changes too: a page of 100 messages could otherwise carry a million
    // reactions' worth of updates; with more, the page ends at the last change it carries.
    const changed = await options.changesOf(after, end ?? highId, query.limit);
    if (changed.cut !== undefined) {
      const cut = changed.cut;
      page = page.filter((message) => message.id <= cut);
      hasMore = true;
      end = cut;
    }
    const onPage = new Set(page.map((message) => message.id));
    changedIds = [...new Set(changed.messageIds)].filter((id) => !onPage.has(id));
  }
  return { page, changedIds, nextCursor: hasMore && end ? end : null, syncPosition: positionAfter(end, hasMore) };
}
