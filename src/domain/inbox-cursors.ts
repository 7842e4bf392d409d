import { CONVERSATION_ID_PATTERN } from './conversations.js';
import { isUlid } from './ids.js';
import type { InboxPosition } from './inbox.js';

/**
 * The inbox's opaque cursors. Clients store and send them back, never read them: the format can
 * change with a new version prefix. Nothing in them is secret or grants anything (a caller only
 * ever reads their own conversations), so they are encoded, not signed; a cursor that does not
 * decode to exactly what this server issues is refused, so a client bug surfaces as a 400 naming
 * the parameter instead of an inbox that silently starts over.
 */

const SYNC_VERSION = 's1';
const PAGE_VERSION = 'p1';

/** Where a listing continues: its sync position, its changedSince filter, and the last conversation served. */
export interface PageCursor {
  /** The sync position of the listing's first page, answered again as syncCursor by every later page. */
  sync: string;
  changedSince: string | undefined;
  after: InboxPosition;
}

const encode = (fields: string[]) => Buffer.from(fields.join('.'), 'utf8').toString('base64url');

/** The fields of a cursor, or undefined unless it is canonical base64url of `version.…` with `count` fields. */
function decode(cursor: string, version: string, count: number): string[] | undefined {
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(cursor)) return undefined;
  const bytes = Buffer.from(cursor, 'base64url');
  // Non-canonical spellings (stray low bits) would make two cursors mean one position.
  if (bytes.toString('base64url') !== cursor) return undefined;
  const [head, ...fields] = bytes.toString('utf8').split('.');
  return head === version && fields.length === count ? fields : undefined;
}

export const encodeSyncCursor = (position: string): string => encode([SYNC_VERSION, position]);

/** The sync position inside a syncCursor, or undefined when it is not one this server issued. */
export function decodeSyncCursor(cursor: string): string | undefined {
  const [position] = decode(cursor, SYNC_VERSION, 1) ?? [];
  return position !== undefined && isUlid(position) ? position : undefined;
}

export const encodePageCursor = (cursor: PageCursor): string =>
  encode([PAGE_VERSION, cursor.sync, cursor.changedSince ?? '', cursor.after.activity, cursor.after.conversationId]);

/** A nextCursor's contents, or undefined when it is not one this server issued. */
export function decodePageCursor(cursor: string): PageCursor | undefined {
  const fields = decode(cursor, PAGE_VERSION, 4);
  if (!fields) return undefined;
  const [sync = '', changedSince = '', activity = '', conversationId = ''] = fields;
  const validOptional = (id: string) => id === '' || isUlid(id);
  if (!isUlid(sync) || !validOptional(changedSince) || !validOptional(activity)) return undefined;
  if (!CONVERSATION_ID_PATTERN.test(conversationId)) return undefined;
  return {
    sync,
    changedSince: changedSince === '' ? undefined : changedSince,
    after: { activity, conversationId },
  };
}
