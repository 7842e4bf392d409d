import { z } from '@hono/zod-openapi';
import { CONVERSATION_ID_PATTERN } from '../domain/conversations.js';
import { ERROR_CODES } from '../domain/errors.js';
import { ULID_PATTERN } from '../domain/ids.js';
import type { Group, GroupMember, User } from '../domain/types.js';

// The message and receipt JSON shapes are shared with the WebSocket frames (api-shapes/).
export { toMessageJson, toReceiptJson } from '../api-shapes/messages.js';

/** Shared request/response schemas: they validate input and generate the OpenAPI document. */

export const Ulid = z.string().regex(ULID_PATTERN, 'must be a ULID').openapi({ example: '01JD3W6YQ7R5S3T2V1X0Z9Y8W7' });

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

/** A point in time in a JSON body: ISO-8601 string or epoch milliseconds (number) → epoch ms. */
export const Timestamp = z
  .union([z.number().int().min(0).max(MAX_DATE_MS), z.string()])
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
  .openapi({ type: 'string', example: '2026-11-24T12:00:00.000Z' });

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
    ownerId: Ulid,
    createdAt: z.string().openapi({ format: 'date-time' }),
    memberCount: z.number().int(),
  })
  .openapi('Group');

export const toGroupJson = (group: Group) => ({ ...group, createdAt: iso(group.createdAt) });

export const MemberSchema = z
  .object({
    userId: Ulid,
    role: z.enum(['owner', 'member']),
    joinedAt: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('GroupMember');

export const toMemberJson = (member: GroupMember) => ({
  userId: member.userId,
  role: member.role,
  joinedAt: iso(member.joinedAt),
});

export const MessageSchema = z
  .object({
    id: Ulid,
    conversationId: ConversationId,
    senderId: Ulid,
    receiverId: Ulid.nullable(),
    groupId: Ulid.nullable(),
    content: z.string(),
    createdAt: z.string().openapi({ format: 'date-time' }),
    clientTimestamp: z.string().nullable().openapi({ format: 'date-time' }),
    status: z.enum(['sent', 'delivered', 'read']),
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
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(ERROR_CODES),
    requestId: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

/** Error responses for a route's OpenAPI entry. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: 'Problem details', content: { 'application/problem+json': { schema: ProblemSchema } } },
    ]),
  );
}

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const jsonBodyOf = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

export const bearer = [{ bearerAuth: [] }];
