import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../../domain/errors.js';
import type { MessagingService, SendTarget } from '../../services/messaging.js';
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
import {
  bearer,
  ConversationId,
  codePoints,
  isWellFormed,
  json,
  jsonBodyOf,
  MessageSchema,
  NOT_ONLY_WHITESPACE_PATTERN,
  NOT_WELL_FORMED,
  problems,
  Timestamp,
  toMessageJson,
  Ulid,
} from '../schemas.js';
import { hookOptions } from '../validation.js';

const MAX_CONTENT_CHARACTERS = 4000;

/** A message's text, as sent or edited. */
export const MessageContent = z
  .string()
  .min(1)
  .refine(isWellFormed, NOT_WELL_FORMED)
  // Characters are Unicode code points (as JSON Schema's maxLength counts them), so 4000 emoji fit.
  .refine(
    (value) => codePoints(value) <= MAX_CONTENT_CHARACTERS,
    `must be at most ${MAX_CONTENT_CHARACTERS} characters`,
  )
  .refine((value) => value.trim().length > 0, 'must not be only whitespace')
  .openapi({
    minLength: 1,
    maxLength: MAX_CONTENT_CHARACTERS,
    pattern: NOT_ONLY_WHITESPACE_PATTERN,
    description: `1–${MAX_CONTENT_CHARACTERS} characters (Unicode code points), not only whitespace, valid Unicode (no lone surrogates); stored exactly as sent`,
  });

const IdempotencyKey = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/**
 * Exactly one of receiverId and groupId. The check stays a refinement of one object, so its error
 * names the rule ("give exactly one of receiverId or groupId") rather than zod's union report; the
 * document says the same as a oneOf over which of the two is required (both present matches both
 * branches, neither matches none).
 */
const SendBody = z
  .object({
    senderId: Ulid.optional().openapi({ description: 'Optional; must be the signed-in user when given' }),
    receiverId: Ulid.optional().openapi({ description: 'The user to send to (one-to-one); exclusive with groupId' }),
    groupId: Ulid.optional().openapi({ description: 'The group to send to; exclusive with receiverId' }),
    content: MessageContent,
    timestamp: Timestamp.optional().openapi({
      description: "The client's time of writing; stored, never used for order",
    }),
    clientMessageId: IdempotencyKey.optional().openapi({
      description: 'Idempotency key; must equal the Idempotency-Key header when both are sent',
    }),
    replyToId: Ulid.optional().openapi({
      description:
        'The message this one answers: a message of the same conversation, of the main history (or, with threadId, the root or a reply of that thread). Unknown: 404; in another timeline: 409',
    }),
    threadId: Ulid.optional().openapi({
      description:
        "Send as a reply in the thread under this root (a main-history message of the same conversation; a thread reply: 409, unknown: 404). Thread replies are not in the conversation's history: read them with GET /conversations/{conversationId}/messages/{rootId}/thread",
    }),
  })
  .strict()
  .refine((body) => (body.receiverId === undefined) !== (body.groupId === undefined), {
    message: 'give exactly one of receiverId or groupId',
    path: ['receiverId'],
  })
  .openapi('SendMessageRequest', { oneOf: [{ required: ['receiverId'] }, { required: ['groupId'] }] });

/**
 * The rules between parameters (exactly one target, not both cursors, from ≤ to) cannot be said in
 * OpenAPI, whose parameters are each their own schema; their descriptions say them instead.
 */
const HistoryQuery = z
  .object({
    peerId: Ulid.optional().openapi({
      description:
        'The other user of a one-to-one conversation (not the caller). Give exactly one of peerId, groupId and conversationId.',
    }),
    groupId: Ulid.optional().openapi({
      description: 'A group the caller belongs to. Give exactly one of peerId, groupId and conversationId.',
    }),
    conversationId: ConversationId.optional().openapi({
      description:
        'A group id or a dm_<userId>_<userId> id (smaller id first). Give exactly one of peerId, groupId and conversationId.',
    }),
    ...pageParams,
  })
  .refine((q) => [q.peerId, q.groupId, q.conversationId].filter((value) => value !== undefined).length === 1, {
    message: 'give exactly one of peerId, groupId or conversationId',
    path: ['peerId'],
  })
  .refine(notBothCursors, NOT_BOTH_CURSORS)
  .refine(fromNotAfterTo, FROM_NOT_AFTER_TO);

/** Sending and reading messages. */
export function messageRoutes(deps: { messaging: MessagingService; auth: MiddlewareHandler<AppEnv> }) {
  const common = { tags: ['messages'], security: bearer, middleware: deps.auth };
  const send = createRoute({
    ...common,
    method: 'post',
    path: '/messages',
    summary: 'Send a message to a user or a group',
    description:
      'Answered 201 once the message is durable in Cassandra. A retry with the same clientMessageId (or Idempotency-Key header) within 24 h answers 200 with the original message.',
    request: {
      headers: z.object({ 'idempotency-key': IdempotencyKey.optional() }),
      body: jsonBodyOf(SendBody),
    },
    responses: {
      201: json(z.object({ message: MessageSchema }), 'Stored'),
      200: json(z.object({ message: MessageSchema }), 'A retry: the message stored by the first attempt'),
      ...problems(401, 403, 404, 409, 413, 415),
    },
  });
  const history = createRoute({
    ...common,
    method: 'get',
    path: '/messages',
    summary: 'A page of conversation history',
    description:
      'Newest first; with `after`, oldest first (catch-up). `nextCursor` goes in `before` (or `after`) for the next page and is null when no further message exists in that direction. `cursor` (on `after` pages and the first newest-first page, else null) is opaque: store it and pass it as `after` later to receive every message that became visible since, whatever its id; catch-up pages return only messages whose send has settled on every node, so a message appears there a fraction of a second after its 201 (src/services/sync/README.md).',
    request: { query: HistoryQuery },
    responses: {
      200: json(
        z.object({
          messages: z.array(MessageSchema),
          updates: z.array(MessageSchema).openapi({
            description:
              'On `after` pages: the current state of messages edited, deleted or reacted to since the cursor (up to where this page ends) that `messages` does not hold; replace them by id. Empty on other pages.',
          }),
          nextCursor: Ulid.nullable(),
          cursor: CursorField,
        }),
        'A page',
      ),
      ...problems(400, 401, 403, 404),
    },
  });

  return new OpenAPIHono<AppEnv>(hookOptions)
    .openapi(send, async (c) => {
      const body = c.req.valid('json');
      const callerId = c.get('userId');
      if (body.senderId !== undefined && body.senderId !== callerId) {
        throw new AppError('FORBIDDEN', 'senderId must be the signed-in user');
      }
      const headerKey = c.req.valid('header')['idempotency-key'];
      if (headerKey && body.clientMessageId && headerKey !== body.clientMessageId) {
        throw new AppError('VALIDATION_FAILED', 'Idempotency-Key and clientMessageId differ', {
          issues: [
            { path: 'body.clientMessageId', message: 'must equal the Idempotency-Key header when both are sent' },
          ],
        });
      }
      const target: SendTarget = body.receiverId ? { receiverId: body.receiverId } : { groupId: body.groupId ?? '' };
      const result = await deps.messaging.send(callerId, {
        target,
        content: body.content,
        clientTimestamp: body.timestamp ?? null,
        idempotencyKey: body.clientMessageId ?? headerKey,
        replyToId: body.replyToId ?? null,
        threadId: body.threadId ?? null,
      });
      return c.json({ message: toMessageJson(result.message, callerId) }, result.created ? 201 : 200);
    })
    .openapi(history, async (c) => {
      const q = c.req.valid('query');
      const target = q.peerId
        ? { peerId: q.peerId }
        : q.groupId
          ? { groupId: q.groupId }
          : { conversationId: q.conversationId ?? '' };
      const page = await deps.messaging.history(c.get('userId'), {
        target,
        ...cursorQueryOf(q),
      });
      return c.json(
        {
          messages: page.messages.map((message) => toMessageJson(message, c.get('userId'))),
          updates: page.updates.map((message) => toMessageJson(message, c.get('userId'))),
          nextCursor: page.nextCursor,
          cursor: cursorOf(page.syncPosition),
        },
        200,
      );
    });
}
