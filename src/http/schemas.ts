import { z } from '@hono/zod-openapi';
import { CONVERSATION_ID_PATTERN } from '../domain/conversations.js';
import { ERROR_CODES } from '../domain/errors.js';
import { ULID_PATTERN } from '../domain/ids.js';
import type { Group, GroupMember, Message, Receipt, User } from '../domain/types.js';

/** Shared request/response schemas: they validate input and generate the OpenAPI document. */

export const Ulid = z.string().regex(ULID_PATTERN, 'must be a ULID').openapi({ example: '01JD3W6YQ7R5S3T2V1X0Z9Y8W7' });

export const ConversationId = z
  .string()
  .regex(CONVERSATION_ID_PATTERN, 'must be a group id or a dm_<userId>_<userId> id')
  .openapi({ example: 'dm_01JD3W6YQ7R5S3T2V1X0Z9Y8W7_01JD3W7B1C2D3E4F5G6H7J8K9M' });

const isoOrEpochMs = z.union([
  z.number().int().min(0).max(8.64e15),
  z.string().refine((value) => !Number.isNaN(Date.parse(value)) && /^\d{4}-\d{2}-\d{2}/.test(value), {
    message: 'must be an ISO-8601 date-time',
  }),
]);

/** A point in time given as ISO-8601 or epoch milliseconds → epoch ms. */
export const Timestamp = isoOrEpochMs
  .transform((value) => (typeof value === 'number' ? value : Date.parse(value)))
  .openapi({ example: '2026-11-24T12:00:00.000Z' });

/** The same in a query string, where everything arrives as text. */
export const QueryTimestamp = z
  .string()
  .transform((value, ctx) => {
    const ms = /^\d+$/.test(value) ? Number(value) : /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(ms) || ms > 8.64e15) {
      ctx.addIssue({ code: 'custom', message: 'must be ISO-8601 or epoch milliseconds' });
      return z.NEVER;
    }
    return ms;
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

export const toMessageJson = (message: Message) => ({
  id: message.id,
  conversationId: message.conversationId,
  senderId: message.senderId,
  receiverId: message.receiverId,
  groupId: message.groupId,
  content: message.content,
  createdAt: iso(message.createdAt),
  clientTimestamp: message.clientTimestamp == null ? null : iso(message.clientTimestamp),
  status: message.status,
});

export const ReceiptSchema = z
  .object({
    conversationId: ConversationId,
    userId: Ulid,
    deliveredUpTo: Ulid.nullable(),
    readUpTo: Ulid.nullable(),
  })
  .openapi('Receipt');

export const toReceiptJson = (receipt: Receipt) => ({ ...receipt });

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
