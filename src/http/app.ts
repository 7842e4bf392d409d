import { swaggerUI } from '@hono/swagger-ui';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { TrustedProxies } from '../domain/client-address.js';
import { AppError } from '../domain/errors.js';
import type { RateLimits } from '../limits/rate-limits.js';
import type { Logger } from '../logger.js';
import type { AccountService } from '../services/accounts.js';
import type { GroupService } from '../services/groups.js';
import type { MessagingService } from '../services/messaging.js';
import type { PresenceReader } from '../services/realtime.js';
import type { TokenService } from '../services/tokens.js';
import type { AppEnv } from './context.js';
import { requireAuth } from './middleware/auth.js';
import { jsonBody } from './middleware/json-body.js';
import { loginRateLimit, registrationRateLimit, restRateLimit, sendRateLimit } from './middleware/rate-limit.js';
import { type RequestObserver, requestContext } from './middleware/request-context.js';
import { problemResponse } from './problem.js';
import { accountRoutes } from './routes/accounts.js';
import { conversationRoutes } from './routes/conversations.js';
import { groupRoutes } from './routes/groups.js';
import { type HealthChecks, healthRoutes } from './routes/health.js';
import { messageRoutes } from './routes/messages.js';
import { presenceRoutes } from './routes/presence.js';
import { hookOptions } from './validation.js';

export interface HttpDeps {
  logger: Logger;
  tokens: TokenService;
  accounts: AccountService;
  groups: GroupService;
  messaging: MessagingService;
  health: HealthChecks;
  bodyLimitBytes: number;
  maxGroupMembers: number;
  observer?: RequestObserver;
  /** Presence from Redis: GET /api/v1/presence and the `presence` of GET /api/v1/users/{userId}. */
  presence?: PresenceReader;
  /** Prometheus exposition served on GET /metrics (outside /api/v1, no auth: scrape it on the private network). */
  metrics?: { contentType: string; render(): Promise<string> };
  /** Extra routes mounted at the root (e.g. /metrics, presence), added by the composition root. */
  extraRoutes?: (app: Hono<AppEnv>, auth: ReturnType<typeof requireAuth>) => void;
  /** Rate limits (absent when RATE_LIMIT_ENABLED=false: no limiter runs, no RateLimit headers). */
  rateLimits?: { limits: RateLimits; trustedProxies: TrustedProxies };
}

/** Builds the HTTP application. No I/O here: every dependency comes in. */
export function createApp(deps: HttpDeps) {
  const app = new OpenAPIHono<AppEnv>(hookOptions);
  const auth = requireAuth(deps.tokens);

  app.use('*', requestContext({ logger: deps.logger, ...(deps.observer ? { observer: deps.observer } : {}) }));
  // Rate limits (docs/security.md): per address and user, registration and sends before the body
  // is read; the login limit after jsonBody, because it keys on the body's username.
  const rl = deps.rateLimits;
  const identify = { tokens: deps.tokens };
  if (rl) {
    const { limits, trustedProxies } = rl;
    const address = { trustedProxies };
    app.use('/api/*', restRateLimit({ ip: limits.restIp, user: limits.restUser, address, identify }));
    app.use('/api/*', registrationRateLimit({ ip: limits.registerIp, address }));
    app.use('/api/*', sendRateLimit({ burst: limits.sendBurst, sustained: limits.sendSustained, identify }));
  }
  app.use('/api/*', jsonBody({ limitBytes: deps.bodyLimitBytes }));
  if (rl) {
    const { limits, trustedProxies } = rl;
    const address = { trustedProxies };
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
    accountRoutes({ accounts: deps.accounts, auth, ...(deps.presence ? { presence: deps.presence } : {}) }),
  );
  if (deps.presence) api.route('/', presenceRoutes({ presence: deps.presence, auth }));
  api.route('/', groupRoutes({ groups: deps.groups, auth, maxMembers: deps.maxGroupMembers }));
  api.route('/', messageRoutes({ messaging: deps.messaging, auth }));
  api.route('/', conversationRoutes({ messaging: deps.messaging, groups: deps.groups, auth }));
  api.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Switchboard API',
      version: '1.0.0',
      description:
        'Messaging backend: accounts, groups, messages, delivery status. Errors are application/problem+json.',
    },
    servers: [{ url: '/api/v1' }],
  });

  app.route('/', healthRoutes(deps.health));
  const { metrics } = deps;
  if (metrics) {
    app.get('/metrics', async (c) => c.body(await metrics.render(), 200, { 'content-type': metrics.contentType }));
  }
  app.route('/api/v1', api);
  app.get('/docs', swaggerUI({ url: '/api/v1/openapi.json' }));
  deps.extraRoutes?.(app, auth);

  app.notFound((c) => problemResponse(c, new AppError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`)));
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
