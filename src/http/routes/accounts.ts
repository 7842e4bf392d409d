import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AccountService } from '../../services/accounts.js';
import type { AppEnv } from '../context.js';
import { bearer, json, jsonBodyOf, problems, toUserJson, Ulid, UserSchema } from '../schemas.js';
import { hookOptions } from '../validation.js';

const Username = z
  .string()
  .min(3)
  .max(32)
  .regex(/^[A-Za-z0-9_.]+$/, 'may contain only letters, digits, "_" and "."')
  .openapi({ example: 'ada.lovelace' });
const Password = z.string().min(8).max(128).openapi({ example: 'correct horse battery staple' });

const RegisterBody = z
  .object({ username: Username, password: Password, displayName: z.string().trim().min(1).max(64).optional() })
  .strict()
  .openapi('RegisterRequest');
const LoginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(128) }).strict();
const AuthResult = z.object({ user: UserSchema, token: z.string() }).openapi('AuthResult');
const UserResult = z.object({ user: UserSchema });

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
  responses: { 200: json(AuthResult, 'The user and a bearer token'), ...problems(400, 401) },
});

/** Account routes; `auth` guards the ones that need a signed-in caller. */
export function accountRoutes(deps: { accounts: AccountService; auth: MiddlewareHandler<AppEnv> }) {
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
    responses: { 200: json(UserResult, 'The user'), ...problems(400, 401, 404) },
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
      const user = await deps.accounts.getUser(c.req.valid('param').userId);
      return c.json({ user: toUserJson(user) }, 200);
    });
}
