import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AccountService } from '../../services/accounts.js';
import type { Presence, PresenceReader } from '../../services/realtime.js';
import type { AppEnv } from '../context.js';
import { bearer, json, jsonBodyOf, problems, toUserJson, trimmedText, Ulid, UserSchema } from '../schemas.js';
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
const AuthResult = z.object({ user: UserSchema, token: z.string() }).openapi('AuthResult');
const UserResult = z.object({ user: UserSchema });
const UserWithPresence = z.object({
  user: UserSchema,
  presence: PresenceSchema.omit({ userId: true }),
});

const register = createRoute({
  method: 'post',
  path: '/users',
  tags: ['accounts'],
  summary: 'Create an account',
  request: { body: jsonBodyOf(RegisterBody) },
  responses: { 201: json(AuthResult, 'The new user and a bearer token'), ...problems(400, 409, 413, 415) },
});

const issueToken = createRoute({
  method: 'post',
  path: '/auth/token',
  tags: ['accounts'],
  summary: 'Exchange username and password for a bearer token',
  request: { body: jsonBodyOf(LoginBody) },
  responses: { 200: json(AuthResult, 'The user and a bearer token'), ...problems(400, 401, 413, 415) },
});

/** Account routes; `auth` guards the ones that need a signed-in caller. */
export function accountRoutes(deps: {
  accounts: AccountService;
  auth: MiddlewareHandler<AppEnv>;
  presence?: PresenceReader;
}) {
  /** Presence is an extra: when Redis cannot say, the profile still answers (offline, unknown last seen). */
  async function presenceOf(userId: string): Promise<Presence> {
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
    responses: { 200: json(UserResult, 'The caller'), ...problems(401) },
  });
  const byId = createRoute({
    method: 'get',
    path: '/users/{userId}',
    tags: ['accounts'],
    summary: 'A user by id',
    security: bearer,
    middleware: deps.auth,
    request: { params: z.object({ userId: Ulid }) },
    responses: { 200: json(UserWithPresence, 'The user and their presence'), ...problems(400, 401, 404) },
  });

  return new OpenAPIHono<AppEnv>(hookOptions)
    .openapi(register, async (c) => {
      const result = await deps.accounts.register(c.req.valid('json'));
      return c.json({ user: toUserJson(result.user), token: result.token }, 201);
    })
    .openapi(issueToken, async (c) => {
      const result = await deps.accounts.login(c.req.valid('json'));
      return c.json({ user: toUserJson(result.user), token: result.token }, 200);
    })
    .openapi(me, async (c) => {
      const user = await deps.accounts.getUser(c.get('userId'));
      return c.json({ user: toUserJson(user) }, 200);
    })
    .openapi(byId, async (c) => {
      const { userId } = c.req.valid('param');
      const [user, presence] = await Promise.all([deps.accounts.getUser(userId), presenceOf(userId)]);
      const { userId: _userId, ...status } = toPresenceJson(presence);
      return c.json({ user: toUserJson(user), presence: status }, 200);
    });
}
