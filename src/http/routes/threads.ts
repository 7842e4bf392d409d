import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { MessagingService } from '../../services/messaging.js';
import type { AppEnv } from '../context.js';
import {
  CursorField,
  cursorOf,
  cursorQueryOf,
  FROM_NOT_AFTER_TO,
  fromNotAfterTo,
  NOT_BOTH_CURSORS,
  notBothCursors,
  pageParams,
} from '../page-params.js';
import { bearer, ConversationId, json, MessageSchema, problems, toMessageJson, Ulid } from '../schemas.js';
import { hookOptions } from '../validation.js';

const Params = z.object({
  conversationId: ConversationId,
  rootId: Ulid.openapi({ description: "The thread's root: a message of the conversation's main history" }),
});

const ThreadQuery = z
  .object(pageParams)
  .refine(notBothCursors, NOT_BOTH_CURSORS)
  .refine(fromNotAfterTo, FROM_NOT_AFTER_TO);

/** A thread's replies (sending one is POST /messages with threadId). */
export function threadRoutes(deps: { messaging: MessagingService; auth: MiddlewareHandler<AppEnv> }) {
  const thread = createRoute({
    tags: ['messages'],
    security: bearer,
    middleware: deps.auth,
    method: 'get',
    path: '/conversations/{conversationId}/messages/{rootId}/thread',
    summary: "A page of a thread's replies, with its root",
    description:
      "The replies sent with `threadId` = rootId, by the same cursor rules as GET /messages: newest first; with `after`, oldest first (catch-up). `nextCursor` goes in `before` (or `after`) for the next page; `cursor` (on `after` pages and the first newest-first page) is how a client catches up on a thread it follows: store it, pass it as `after` later. `root` carries the current `thread` summary. Readable by the conversation's participants only (403/404 as for its history); 404 when rootId is not a main-history message of this conversation.",
    request: { params: Params, query: ThreadQuery },
    responses: {
      200: json(
        z.object({
          root: MessageSchema,
          messages: z.array(MessageSchema),
          updates: z.array(MessageSchema).openapi({
            description:
              'On `after` pages: replies of this thread below `cursor` that were edited, deleted for everyone or reacted to since the `after` cursor and are not in `messages` (replace your copy by id). Empty otherwise.',
          }),
          nextCursor: Ulid.nullable(),
          cursor: CursorField,
        }),
        'A page of the thread',
      ),
      ...problems(400, 401, 403, 404),
    },
  });

  return new OpenAPIHono<AppEnv>(hookOptions).openapi(thread, async (c) => {
    const { conversationId, rootId } = c.req.valid('param');
    const q = c.req.valid('query');
    const viewerId = c.get('userId');
    const page = await deps.messaging.thread(viewerId, {
      conversationId,
      rootId,
      ...cursorQueryOf(q),
    });
    return c.json(
      {
        root: toMessageJson(page.root, viewerId),
        messages: page.messages.map((message) => toMessageJson(message, viewerId)),
        updates: page.updates.map((message) => toMessageJson(message, viewerId)),
        nextCursor: page.nextCursor,
        cursor: cursorOf(page.syncPosition),
      },
      200,
    );
  });
}
