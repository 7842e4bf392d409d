import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { GroupService } from '../../services/groups.js';
import type { MessagingService } from '../../services/messaging.js';
import type { AppEnv } from '../context.js';
import { bearer, ConversationId, json, jsonBodyOf, problems, ReceiptSchema, toReceiptJson, Ulid } from '../schemas.js';
import { hookOptions } from '../validation.js';

const Params = z.object({ conversationId: ConversationId });
const ReceiptBody = z
  .object({ messageId: Ulid, status: z.enum(['delivered', 'read']) })
  .strict()
  .openapi('ReceiptRequest');

const ConversationSchema = z
  .object({
    id: ConversationId,
    kind: z.enum(['direct', 'group']),
    peerId: Ulid.nullable().openapi({ description: 'The other user of a one-to-one conversation' }),
    groupId: Ulid.nullable(),
    name: z.string().nullable().openapi({ description: "The group's name" }),
  })
  .openapi('Conversation');

/** The caller's conversations, and delivery status: moving one's own watermark and reading everyone's. */
export function conversationRoutes(deps: {
  messaging: MessagingService;
  groups: GroupService;
  auth: MiddlewareHandler<AppEnv>;
}) {
  const common = { tags: ['receipts'], security: bearer, middleware: deps.auth };
  const listMine = createRoute({
    ...common,
    tags: ['conversations'],
    method: 'get',
    path: '/conversations',
    summary: 'Every conversation the caller takes part in',
    description:
      'One-to-one conversations that hold at least one message, then the groups the caller belongs to. A reconnecting client catches up on each with GET /messages?conversationId=…&after=….',
    responses: {
      200: json(z.object({ conversations: z.array(ConversationSchema) }), 'Conversations'),
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
      const callerId = c.get('userId');
      const [direct, groups] = await Promise.all([
        deps.messaging.listDirectConversations(callerId),
        deps.groups.listForUser(callerId),
      ]);
      const conversations = [
        ...direct.map((entry) => ({
          id: entry.conversationId,
          kind: 'direct' as const,
          peerId: entry.peerId,
          groupId: null,
          name: null,
        })),
        ...groups.map((group) => ({
          id: group.id,
          kind: 'group' as const,
          peerId: null,
          groupId: group.id,
          name: group.name,
        })),
      ];
      return c.json({ conversations }, 200);
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
