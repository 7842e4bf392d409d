import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import {
  emojiProblem,
  MAX_DISTINCT_EMOJI,
  MAX_EMOJI_BYTES,
  MAX_REACTIONS_PER_MESSAGE,
} from '../../domain/reactions.js';
import type { MessagingService } from '../../services/messaging.js';
import type { AppEnv } from '../context.js';
import { bearer, ConversationId, json, jsonBodyOf, MessageSchema, problems, toMessageJson, Ulid } from '../schemas.js';
import { hookOptions } from '../validation.js';
import { MessageContent } from './messages.js';

const MessageParams = z.object({ conversationId: ConversationId, messageId: Ulid });

/** The path segment, percent-decoded by the router before this sees it. */
const Emoji = z
  .string()
  .superRefine((value, ctx) => {
    const problem = emojiProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .openapi({
    param: { name: 'emoji', in: 'path' },
    minLength: 1,
    maxLength: MAX_EMOJI_BYTES,
    example: '👍',
    description: `One emoji (exactly one grapheme cluster, at most ${MAX_EMOJI_BYTES} bytes of UTF-8, no spaces or control characters), percent-encoded: 👍 is %F0%9F%91%8D`,
  });

const ReactionParams = MessageParams.extend({ emoji: Emoji });

const EditBody = z.object({ content: MessageContent }).strict().openapi('EditMessageRequest');

const answered = json(z.object({ message: MessageSchema }), 'The message as it now is');

/**
 * Edit, delete for everyone and reactions (issue 16): one route each, answering the message as
 * it now is. Each change is durable in Cassandra and in the conversation's change stream before
 * the 200 (services/messages/mutations.ts), so it reaches reconnecting clients through
 * `after=<cursor>` pages (`updates`) and the inbox's changedSince.
 */
export function messageMutationRoutes(deps: { messaging: MessagingService; auth: MiddlewareHandler<AppEnv> }) {
  const common = { tags: ['messages'], security: bearer, middleware: deps.auth };
  const path = '/conversations/{conversationId}/messages/{messageId}';
  const edit = createRoute({
    ...common,
    method: 'patch',
    path,
    summary: 'Edit a message (its sender only)',
    description:
      'Replaces the content (same rules as a send) and sets `editedAt`; every participant gets `message.updated`. 409 once the message was deleted for everyone. The same content again changes nothing.',
    request: { params: MessageParams, body: jsonBodyOf(EditBody) },
    responses: { 200: answered, ...problems(401, 403, 404, 409, 413, 415) },
  });
  const remove = createRoute({
    ...common,
    method: 'delete',
    path,
    summary: 'Delete a message for everyone',
    description:
      'Allowed to its sender and, in a group, to owners and admins. Answers the tombstone: `deletedAt` set, `content` null, reactions empty; the text is removed from storage. Idempotent: deleting again answers the same tombstone. Every participant gets `message.deleted`.',
    request: { params: MessageParams },
    responses: { 200: answered, ...problems(401, 403, 404) },
  });
  const react = createRoute({
    ...common,
    method: 'put',
    path: `${path}/reactions/{emoji}`,
    summary: 'React to a message',
    description: `Any participant; one reaction per user per emoji (idempotent). At most ${MAX_DISTINCT_EMOJI} different emoji and ${MAX_REACTIONS_PER_MESSAGE} reactions per message (409 past either), and none on a deleted message (409). Every participant gets \`reaction.updated\`.`,
    request: { params: ReactionParams },
    responses: { 200: answered, ...problems(401, 403, 404, 409) },
  });
  const unreact = createRoute({
    ...common,
    method: 'delete',
    path: `${path}/reactions/{emoji}`,
    summary: 'Take back a reaction',
    description: 'Idempotent: a reaction the caller did not give answers the message unchanged.',
    request: { params: ReactionParams },
    responses: { 200: answered, ...problems(401, 403, 404) },
  });

  return new OpenAPIHono<AppEnv>(hookOptions)
    .openapi(edit, async (c) => {
      const { conversationId, messageId } = c.req.valid('param');
      const callerId = c.get('userId');
      const message = await deps.messaging.editMessage(
        callerId,
        conversationId,
        messageId,
        c.req.valid('json').content,
      );
      return c.json({ message: toMessageJson(message, callerId) }, 200);
    })
    .openapi(remove, async (c) => {
      const { conversationId, messageId } = c.req.valid('param');
      const callerId = c.get('userId');
      const message = await deps.messaging.deleteMessage(callerId, conversationId, messageId);
      return c.json({ message: toMessageJson(message, callerId) }, 200);
    })
    .openapi(react, async (c) => {
      const { conversationId, messageId, emoji } = c.req.valid('param');
      const callerId = c.get('userId');
      const message = await deps.messaging.react(callerId, conversationId, messageId, emoji);
      return c.json({ message: toMessageJson(message, callerId) }, 200);
    })
    .openapi(unreact, async (c) => {
      const { conversationId, messageId, emoji } = c.req.valid('param');
      const callerId = c.get('userId');
      const message = await deps.messaging.unreact(callerId, conversationId, messageId, emoji);
      return c.json({ message: toMessageJson(message, callerId) }, 200);
    });
}
