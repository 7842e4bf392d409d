import { z } from '@hono/zod-openapi';
import { isUlid } from '../domain/ids.js';
import { decodeCursor, encodeCursor } from '../domain/sync-cursor.js';
import type { HistoryAfter } from '../services/messaging.js';
import { QueryTimestamp, Ulid } from './schemas.js';

/**
 * The cursor query parameters of a message stream (GET /messages, GET …/thread), in one place so
 * both endpoints validate and document them alike.
 *
 * `after`: a message id (exclusive; kept for older clients) or an opaque sync cursor from a
 * previous response's `cursor`. A cursor that does not decode is refused: read as "from the
 * start" it would replay a history, read as a later position it would skip messages.
 */
const After = z
  .string()
  .refine(
    (value) => isUlid(value) || decodeCursor(value) !== undefined,
    'must be a message id or a cursor from a previous response',
  )
  .openapi({
    type: 'string',
    pattern: '^([0-7][0-9A-HJKMNP-TV-Z]{25}|[A-Za-z0-9_-]{16,200})$',
    description:
      'Catch-up: a `cursor` from a previous response (opaque; every message that became visible since, oldest first, including late ones whose ids sort before messages already returned), or a message id (exclusive; no such guarantee). Not together with before.',
  });

export const pageParams = {
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(50)
    .openapi({ type: 'integer', minimum: 1, maximum: 100, default: 50, description: 'Page size' }),
  before: Ulid.optional().openapi({
    description: 'Cursor (exclusive): messages older than this id, newest first. Not together with after.',
  }),
  after: After.optional(),
  from: QueryTimestamp.optional().openapi({
    description: 'Earliest createdAt (inclusive), ISO-8601 or epoch ms; not later than to',
  }),
  to: QueryTimestamp.optional().openapi({
    description: 'Latest createdAt (inclusive), ISO-8601 or epoch ms; not earlier than from',
  }),
};

type PageParams = {
  before?: string | undefined;
  after?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
};

/** The rules between the page parameters (OpenAPI cannot say them; their descriptions do). */
export const notBothCursors = (q: PageParams) => q.before === undefined || q.after === undefined;
export const NOT_BOTH_CURSORS = { message: 'give before or after, not both', path: ['before'] };
export const fromNotAfterTo = (q: PageParams) => q.from === undefined || q.to === undefined || q.from <= q.to;
export const FROM_NOT_AFTER_TO = { message: 'from must not be later than to', path: ['from'] };

/** `after` as the services take it: a message id or a decoded cursor position. */
export const afterOf = (after: string | undefined): HistoryAfter | undefined =>
  after === undefined ? undefined : isUlid(after) ? { id: after } : { below: decodeCursor(after)?.below ?? '' };

/** The validated page parameters as the services take them (CursorQuery). */
export const cursorQueryOf = (q: PageParams & { limit: number }) => ({
  limit: q.limit,
  before: q.before,
  after: afterOf(q.after),
  from: q.from,
  to: q.to,
});

/** The cursor as sent on the wire (opaque), from a page's position. */
export const cursorOf = (position: string | null) => (position === null ? null : encodeCursor({ below: position }));

/** The `cursor` field of a page answer. */
export const CursorField = z.string().nullable().openapi({
  description: 'Opaque catch-up cursor (pass as `after`); null on `before` and `to` pages',
});
