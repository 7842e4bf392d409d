import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { ULID_PATTERN } from '../../domain/ids.js';
import type { Presence, PresenceReader } from '../../services/ports.js';
import type { PresencePolicy } from '../../services/presence-policy.js';
import type { AppEnv } from '../context.js';
import { bearer, json, problems, Ulid, WHITESPACE_CLASS } from '../schemas.js';
import { hookOptions } from '../validation.js';

/** At most this many users per presence query. */
export const MAX_PRESENCE_QUERY = 100;

export const PresenceSchema = z
  .object({
    userId: Ulid,
    status: z.enum(['online', 'offline']),
    lastSeenAt: z.string().nullable().openapi({
      format: 'date-time',
      description: 'When the user was last online; null while online or if never seen',
    }),
  })
  .openapi('Presence');

export const toPresenceJson = (presence: Presence) => ({
  userId: presence.userId,
  status: presence.status,
  lastSeenAt: presence.lastSeenAt === null ? null : new Date(presence.lastSeenAt).toISOString(),
});

/**
 * The list as the server reads it: split on commas, each entry trimmed, empty entries and repeats
 * dropped; every id left must be a ULID, and 1 to 100 of them. The pattern says the same (a ULID
 * between any commas and whitespace, at most 100 entries); only "repeats count once" is prose.
 */
const WS = `[${WHITESPACE_CLASS}]*`;
const ULID = ULID_PATTERN.source.replace(/^\^|\$$/g, '');
export const USER_ID_LIST_PATTERN = `^(?:${WS},)*${WS}${ULID}(?:${WS}(?:,${WS})+${ULID}){0,${MAX_PRESENCE_QUERY - 1}}(?:${WS},)*${WS}$`;

const UserIdList = z
  .string()
  .transform((value, ctx) => {
    const ids = [...new Set(value.split(',').map((id) => id.trim()))].filter((id) => id.length > 0);
    const bad = ids.filter((id) => !ULID_PATTERN.test(id));
    if (ids.length === 0) ctx.addIssue({ code: 'custom', message: 'give at least one user id' });
    if (ids.length > MAX_PRESENCE_QUERY) {
      ctx.addIssue({ code: 'custom', message: `at most ${MAX_PRESENCE_QUERY} user ids` });
    }
    if (bad.length > 0) ctx.addIssue({ code: 'custom', message: `not ULIDs: ${bad.slice(0, 5).join(', ')}` });
    return ids;
  })
  .openapi({
    type: 'string',
    pattern: USER_ID_LIST_PATTERN,
    description: `Comma-separated user ids (ULIDs), 1 to ${MAX_PRESENCE_QUERY}; whitespace around an id and empty entries are ignored, a repeated id counts once`,
    example: '01JD3W6YQ7R5S3T2V1X0Z9Y8W7,01JD3W7B1C2D3E4F5G6H7J8K9M',
  });

/** Presence of many users at once, answered from Redis. */
export function presenceRoutes(deps: {
  presence: PresenceReader;
  auth: MiddlewareHandler<AppEnv>;
  policy?: Pick<PresencePolicy, 'assertVisible'>;
}) {
  const list = createRoute({
    method: 'get',
    path: '/presence',
    tags: ['presence'],
    summary: 'Online status and last-seen time of up to 100 users',
    description:
      'A user is online while they have at least one WebSocket connection on any node. With PRESENCE_VISIBILITY=shared (the default) only users who share a conversation with the caller may be asked for (403 names the others). Answered 503 when Redis, which holds presence, is unreachable.',
    security: bearer,
    middleware: deps.auth,
    request: { query: z.object({ userIds: UserIdList }) },
    responses: {
      200: json(z.object({ presence: z.array(PresenceSchema) }), 'Presence in the order asked'),
      ...problems(401, 403),
    },
  });

  return new OpenAPIHono<AppEnv>(hookOptions).openapi(list, async (c) => {
    const { userIds } = c.req.valid('query');
    await deps.policy?.assertVisible(c.get('userId'), userIds);
    const records = await deps.presence.presenceOf(userIds);
    return c.json({ presence: records.map(toPresenceJson) }, 200);
  });
}
