import { z } from '@hono/zod-openapi';
import { CONVERSATION_ID_PATTERN } from '../domain/conversations.js';
import { ERROR_CODES } from '../domain/errors.js';
import { ULID_PATTERN } from '../domain/ids.js';
import type { User } from '../domain/types.js';

// The group, member, message and receipt JSON shapes are shared with the WebSocket frames (api-shapes/).
export { toGroupJson, toMemberJson } from '../api-shapes/groups.js';
export { toMessageJson, toReceiptJson } from '../api-shapes/messages.js';

/** Shared request/response schemas: they validate input and generate the OpenAPI document. */

export const Ulid = z.string().regex(ULID_PATTERN, 'must be a ULID').openapi({ example: '01JD3W6YQ7R5S3T2V1X0Z9Y8W7' });

/**
 * The characters String.prototype.trim (and zod's .trim()) removes: ECMAScript WhiteSpace and
 * LineTerminator. Spelled out rather than `\s` because the OpenAPI document's patterns are read by
 * other regex engines too (Python's `\s`, for one, leaves out U+FEFF and adds U+001C–U+001F).
 */
export const WHITESPACE_CLASS =
  '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
/** A pattern (unanchored) that holds when text has a character trim() keeps: "not only whitespace". */
export const NOT_ONLY_WHITESPACE_PATTERN = `[^${WHITESPACE_CLASS}]`;
const NOT_ONLY_WHITESPACE = new RegExp(NOT_ONLY_WHITESPACE_PATTERN);

/** Unicode code points, counted without building an array (JSON Schema's maxLength counts these). */
export function codePoints(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

/**
 * Free text a person types (a group name, a display name): 1 to `max` characters (code points,
 * counted as sent), not only whitespace, well-formed Unicode; stored trimmed. The document says
 * the same with minLength, maxLength and a pattern; only well-formedness is in prose (JSON Schema
 * cannot name lone surrogates).
 */
export function trimmedText(max: number) {
  return z
    .string()
    .min(1)
    .refine((value) => codePoints(value) <= max, `must be at most ${max} characters`)
    .refine((value) => NOT_ONLY_WHITESPACE.test(value), 'must not be only whitespace')
    .refine(isWellFormed, NOT_WELL_FORMED)
    .transform((value) => value.trim())
    .openapi({
      type: 'string',
      minLength: 1,
      maxLength: max,
      pattern: NOT_ONLY_WHITESPACE_PATTERN,
      description: `1–${max} characters (Unicode code points), not only whitespace, valid Unicode (no lone surrogates); stored trimmed`,
    });
}

export const ConversationId = z
  .string()
  .regex(CONVERSATION_ID_PATTERN, 'must be a group id or a dm_<userId>_<userId> id')
  .openapi({ example: 'dm_01JD3W6YQ7R5S3T2V1X0Z9Y8W7_01JD3W7B1C2D3E4F5G6H7J8K9M' });

/**
 * Whether text is well-formed Unicode. A lone UTF-16 surrogate cannot be stored as UTF-8
 * (Cassandra would keep U+FFFD instead), so such text is refused rather than silently changed.
 */
export const isWellFormed = (value: string): boolean => !/\p{Cs}/u.test(value);
export const NOT_WELL_FORMED = 'must be valid Unicode text';

/** The latest time a ULID (and so a message's createdAt) can carry. */
const MAX_ULID_TIME_MS = 2 ** 48 - 1;
/** The latest time a JavaScript Date (and a Cassandra timestamp we write) can carry. */
const MAX_DATE_MS = 8.64e15;

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * ISO-8601 (a date, or a date-time with an optional offset) or epoch milliseconds as digits →
 * epoch ms; undefined for anything else. A date-time without an offset is UTC, so the server's
 * own time zone never changes what a request means; impossible dates (Feb 30) are refused rather
 * than rolled over as Date.parse would.
 */
export function parseInstant(value: string): number | undefined {
  if (/^\d{1,16}$/.test(value)) {
    const ms = Number(value);
    return ms <= MAX_DATE_MS ? ms : undefined;
  }
  const match = ISO_8601.exec(value);
  if (!match) return undefined;
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zone = 'Z'] = match;
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // Before 1970 is refused (and Date.UTC would read years below 100 as 19xx).
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const local = Date.UTC(y, mo - 1, d, h, mi, s, Number(fraction.padEnd(3, '0').slice(0, 3)));
  // Date.UTC rolls Feb 30 over into March: a day that changed did not exist.
  if (new Date(local).getUTCDate() !== d) return undefined;
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const offsetHours = Number(digits.slice(0, 2));
    const offsetMins = Number(digits.slice(2));
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  const ms = local - offsetMinutes * 60_000;
  return ms >= 0 && ms <= MAX_DATE_MS ? ms : undefined;
}

const INSTANT_MESSAGE = 'must be an ISO-8601 date-time (UTC when no offset is given) or epoch milliseconds';

/**
 * What parseInstant accepts, as a pattern for the OpenAPI document, so a generated "valid" time is
 * one the server takes: epoch ms up to 8640000000000000, or a real calendar day from 1970 to 9999
 * (month lengths and leap years included) with an optional time and offset. The one thing it
 * cannot see is an offset that moves 1970-01-01 before the epoch; tests check it agrees with
 * parseInstant.
 */
const EPOCH_MS = '[0-9]{1,15}|[0-7][0-9]{15}|8[0-5][0-9]{14}|86[0-3][0-9]{13}|8640{13}';
const YEAR = '19[7-9][0-9]|[2-9][0-9]{3}';
const LEAP_YEAR = '19(?:7[26]|8[048]|9[26])|[2-9][0-9](?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[3579][26])00';
const DAY =
  `(?:${YEAR})-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))` +
  `|(?:${LEAP_YEAR})-02-29`;
const TIME =
  '[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.,][0-9]{1,9})?)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?';
export const INSTANT_PATTERN = `^(?:${EPOCH_MS}|(?:${DAY})(?:${TIME})?)$`;
const INSTANT_DESCRIPTION =
  'ISO-8601 date or date-time from 1970 on (UTC when no offset is given), or epoch milliseconds as digits';

/** A point in time in a JSON body: ISO-8601 string or epoch milliseconds (number) → epoch ms. */
export const Timestamp = z
  .union([
    z.number().int().min(0).max(MAX_DATE_MS),
    z.string().openapi({ pattern: INSTANT_PATTERN, description: INSTANT_DESCRIPTION }),
  ])
  .transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const ms = parseInstant(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: INSTANT_MESSAGE });
      return z.NEVER;
    }
    return ms;
  })
  .openapi({ example: '2026-11-24T12:00:00.000Z' });

/**
 * The same in a query string, where everything arrives as text. Clamped to the times a ULID can
 * hold, because range bounds become bounds on the ULID clustering key.
 */
export const QueryTimestamp = z
  .string()
  .transform((value, ctx) => {
    const ms = parseInstant(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: INSTANT_MESSAGE });
      return z.NEVER;
    }
    return Math.min(ms, MAX_ULID_TIME_MS);
  })
  .openapi({ type: 'string', pattern: INSTANT_PATTERN, example: '2026-11-24T12:00:00.000Z' });

const iso = (ms: number) => new Date(ms).toISOString();

export const UserSchema = z
  .object({
    id: Ulid,
    username: z.string(),
    displayName: z.string(),
    createdAt: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('User');

export const toUserJson = (user: User) => ({
  id: user.id,
  username: user.username,
  displayName: user.displayName,
  createdAt: iso(user.createdAt),
});

export const GroupSchema = z
  .object({
    id: Ulid,
    name: z.string(),
    description: z.string().nullable().openapi({ description: 'Set by the owner or an admin; null until set' }),
    ownerId: Ulid,
    createdAt: z.string().openapi({ format: 'date-time' }),
    memberCount: z.number().int(),
  })
  .openapi('Group');

export const MemberRoleSchema = z.enum(['owner', 'admin', 'member']).openapi('MemberRole', {
  description:
    'owner: exactly one per group, changes roles and transfers ownership; admin: adds and removes members (not the owner or other admins) and edits settings; member: reads, sends and leaves',
});

export const MemberSchema = z
  .object({
    userId: Ulid,
    role: MemberRoleSchema,
    joinedAt: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('GroupMember');

export const ThreadSummarySchema = z
  .object({
    replyCount: z.number().int().min(1).openapi({ description: 'Replies in the thread' }),
    lastReplyAt: z.string().openapi({ format: 'date-time', description: 'When the newest reply was sent' }),
    lastReplyId: Ulid.openapi({ description: 'The newest reply' }),
  })
  .openapi('ThreadSummary');

export const ReactionSchema = z
  .object({
    emoji: z.string(),
    count: z.number().int().min(1),
    me: z.boolean(),
  })
  .openapi('Reaction');

export const MessageSchema = z
  .object({
    id: Ulid,
    conversationId: ConversationId,
    senderId: Ulid,
    receiverId: Ulid.nullable(),
    groupId: Ulid.nullable(),
    content: z.string().nullable().openapi({ description: 'null once the message was deleted for everyone' }),
    createdAt: z.string().openapi({ format: 'date-time' }),
    clientTimestamp: z.string().nullable().openapi({ format: 'date-time' }),
    status: z.enum(['sent', 'delivered', 'read']),
    editedAt: z
      .string()
      .nullable()
      .openapi({ format: 'date-time', description: 'When the content was last edited; null if never' }),
    deletedAt: z.string().nullable().openapi({
      format: 'date-time',
      description: 'When it was deleted for everyone (content null, reactions empty); null if not',
    }),
    reactions: z.array(ReactionSchema).openapi({
      description:
        'One entry per emoji, in the order each was first given; `me`: you gave it (always false in WebSocket frames)',
    }),
    replyToId: Ulid.nullable().openapi({
      description:
        'The message this one answers (of the same timeline: main history, or the same thread); null when none',
    }),
    threadId: Ulid.nullable().openapi({
      description: 'The root of the thread this message is a reply in; null for main-history messages',
    }),
    thread: ThreadSummarySchema.nullable().openapi({
      description:
        "A thread root's replies at a glance; null when the message has no thread replies (and on thread replies)",
    }),
  })
  .openapi('Message');

export const ReceiptSchema = z
  .object({
    conversationId: ConversationId,
    userId: Ulid,
    deliveredUpTo: Ulid.nullable(),
    readUpTo: Ulid.nullable(),
  })
  .openapi('Receipt');

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ format: 'uri', example: 'https://switchboard.dev/problems/validation-failed' }),
    title: z.string(),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    code: z.enum(ERROR_CODES),
    requestId: z.string().openapi({ description: 'Also in the X-Request-Id header; quote it in bug reports' }),
    issues: z
      .array(z.object({ path: z.string(), message: z.string() }).strict())
      .optional()
      .openapi({
        description: 'Validation failures only: one entry per broken rule, path starting body/query/params/header',
      }),
  })
  .strict()
  .openapi('Problem', { description: 'RFC 9457 problem details with a stable machine-readable code' });

/** Every response carries the request id: the client's X-Request-Id when it is sane, else a fresh one. */
const REQUEST_ID_HEADER = {
  'X-Request-Id': {
    description: "The request's id (the one sent if it was 1–128 characters of A-Za-z0-9._:-)",
    required: true,
    schema: { type: 'string' as const },
  },
};
const RETRY_AFTER_HEADER = {
  'Retry-After': {
    description: 'Seconds to wait before retrying',
    required: true,
    schema: { type: 'string' as const, pattern: '^[0-9]+$' },
  },
};

/** What each error status means on this API, and the headers it always carries. */
const PROBLEM_STATUSES = {
  400: {
    description: 'The request breaks the schema or a rule (VALIDATION_FAILED) or its body is not JSON (MALFORMED_JSON)',
  },
  401: {
    description: 'No valid bearer token (UNAUTHENTICATED)',
    headers: { 'WWW-Authenticate': { description: 'Bearer', required: true, schema: { type: 'string' as const } } },
  },
  403: { description: 'Authenticated but not allowed (FORBIDDEN)' },
  404: { description: 'Unknown resource (NOT_FOUND)' },
  409: { description: 'Conflicts with the current state (CONFLICT)' },
  413: { description: 'The body is over the size limit (PAYLOAD_TOO_LARGE)' },
  415: { description: 'The body is not sent as JSON (UNSUPPORTED_MEDIA_TYPE)' },
  429: { description: 'Too many requests (RATE_LIMITED)', headers: RETRY_AFTER_HEADER },
  500: { description: 'A bug, logged with its stack under the requestId (INTERNAL)' },
  503: { description: 'A store the route needs is unreachable; retry (UNAVAILABLE)', headers: RETRY_AFTER_HEADER },
} as const;

export type ProblemStatus = keyof typeof PROBLEM_STATUSES;

/**
 * Statuses every /api/v1 operation can answer, whatever it does: 400 (any query, path or header
 * can be malformed), 429 (every route is rate limited), 500 (a bug) and 503 (each route reads
 * Cassandra, or Redis for presence).
 */
export const ALWAYS_POSSIBLE: readonly ProblemStatus[] = [400, 429, 500, 503];

/**
 * Error responses for a route's OpenAPI entry: the statuses given (those particular to the route:
 * 401 where a token is needed, 413/415 where there is a body, 403/404/409 where the service can
 * answer them) plus ALWAYS_POSSIBLE. Each is application/problem+json with the Problem schema.
 */
export function problems(...statuses: ProblemStatus[]) {
  const all = [...new Set([...statuses, ...ALWAYS_POSSIBLE])].sort((a, b) => a - b);
  return Object.fromEntries(
    all.map((status) => {
      const { description, ...rest } = PROBLEM_STATUSES[status];
      const headers = { ...REQUEST_ID_HEADER, ...('headers' in rest ? rest.headers : {}) };
      return [status, { description, headers, content: { 'application/problem+json': { schema: ProblemSchema } } }];
    }),
  );
}

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  headers: REQUEST_ID_HEADER,
  content: { 'application/json': { schema } },
});

/** A response without a body (204). */
export const noContent = (description: string) => ({ description, headers: REQUEST_ID_HEADER });

export const jsonBodyOf = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

export const bearer = [{ bearerAuth: [] }];
