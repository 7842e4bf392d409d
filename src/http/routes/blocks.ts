import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { BlockService } from '../../services/blocks.js';
import type { AppEnv } from '../context.js';
import { bearer, json, noContent, problems, Ulid } from '../schemas.js';
import { hookOptions } from '../validation.js';

const BlockParams = z.object({ userId: Ulid });

const BlockSchema = z
  .object({
    userId: Ulid,
    blockedAt: z.string().openapi({ format: 'date-time', description: 'When the block was first made' }),
  })
  .openapi('Block');

const EFFECTS =
  'A user you block cannot send you one-to-one messages (403), cannot add you to a group (403) and does not see your presence; groups you share keep working. Takes effect at once on the node that answers and within BLOCK_CHECK_CACHE_MS (2 s) on every other node.';

/** The caller's blocks: PUT and DELETE are idempotent (204 whether or not anything changed). */
export function blockRoutes(deps: { blocks: BlockService; auth: MiddlewareHandler<AppEnv>; maxPerUser: number }) {
  const common = { tags: ['blocks'], security: bearer, middleware: deps.auth };
  const block = createRoute({
    ...common,
    method: 'put',
    path: '/users/me/blocks/{userId}',
    summary: 'Block a user (idempotent)',
    description: `${EFFECTS} Blocking yourself is 400, an unknown user 404, more than ${deps.maxPerUser} blocks 409.`,
    request: { params: BlockParams },
    responses: { 204: noContent('Blocked'), ...problems(401, 404, 409) },
  });
  const unblock = createRoute({
    ...common,
    method: 'delete',
    path: '/users/me/blocks/{userId}',
    summary: 'Unblock a user (idempotent)',
    request: { params: BlockParams },
    responses: { 204: noContent('Not blocked (any more)'), ...problems(401, 404) },
  });
  const list = createRoute({
    ...common,
    method: 'get',
    path: '/users/me/blocks',
    summary: 'The users the caller blocked',
    description: `Not paged: all of them, at most ${deps.maxPerUser} (BLOCKS_MAX_PER_USER), in user-id order.`,
    responses: {
      200: json(z.object({ blocks: z.array(BlockSchema).max(deps.maxPerUser) }), 'Blocks'),
      ...problems(401),
    },
  });

  return new OpenAPIHono<AppEnv>(hookOptions)
    .openapi(block, async (c) => {
      await deps.blocks.block(c.get('userId'), c.req.valid('param').userId);
      return c.body(null, 204);
    })
    .openapi(unblock, async (c) => {
      await deps.blocks.unblock(c.get('userId'), c.req.valid('param').userId);
      return c.body(null, 204);
    })
    .openapi(list, async (c) => {
      const blocks = await deps.blocks.list(c.get('userId'));
      return c.json(
        { blocks: blocks.map((b) => ({ userId: b.userId, blockedAt: new Date(b.blockedAt).toISOString() })) },
        200,
      );
    });
}
