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
  nextCursor: string | null;
  /** Where to catch up from next: on `after` pages and the newest-first first page; else null. */
  syncPosition: string | null;
}

/**
 * One page of a message stream (a conversation's history, a thread's replies) by the cursor rules
 * of issue 13, in one place so both endpoints keep the same ones: newest first by `before`, oldest
 * first by `after` (a message id, exclusive, or a sync cursor), time bounds `from`/`to`. Catch-up
 * pages (`after`) return only ids below `stable` (S, read by the caller before calling): below S
 * every send has settled for good, so what the page does not return now can never appear below
 * its cursor later (src/services/sync/README.md). `read` runs the range; `firstPage` (optional)
 * answers the newest-first first page instead (the recent-messages cache).
 */
export async function cursorPage(
  query: CursorQuery,
  stable: string,
  read: (range: IdRange) => Promise<StoredMessage[]>,
  firstPage?: (limit: number) => Promise<StoredMessage[]>,
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
  /** The catch-up position after this page: the caller then holds every message below it. */
  const positionAfter = (page: StoredMessage[], hasMore: boolean): string | null => {
    if (!ascending) return isFirstPage ? stable : null;
    const last = page[page.length - 1];
    let below = hasMore && last ? incrementId(last.id) : stable;
    if (!hasMore && requestedHigh < stable) below = incrementId(requestedHigh);
    // A cursor never moves back (another node's S may trail the one that issued it).
    if ('below' in after && after.below > below) below = after.below;
    return below;
  };

  if (lowId > highId) return { page: [], nextCursor: null, syncPosition: positionAfter([], false) };

  let stored: StoredMessage[];
  if (isFirstPage && firstPage) {
    // The newest `limit + 1` (one more to know whether more exist), with any `from` bound applied
    // to them exactly as Cassandra would.
    stored = (await firstPage(query.limit + 1)).filter((message) => message.id >= lowId);
  } else {
    stored = await read({ lowId, highId, exclude, order: ascending ? 'asc' : 'desc', limit: query.limit + 1 });
  }
  const hasMore = stored.length > query.limit;
  const page = stored.slice(0, query.limit);
  const last = page[page.length - 1];
  return { page, nextCursor: hasMore && last ? last.id : null, syncPosition: positionAfter(page, hasMore) };
}
