import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import type { TrustedProxies } from '../domain/client-address.js';
import { AppError } from '../domain/errors.js';
import type { RateLimits } from '../limits/rate-limits.js';
import type { Logger } from '../logger.js';
import type { AccountService } from '../services/accounts.js';
import type { BlockService } from '../services/blocks.js';
import type { GroupService } from '../services/groups.js';
import type { MessagingService } from '../services/messaging.js';
import type { PresenceReader } from '../services/ports.js';
import type { PresencePolicy } from '../services/presence-policy.js';
import type { TokenService } from '../services/tokens.js';
import type { AppEnv } from './context.js';
import { createAllowedMethods } from './method-not-allowed.js';
import { requireAuth } from './middleware/auth.js';
import { authenticate } from './middleware/authenticate.js';
import { jsonBody } from './middleware/json-body.js';
import { loginRateLimit, registrationRateLimit, restRateLimit, sendRateLimit } from './middleware/rate-limit.js';
import { type RequestObserver, requestContext } from './middleware/request-context.js';
import { securityHeaders } from './middleware/security-headers.js';
import { strictUrl } from './middleware/strict-url.js';
import { problemResponse } from './problem.js';
import { accountRoutes } from './routes/accounts.js';
import { blockRoutes } from './routes/blocks.js';
import { consoleRoutes } from './routes/console.js';
import { conversationRoutes } from './routes/conversations.js';
import { docsRoutes } from './routes/docs.js';
import { groupRoutes } from './routes/groups.js';
import { type HealthChecks, healthRoutes } from './routes/health.js';
import { messageMutationRoutes } from './routes/message-mutations.js';
import { messageRoutes } from './routes/messages.js';
import { presenceRoutes } from './routes/presence.js';
import { threadRoutes } from './routes/threads.js';
import { hookOptions } from './validation.js';

export interface HttpDeps {
  logger: Logger;
  tokens: TokenService;
  accounts: AccountService;
  groups: GroupService;
  messaging: MessagingService;
  /** PUT/DELETE/GET /users/me/blocks (absent in tests that do not need them). */
  blocks?: { service: BlockService; maxPerUser: number };
  health: HealthChecks;
  bodyLimitBytes: number;
  maxGroupMembers: number;
  observer?: RequestObserver;
  /** Presence from Redis: GET /api/v1/presence and the `presence` of GET /api/v1/users/{userId}. */
  presence?: PresenceReader;
  /** Who may read whose presence (PRESENCE_VISIBILITY); without it, everyone's. */
  presencePolicy?: Pick<PresencePolicy, 'assertVisible' | 'visibleTo'>;
  /** The WebSocket protocol's AsyncAPI document, served at /api/v1/asyncapi.json. */
  asyncApiDocument?: object;
  /** Rate limits (absent when RATE_LIMIT_ENABLED=false: no limiter runs, no RateLimit headers). */
  rateLimits?: { limits: RateLimits; trustedProxies: TrustedProxies };
}

/**
 * Routes that need no bearer token (`METHOD /full/path` as registered); every other route under
 * /api/v1 is authenticated before its body is read (middleware/authenticate.ts).
 */
export const PUBLIC_API_ROUTES = [
  'POST /api/v1/users',
  'POST /api/v1/auth/token',
  'POST /api/v1/auth/refresh',
  'POST /api/v1/auth/logout',
  'GET /api/v1/openapi.json',
  'GET /api/v1/asyncapi.json',
] as const;

/** Routes whose method carries a body elsewhere but which take none (middleware/json-body.ts). */
export const BODYLESS_API_ROUTES = ['PUT /api/v1/users/me/blocks/:userId'] as const;

/** Builds the HTTP application. No I/O here: every dependency comes in. */
export function createApp(deps: HttpDeps) {
  const app = new OpenAPIHono<AppEnv>(hookOptions);
  const auth = requireAuth(deps.tokens);

  // Order matters (docs/security.md): the per-address limit first, so a flood of bad tokens is
  // counted; then who is asking is settled before anything reads the body (401 before 400/413/415);
  // the per-user, registration and send limits before the body is read; the login limit after
  // the body guard, because it keys on the body's username.
  const rl = deps.rateLimits;
  const identify = { tokens: deps.tokens };
  const address = rl ? { trustedProxies: rl.trustedProxies } : undefined;
  app.use('*', requestContext({ logger: deps.logger, ...(deps.observer ? { observer: deps.observer } : {}) }));
  app.use('*', securityHeaders());
  app.use('*', strictUrl());
  if (rl && address) app.use('/api/*', restRateLimit({ ip: rl.limits.restIp, address }));
  app.use('/api/*', authenticate({ tokens: deps.tokens, publicRoutes: PUBLIC_API_ROUTES }));
  if (rl && address) {
    const { limits } = rl;
    app.use('/api/*', restRateLimit({ user: limits.restUser, identify }));
    app.use('/api/*', registrationRateLimit({ ip: limits.registerIp, address }));
    app.use('/api/*', sendRateLimit({ burst: limits.sendBurst, sustained: limits.sendSustained, identify }));
  }
  app.use('/api/*', jsonBody({ limitBytes: deps.bodyLimitBytes, bodyless: BODYLESS_API_ROUTES }));
  if (rl && address) {
    const { limits } = rl;
    app.use(
      '/api/*',
      loginRateLimit({ account: limits.loginAccount, ipFailures: limits.loginIpFailures, ip: limits.loginIp, address }),
    );
  }

  const api = new OpenAPIHono<AppEnv>(hookOptions);
  api.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
  api.route(
    '/',
    accountRoutes({
      accounts: deps.accounts,
      auth,
      ...(deps.presence ? { presence: deps.presence } : {}),
      ...(deps.presencePolicy ? { presencePolicy: deps.presencePolicy } : {}),
    }),
  );
  if (deps.presence) {
    api.route(
      '/',
      presenceRoutes({
        presence: deps.presence,
        auth,
        ...(deps.presencePolicy ? { policy: deps.presencePolicy } : {}),
      }),
    );
  }
  if (deps.blocks) {
    api.route('/', blockRoutes({ blocks: deps.blocks.service, auth, maxPerUser: deps.blocks.maxPerUser }));
  }
  api.route('/', groupRoutes({ groups: deps.groups, auth, maxMembers: deps.maxGroupMembers }));
  api.route('/', messageRoutes({ messaging: deps.messaging, auth }));
  api.route('/', messageMutationRoutes({ messaging: deps.messaging, auth }));
  api.route('/', conversationRoutes({ messaging: deps.messaging, auth }));
  api.route('/', threadRoutes({ messaging: deps.messaging, auth }));
  api.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Switchboard API',
      version: '1.0.0',
      description:
        'Messaging backend: accounts, groups, messages, delivery status. Errors are application/problem+json. ' +
        'The WebSocket protocol (/ws) is described by the AsyncAPI 3.0 document at [/api/v1/asyncapi.json](/api/v1/asyncapi.json).',
    },
    servers: [{ url: '/api/v1' }],
  });
  // The WebSocket protocol (src/asyncapi.ts): built once by the container.
  const asyncApi = deps.asyncApiDocument;
  if (asyncApi) api.get('/asyncapi.json', (c) => c.json(asyncApi));

  app.route('/', healthRoutes(deps.health));
  app.route('/api/v1', api);
  app.route('/', docsRoutes());
  app.route('/', consoleRoutes());

  const allowedMethods = createAllowedMethods(app.routes);
  app.notFound((c) => {
    const allowed = allowedMethods(c.req.path);
    if (allowed.length > 0 && !allowed.includes(c.req.method)) {
      c.header('Allow', allowed.join(', '));
      return problemResponse(
        c,
        new AppError('METHOD_NOT_ALLOWED', `${c.req.method} is not served at ${c.req.path}; use ${allowed.join(', ')}`),
      );
    }
    return problemResponse(c, new AppError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`));
  });
  app.onError((error, c) => {
    if (error instanceof AppError) {
      if (error.code === 'UNAUTHENTICATED') c.header('WWW-Authenticate', 'Bearer');
      if (error.code === 'UNAVAILABLE') c.header('Retry-After', '1');
      return problemResponse(c, error);
    }
    if (error instanceof HTTPException && error.status < 500) {
      const code =
        error.status === 413
          ? 'PAYLOAD_TOO_LARGE'
          : error.status === 415
            ? 'UNSUPPORTED_MEDIA_TYPE'
            : 'VALIDATION_FAILED';
      return problemResponse(c, new AppError(code, error.message || 'Bad request'));
    }
    deps.logger.error({ err: error, requestId: c.get('requestId') }, 'unhandled error');
    return problemResponse(c, new AppError('INTERNAL', 'Something went wrong on our side; it has been logged'));
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
