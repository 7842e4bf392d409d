import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { MessagingService } from '../../services/messaging.js';
import type { AppEnv } from '../context.js';
import { bearer, ConversationId, json, jsonBodyOf, problems, ReceiptSchema, toReceiptJson, Ulid } from '../schemas.js';
import { hookOptions } from '../validation.js';

const Params = z.object({ conversationId: ConversationId });
const ReceiptBody = z
  .object({ messageId: Ulid, status: z.enum(['delivered', 'read']) })
  .strict()
  .openapi('ReceiptRequest');

/** Delivery status: moving one's own watermark and reading everyone's. */
export function conversationRoutes(deps: { messaging: MessagingService; auth: MiddlewareHandler<AppEnv> }) {
  const common = { tags: ['receipts'], security: bearer, middleware: deps.auth };
  const update = createRoute({
    ...common,
    method: 'post',
    path: '/conversations/{conversationId}/receipts',
    summary: "Move the caller's delivered/read watermark (never backwards)",
    request: { params: Params, body: jsonBodyOf(ReceiptBody) },
    responses: {
      200: json(z.object({ receipt: ReceiptSchema }), "The caller's watermarks after the update"),
      ...problems(400, 401, 403, 404, 413, 415),
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
      ...problems(400, 401, 403, 404),
    },
  });

  return new OpenAPIHono<AppEnv>(hookOptions)
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
