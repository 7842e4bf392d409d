import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { UNREAD_EXACT_UP_TO } from '../../domain/inbox.js';
import { decodePageCursor, decodeSyncCursor } from '../../domain/inbox-cursors.js';
import type { InboxItem, MessagingService } from '../../services/messaging.js';
import type { AppEnv } from '../context.js';
import {
  bearer,
  ConversationId,
  json,
  jsonBodyOf,
  MessageSchema,
  problems,
  ReceiptSchema,
  toMessageJson,
  toReceiptJson,
  Ulid,
} from '../schemas.js';
import { hookOptions } from '../validation.js';

const Params = z.object({ conversationId: ConversationId });
const ReceiptBody = z
  .object({ messageId: Ulid, status: z.enum(['delivered', 'read']) })
  .strict()
  .openapi('ReceiptRequest');

const OPAQUE = /^[A-Za-z0-9_-]{1,512}$/;

const InboxQuery = z
  .object({
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(100)
      .default(20)
      .openapi({ type: 'integer', minimum: 1, maximum: 100, default: 20, description: 'Page size' }),
    cursor: z
      .string()
      .regex(OPAQUE, 'must be a nextCursor from this endpoint')
      .refine((value) => decodePageCursor(value) !== undefined, 'must be a nextCursor from this endpoint')
      .optional()
      .openapi({
        description:
          "An earlier answer's nextCursor: the next page of the same listing (its changedSince included). Not together with changedSince.",
      }),
    changedSince: z
      .string()
      .regex(OPAQUE, 'must be a syncCursor from this endpoint')
      .refine((value) => decodeSyncCursor(value) !== undefined, 'must be a syncCursor from this endpoint')
      .optional()
      .openapi({
        description:
          "An earlier answer's syncCursor: only the conversations that changed since (and, in `left`, the groups left since). Not together with cursor.",
      }),
  })
  .refine((q) => q.cursor === undefined || q.changedSince === undefined, {
    message: "give cursor or changedSince, not both: a nextCursor carries its listing's changedSince",
    path: ['changedSince'],
  });

const ConversationSchema = z
  .object({
    id: ConversationId,
    kind: z.enum(['direct', 'group']),
    peerId: Ulid.nullable().openapi({ description: 'The other user of a one-to-one conversation' }),
    groupId: Ulid.nullable(),
    name: z.string().nullable().openapi({ description: "The group's name" }),
    memberCount: z.number().int().nullable().openapi({ description: "The group's member count" }),
    lastMessage: MessageSchema.nullable().openapi({ description: 'The newest message, null when there is none' }),
    unreadCount: z
      .number()
      .int()
      .min(0)
      .max(UNREAD_EXACT_UP_TO)
      .openapi({
        description: `Messages of others after the caller's readUpTo: exact up to ${UNREAD_EXACT_UP_TO}`,
      }),
    unreadCountCapped: z.boolean().openapi({
      description: 'true: there are at least unreadCount unread messages (more than 99, or more than the scan reads)',
    }),
    deliveredUpTo: Ulid.nullable().openapi({ description: "The caller's delivered watermark" }),
    readUpTo: Ulid.nullable().openapi({ description: "The caller's read watermark" }),
  })
  .openapi('Conversation');

const InboxSchema = z
  .object({
    conversations: z.array(ConversationSchema),
    left: z.array(Ulid).openapi({
      description: 'With changedSince, on its first page: groups the caller left since (drop them); else empty',
    }),
    nextCursor: z.string().nullable().openapi({ description: 'Pass as cursor for the next page; null on the last' }),
    syncCursor: z.string().openapi({ description: 'Keep it; pass it as changedSince on reconnect' }),
  })
  .openapi('Inbox');

const toConversationJson = (item: InboxItem, viewerId: string) => ({
  id: item.conversationId,
  kind: item.kind,
  peerId: item.peerId,
  groupId: item.groupId,
  name: item.name,
  memberCount: item.memberCount,
  lastMessage: item.lastMessage ? toMessageJson(item.lastMessage, viewerId) : null,
  unreadCount: item.unreadCount,
  unreadCountCapped: item.unreadCountCapped,
  deliveredUpTo: item.deliveredUpTo,
  readUpTo: item.readUpTo,
});

/** The caller's conversations, and delivery status: moving one's own watermark and reading everyone's. */
export function conversationRoutes(deps: { messaging: MessagingService; auth: MiddlewareHandler<AppEnv> }) {
  const common = { tags: ['receipts'], security: bearer, middleware: deps.auth };
  const listMine = createRoute({
    ...common,
    tags: ['conversations'],
    method: 'get',
    path: '/conversations',
    summary: "The caller's inbox: conversations by last activity, with last message and unread count",
    description:
      "One-to-one conversations that hold a message and the groups the caller belongs to, newest activity first, `limit` at a time (`nextCursor` → `cursor`). Keep `syncCursor`: `changedSince=<syncCursor>` answers only the conversations that changed since (a new message, a move of the caller's own watermarks, a group joined) and, in `left`, the groups left since; it may repeat a conversation, never misses one. Pull each changed conversation with GET /messages.",
    request: { query: InboxQuery },
    responses: {
      200: json(InboxSchema, 'A page of the inbox'),
      ...problems(401),
    },
  });
  const update = createRoute({
    ...common,
    method: 'post',
    path: '/conversations/{conversationId}/receipts',
    summary: "Move the caller's delivered/read watermark (never backwards)",
    request: { params: Params, body: jsonBodyOf(ReceiptBody) },
    responses: {
      200: json(z.object({ receipt: ReceiptSchema }), "The caller's watermarks after the update"),
      ...problems(401, 403, 404, 413, 415),
    },
  });
  const list = createRoute({
    ...common,
    method: 'get',
    path: '/conversations/{conversationId}/receipts',
    summary: "Every participant's watermarks",
    request: { params: Params },
    responses: {
      200: json(z.object({ receipts: z.array(ReceiptSchema) }), 'Receipts'),
      ...problems(401, 403, 404),
    },
  });

  return new OpenAPIHono<AppEnv>(hookOptions)
    .openapi(listMine, async (c) => {
      const q = c.req.valid('query');
      const page = await deps.messaging.inbox(c.get('userId'), {
        limit: q.limit,
        cursor: q.cursor === undefined ? undefined : decodePageCursor(q.cursor),
        changedSince: q.changedSince === undefined ? undefined : decodeSyncCursor(q.changedSince),
      });
      return c.json(
        { ...page, conversations: page.conversations.map((item) => toConversationJson(item, c.get('userId'))) },
        200,
      );
    })
    .openapi(update, async (c) => {
      const receipt = await deps.messaging.updateReceipt(
        c.get('userId'),
        c.req.valid('param').conversationId,
        c.req.valid('json'),
      );
      return c.json({ receipt: toReceiptJson(receipt) }, 200);
    })
    .openapi(list, async (c) => {
      const receipts = await deps.messaging.listReceipts(c.get('userId'), c.req.valid('param').conversationId);
      return c.json({ receipts: receipts.map(toReceiptJson) }, 200);
    });
}
