import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { User } from '../../domain/types.js';
import type { AccountService } from '../../services/accounts.js';
import type { Presence, PresenceReader } from '../../services/ports.js';
import type { PresencePolicy } from '../../services/presence-policy.js';
import type { AppEnv } from '../context.js';
import { bearerToken } from '../middleware/auth.js';
import {
  bearer,
  json,
  jsonBodyOf,
  noContent,
  problems,
  toUserJson,
  trimmedText,
  Ulid,
  UserSchema,
} from '../schemas.js';
import { hookOptions } from '../validation.js';
import { PresenceSchema, toPresenceJson } from './presence.js';

const Username = z
  .string()
  .min(3)
  .max(32)
  .regex(/^[A-Za-z0-9_.]+$/, 'may contain only letters, digits, "_" and "."')
  .openapi({ example: 'ada.lovelace' });
const Password = z.string().min(8).max(128).openapi({ example: 'correct horse battery staple' });

const RegisterBody = z
  .object({
    username: Username,
    password: Password,
    displayName: trimmedText(64).optional(),
  })
  .strict()
  .openapi('RegisterRequest');
const LoginBody = z
  .object({ username: z.string().min(1).max(64), password: z.string().min(1).max(128) })
  .strict()
  .openapi('TokenRequest');
const RefreshToken = z
  .string()
  .min(1)
  .max(512)
  .openapi({ description: 'An opaque refresh token from a sign-in or a refresh', example: 'q7A0…' });
const RefreshBody = z.object({ refreshToken: RefreshToken }).strict().openapi('RefreshRequest');
const LogoutBody = z
  .object({
    refreshToken: RefreshToken.optional(),
    all: z.literal(true).optional().openapi({ description: "End every session of the bearer token's user" }),
  })
  .strict()
  .refine((body) => (body.refreshToken !== undefined) !== (body.all === true), {
    message: 'give either refreshToken or all: true',
  })
  // Exactly one of the two, as a oneOf over which is required (both present match both branches).
  .openapi('LogoutRequest', {
    oneOf: [{ required: ['refreshToken'] }, { required: ['all'] }],
    description:
      '`{ refreshToken }` ends that session (device): no bearer token needed. `{ all: true }` ends every session of the user named by the bearer token, which is then required.',
  });
const AuthResult = z
  .object({
    user: UserSchema,
    token: z.string().openapi({ description: 'Access token (HS256 JWT) for `Authorization: Bearer`' }),
    refreshToken: z.string().openapi({
      description: 'Single use: POST it to /auth/refresh for the next pair; a reused one ends the session',
    }),
    expiresIn: z.number().int().openapi({ description: 'Seconds until `token` expires', example: 900 }),
  })
  .openapi('AuthResult');
const UserResult = z.object({ user: UserSchema });
const UserWithPresence = z.object({
  user: UserSchema,
  presence: PresenceSchema.omit({ userId: true }).nullable().openapi({
    description:
      'null when the caller may not see this user’s presence (PRESENCE_VISIBILITY=shared: they share no conversation)',
  }),
});

const register = createRoute({
  method: 'post',
  path: '/users',
  tags: ['accounts'],
  summary: 'Create an account',
  request: { body: jsonBodyOf(RegisterBody) },
  responses: {
    201: json(AuthResult, 'The new user, an access token and a refresh token'),
    ...problems(400, 409, 413, 415, 429, 503),
  },
});

const issueToken = createRoute({
  method: 'post',
  path: '/auth/token',
  tags: ['accounts'],
  summary: 'Exchange username and password for an access token and a refresh token',
  request: { body: jsonBodyOf(LoginBody) },
  responses: {
    200: json(AuthResult, 'The user, an access token and a refresh token'),
    ...problems(400, 401, 413, 415, 429, 503),
  },
});

const refresh = createRoute({
  method: 'post',
  path: '/auth/refresh',
  tags: ['accounts'],
  summary: 'Rotate a refresh token: a new access + refresh pair; the presented token is spent',
  description:
    'Refresh tokens are single use. Presenting one that was already rotated (or whose session was ended) answers 401 and ends its whole session, the newest refresh token included (OAuth 2.0 Security BCP). Refresh one request at a time: two concurrent refreshes of one token end the session.',
  request: { body: jsonBodyOf(RefreshBody) },
  responses: {
    200: json(AuthResult, 'The user, a new access token and a new refresh token'),
    ...problems(400, 401, 413, 415, 429, 503),
  },
});

/** The bearer token is needed only with `all: true`: optional (OpenAPI's empty requirement) on logout. */
const optionalBearer: Array<Record<string, string[]>> = [{}, ...bearer];

const logout = createRoute({
  method: 'post',
  path: '/auth/logout',
  tags: ['accounts'],
  summary: 'End one session (by refresh token) or every session of the caller (`all: true` with a bearer token)',
  description:
    'Access tokens of an ended session stop working on every node within AUTH_CHECK_CACHE_MS (default 5 s). An unknown or expired refresh token answers 204 too: there is nothing left to end.',
  security: optionalBearer,
  request: { body: jsonBodyOf(LogoutBody) },
  responses: {
    204: noContent('The session (or every session) is over'),
    ...problems(400, 401, 413, 415, 429, 503),
  },
});

const toAuthJson = (result: { user: User; token: string; refreshToken: string; expiresIn: number }) => ({
  user: toUserJson(result.user),
  token: result.token,
  refreshToken: result.refreshToken,
  expiresIn: result.expiresIn,
});

/** Account routes; `auth` guards the ones that need a signed-in caller. */
export function accountRoutes(deps: {
  accounts: AccountService;
  auth: MiddlewareHandler<AppEnv>;
  presence?: PresenceReader;
  presencePolicy?: Pick<PresencePolicy, 'visibleTo'>;
}) {
  /**
   * Presence is an extra: when Redis cannot say, the profile still answers (offline, unknown last
   * seen); when the viewer may not see it, it is null.
   */
  async function presenceOf(viewerId: string, userId: string): Promise<Presence | null> {
    if (deps.presencePolicy && !(await deps.presencePolicy.visibleTo(viewerId, [userId])).has(userId)) return null;
    const offline: Presence = { userId, status: 'offline', lastSeenAt: null };
    if (!deps.presence) return offline;
    try {
      return (await deps.presence.presenceOf([userId]))[0] ?? offline;
    } catch {
      return offline;
    }
  }

  const me = createRoute({
    method: 'get',
    path: '/users/me',
    tags: ['accounts'],
    summary: 'The signed-in user',
    security: bearer,
    middleware: deps.auth,
    responses: { 200: json(UserResult, 'The caller'), ...problems(401, 503) },
  });
  const byId = createRoute({
    method: 'get',
    path: '/users/{userId}',
    tags: ['accounts'],
    summary: 'A user by id',
    security: bearer,
    middleware: deps.auth,
    request: { params: z.object({ userId: Ulid }) },
    responses: { 200: json(UserWithPresence, 'The user and their presence'), ...problems(400, 401, 404, 503) },
  });

  const byUsername = createRoute({
    method: 'get',
    path: '/users/by-username/{username}',
    tags: ['accounts'],
    summary: 'A user by username',
    description:
      'Finds someone to start a conversation with by the name they signed up with (case-insensitive). Usernames are public handles, like user ids; presence stays behind GET /users/{userId} and its visibility rule.',
    security: bearer,
    middleware: deps.auth,
    request: { params: z.object({ username: Username }) },
    responses: { 200: json(UserResult, 'The user'), ...problems(400, 401, 404, 503) },
  });

  return new OpenAPIHono<AppEnv>(hookOptions)
    .openapi(register, async (c) => {
      const result = await deps.accounts.register(c.req.valid('json'));
      return c.json(toAuthJson(result), 201);
    })
    .openapi(issueToken, async (c) => {
      const result = await deps.accounts.login(c.req.valid('json'));
      return c.json(toAuthJson(result), 200);
    })
    .openapi(refresh, async (c) => {
      const result = await deps.accounts.refresh(c.req.valid('json').refreshToken);
      return c.json(toAuthJson(result), 200);
    })
    .openapi(logout, async (c) => {
      const body = c.req.valid('json');
      if (body.refreshToken !== undefined) await deps.accounts.logout(body.refreshToken);
      else await deps.accounts.logoutAll(bearerToken(c.req.header('authorization')));
      return c.body(null, 204);
    })
    .openapi(me, async (c) => {
      const user = await deps.accounts.getUser(c.get('userId'));
      return c.json({ user: toUserJson(user) }, 200);
    })
    .openapi(byUsername, async (c) => {
      const user = await deps.accounts.findByUsername(c.req.valid('param').username);
      return c.json({ user: toUserJson(user) }, 200);
    })
    .openapi(byId, async (c) => {
      const { userId } = c.req.valid('param');
      const [user, presence] = await Promise.all([deps.accounts.getUser(userId), presenceOf(c.get('userId'), userId)]);
      if (!presence) return c.json({ user: toUserJson(user), presence: null }, 200);
      const { userId: _userId, ...status } = toPresenceJson(presence);
      return c.json({ user: toUserJson(user), presence: status }, 200);
    });
}
