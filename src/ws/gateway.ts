import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocketServer } from 'ws';
import { bearerToken } from '../api-shapes/bearer.js';
import { PROBLEM_CONTENT_TYPE, toProblem } from '../api-shapes/problem.js';
import type { Config } from '../config.js';
import { AppError, isAppError, statusForCode } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { Logger } from '../logger.js';
import type { MessagingService } from '../services/messaging.js';
import type { RealtimeGateway } from '../services/ports.js';
import type { PresencePolicy } from '../services/presence-policy.js';
import type { TokenService } from '../services/tokens.js';
import { type Connection, createConnection } from './connection.js';
import { createFrameLimiter } from './frame-limiter.js';
import { CLOSE_CODES, type ClientFrame, encodeFrame, errorFrame, parseClientFrame } from './protocol.js';
import type { SettledNotices } from './settled-notices.js';

/** Paths the gateway answers upgrades on. */
export const WS_PATHS = ['/ws', '/'];
/** Frames of one connection being processed at once; more are refused with RATE_LIMITED. */
const MAX_IN_FLIGHT = 16;
/** Connections whose session one sweep step re-checks at once. */
const SESSION_CHECK_BATCH = 64;
/** setTimeout's ceiling: tokens expiring later than this are not watched (24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface GatewayLimits {
  enabled: boolean;
  /** Connections one user may hold on all nodes together; more are refused at the upgrade (429). */
  maxConnectionsPerUser: number;
  /** Inbound frames per connection per second on average, pings included… */
  framesPerSecond: number;
  /** …with bursts of up to this many. */
  frameBurst: number;
  /** Frames refused for the rate within `abuseWindowMs` after which the connection is closed with 4029. */
  closeAfterRefusals: number;
  abuseWindowMs: number;
}

/** Counters the composition root may wire to metrics. */
export interface GatewayObserver {
  wsConnectionOpened(): void;
  wsConnectionClosed(): void;
}

/**
 * The WebSocket gateway on the API's HTTP server. Clients authenticate in the upgrade request
 * (`?token=` or `Authorization: Bearer`) and are refused with a problem+json 401 before any
 * handshake. Each accepted socket becomes a Connection registered with the real-time service;
 * inbound frames are validated and run through the same services (and rules) as REST.
 */
export function createGateway(deps: {
  server: Server;
  config: Config['ws'];
  tokens: TokenService;
  messaging: Pick<MessagingService, 'updateReceipt' | 'conversationById'>;
  realtime: RealtimeGateway;
  presencePolicy: Pick<PresencePolicy, 'assertVisible'>;
  logger: Logger;
  observer?: GatewayObserver;
  /** Connection cap and frame rate (RATE_LIMIT_ENABLED=false turns both off). */
  limits: GatewayLimits;
  /** Tells each connection once when a catch-up returns everything stored before its `ready`. */
  settled: Pick<SettledNotices, 'watch' | 'forget'>;
}) {
  const { config, logger, realtime } = deps;
  // perMessageDeflate stays off: per-socket zlib contexts cost far more memory than they save.
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPayloadBytes, perMessageDeflate: false });
  const connections = new Set<Connection>();
  /** The same connections by user, for session notices (one user's) and gaps (many users'). */
  const byUser = new Map<string, Set<Connection>>();
  /** The access token each connection authenticated with, re-checked by the session sweep. */
  const tokensOf = new WeakMap<Connection, string>();

  /**
   * Closes (1008) the connections whose session ended since they connected: a logout, a
   * log-out-everywhere or a reused refresh token revokes the session, and an open socket must not
   * outlive it until its access token expires. The node that ended the session publishes a
   * `session.ended` notice on the user's channel, and every node holding the user's sockets
   * verifies their tokens again at once (`onSessionRecheck` below), as it does after a gap on
   * that channel.
   * The sweep, every `sessionCheckMs` (10 minutes), is the fallback for a notice lost with its
   * gap announcement: it verifies every connection's token, a Cassandra read pair per session
   * whose check is not cached, which made it the largest cost of an idle connection at the
   * 60 s it once ran every. A check that fails for lack of Cassandra keeps the connection.
   */
  async function recheck(connection: Connection) {
    const token = tokensOf.get(connection);
    if (!token || connection.state !== 'open') return;
    try {
      if (!(await deps.tokens.verify(token))) connection.close(CLOSE_CODES.POLICY_VIOLATION, 'session ended');
    } catch {
      // Cassandra unavailable: cannot tell; keep the connection and look again next time.
    }
  }

  /** Re-checks connections SESSION_CHECK_BATCH at a time (all of them: the periodic sweep). */
  async function sweepSessions(some: readonly Connection[] = [...connections]) {
    for (let i = 0; i < some.length; i += SESSION_CHECK_BATCH) {
      await Promise.all(some.slice(i, i + SESSION_CHECK_BATCH).map(recheck));
    }
  }

  realtime.onSessionRecheck({
    ended(userId, sessionId) {
      // This node's cached checks of the session are stale now.
      deps.tokens.forget(userId, sessionId ?? undefined);
      for (const connection of byUser.get(userId) ?? []) void recheck(connection);
    },
    gap(userIds) {
      // A gap may name every user here (a subscriber reconnect): batched like the sweep, and
      // found through the per-user index, not a scan of every connection per user.
      const affected = [...userIds].flatMap((userId) => [...(byUser.get(userId) ?? [])]);
      void sweepSessions(affected);
    },
  });
  let sweeping = false;
  const sessionTimer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void sweepSessions().finally(() => {
      sweeping = false;
    });
  }, config.sessionCheckMs);
  sessionTimer.unref();
  let draining = false;

  /** Connections per user on this node, counted from the upgrade (so set-ups in progress count too). */
  const localByUser = new Map<string, number>();

  deps.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    // Nothing thrown while handling one upgrade may reach the process: sync throws and rejections
    // both end here, and only that one socket is answered (500 only for our own faults).
    try {
      upgrade(request, socket, head).catch((error: unknown) => failUpgrade(socket, error));
    } catch (error) {
      failUpgrade(socket, error);
    }
  });

  function failUpgrade(socket: Duplex, error: unknown) {
    if (isAppError(error)) return refuse(socket, error);
    logger.error({ err: error }, 'websocket upgrade failed');
    refuse(socket, new AppError('INTERNAL', 'Something went wrong on our side; it has been logged'));
  }

  async function upgrade(request: IncomingMessage, socket: Duplex, head: Buffer) {
    const url = parseTarget(request.url);
    if (!url) return refuse(socket, new AppError('VALIDATION_FAILED', 'The request target is not a valid URL path'));
    if (!WS_PATHS.includes(url.pathname)) {
      return refuse(
        socket,
        new AppError('NOT_FOUND', `No WebSocket endpoint at ${url.pathname.slice(0, 200)}; use /ws`),
      );
    }
    if (draining) return refuse(socket, new AppError('UNAVAILABLE', 'This node is shutting down; connect again'));
    const origin = request.headers.origin;
    if (origin !== undefined && config.allowedOrigins.length > 0 && !config.allowedOrigins.includes(origin)) {
      return refuse(socket, new AppError('FORBIDDEN', 'This Origin may not open a WebSocket here'));
    }
    const token = url.searchParams.get('token') ?? bearerToken(request.headers.authorization);
    const userId = token ? await deps.tokens.verify(token) : undefined;
    if (!token || !userId) {
      return refuse(
        socket,
        new AppError('UNAUTHENTICATED', token ? 'The token is invalid or expired' : 'A bearer token is required'),
      );
    }
    if (!(await reserveSlot(userId))) {
      return refuse(
        socket,
        new AppError(
          'RATE_LIMITED',
          `At most ${deps.limits.maxConnectionsPerUser} WebSocket connections per user; close one first`,
        ),
      );
    }
    if (socket.destroyed) return releaseSlot(userId);
    let handed = false;
    try {
      wss.handleUpgrade(request, socket, head, (ws) => {
        handed = true;
        void accept(ws, userId, token);
      });
    } finally {
      // handleUpgrade refuses a malformed handshake (bad Sec-WebSocket-Key…) without calling back.
      if (!handed) releaseSlot(userId);
    }
  }

  /**
   * Takes one of the user's connection slots, or false when they have the maximum already (the
   * oldest connections are kept; the new one is refused). Counts this node's connections,
   * including ones still being set up (synchronously, so a burst of upgrades cannot all pass),
   * and the live connections on every node from the presence set in Redis. Two nodes setting up
   * connections for one user at the same instant may each let one through: the cap can be passed
   * by at most the number of nodes, briefly. Without Redis, the cap holds per node.
   */
  async function reserveSlot(userId: string): Promise<boolean> {
    if (!deps.limits.enabled) return true;
    const local = localByUser.get(userId) ?? 0;
    if (local >= deps.limits.maxConnectionsPerUser) return false;
    localByUser.set(userId, local + 1);
    let everywhere = 0;
    try {
      everywhere = await realtime.liveConnections(userId);
    } catch {
      // Redis away: the per-node count above is the limit.
    }
    // `everywhere` includes this node's registered connections; `local + 1` includes this one.
    if (Math.max(everywhere + 1, local + 1) > deps.limits.maxConnectionsPerUser) {
      releaseSlot(userId);
      return false;
    }
    return true;
  }

  function releaseSlot(userId: string) {
    if (!deps.limits.enabled) return;
    const count = (localByUser.get(userId) ?? 1) - 1;
    if (count <= 0) localByUser.delete(userId);
    else localByUser.set(userId, count);
  }

  async function accept(socket: import('ws').WebSocket, userId: string, token: string) {
    const expiresAt = tokenExpiry(token);
    if (draining) {
      releaseSlot(userId);
      socket.close(CLOSE_CODES.GOING_AWAY, 'server shutting down');
      return;
    }
    let expiryTimer: NodeJS.Timeout | undefined;
    const connection = createConnection({
      socket,
      id: newId(),
      userId,
      heartbeatMs: config.heartbeatMs,
      maxBufferedBytes: config.maxBufferedBytes,
      onClosing: async (closing, code) => {
        clearTimeout(expiryTimer);
        releaseSlot(userId);
        connections.delete(closing);
        const mine = byUser.get(userId);
        mine?.delete(closing);
        if (mine?.size === 0) byUser.delete(userId);
        deps.settled.forget(closing);
        deps.observer?.wsConnectionClosed();
        logger.debug({ connectionId: closing.id, userId, code }, 'websocket closing');
        await realtime.unregister(closing);
      },
    });
    connections.add(connection);
    byUser.set(userId, (byUser.get(userId) ?? new Set()).add(connection));
    tokensOf.set(connection, token);
    deps.observer?.wsConnectionOpened();

    let inFlight = 0;
    let lastTypingAt = Number.NEGATIVE_INFINITY;
    const limiter = deps.limits.enabled
      ? createFrameLimiter({
          ratePerSecond: deps.limits.framesPerSecond,
          burst: deps.limits.frameBurst,
          closeAfter: deps.limits.closeAfterRefusals,
          windowMs: deps.limits.abuseWindowMs,
        })
      : undefined;

    /** One inbound frame. Whatever it throws stays with this connection (see onMessage). */
    function onFrame(data: RawData, isBinary: boolean) {
      if (connection.state !== 'open') return;
      const verdict = limiter?.take() ?? 'ok';
      if (verdict === 'abusive') {
        connection.close(CLOSE_CODES.RATE_LIMITED, 'too many frames over the rate limit');
        return;
      }
      if (verdict === 'limited') {
        const retryAfterMs = limiter?.retryAfterMs() ?? 0;
        connection.send(
          errorFrame(
            new AppError('RATE_LIMITED', `Too many frames; at most ${deps.limits.framesPerSecond} per second`),
            undefined,
            { retryAfterMs },
          ),
        );
        return;
      }
      if (isBinary) {
        connection.send(
          errorFrame(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Frames are JSON text, not binary'), undefined),
        );
        return;
      }
      const parsed = parseClientFrame(rawText(data));
      if (!parsed.ok) {
        connection.send(errorFrame(parsed.error, parsed.id));
        return;
      }
      const frame = parsed.frame;
      if (frame.type === 'ping') {
        connection.send(encodeFrame({ type: 'pong', data: frame.data ?? {} }));
        return;
      }
      if (frame.type === 'typing') {
        const now = Date.now();
        if (now - lastTypingAt < config.typingMinIntervalMs) {
          connection.send(
            errorFrame(
              new AppError('RATE_LIMITED', `At most one typing frame per ${config.typingMinIntervalMs} ms`),
              frame.id,
            ),
          );
          return;
        }
        lastTypingAt = now;
      }
      if (inFlight >= MAX_IN_FLIGHT) {
        connection.send(errorFrame(new AppError('RATE_LIMITED', 'Too many frames in flight; slow down'), frame.id));
        return;
      }
      inFlight++;
      void handle(connection, frame)
        .catch((error: unknown) => {
          if (!isAppError(error)) logger.error({ err: error, frame: frame.type }, 'websocket frame failed');
          const appError = isAppError(error)
            ? error
            : new AppError('INTERNAL', 'Something went wrong on our side; it has been logged');
          connection.send(errorFrame(appError, frame.id));
        })
        .finally(() => {
          inFlight--;
        });
    }

    socket.on('message', (data: RawData, isBinary: boolean) => {
      // The boundary for one frame: an exception here would otherwise be thrown from ws's event
      // emitter into the process and end every connection and request on the node.
      try {
        onFrame(data, isBinary);
      } catch (error) {
        logger.error({ err: error, connectionId: connection.id }, 'websocket frame handler threw');
        try {
          connection.send(
            errorFrame(new AppError('INTERNAL', 'Something went wrong on our side; it has been logged'), undefined),
          );
        } catch {
          connection.close(CLOSE_CODES.INTERNAL_ERROR, 'internal error; reconnect');
        }
      }
    });

    if (expiresAt !== undefined) {
      const delay = expiresAt - Date.now();
      if (delay < MAX_TIMER_MS) {
        expiryTimer = setTimeout(
          () => connection.close(CLOSE_CODES.POLICY_VIOLATION, 'token expired'),
          Math.max(0, delay),
        );
        expiryTimer.unref();
      }
    }

    // `ready` promises that anything newer reaches the client live, so it is sent only once the
    // user's channels hold. When they cannot be made (Redis away, the groups unreadable) the
    // client gets 1011 and reconnects with backoff: a `ready` over a failed SUBSCRIBE told a
    // client it was live while nothing would ever reach it, and it had no reason to catch up.
    try {
      await realtime.register(connection);
    } catch (error) {
      logger.warn({ err: error, userId }, 'websocket setup failed: subscriptions could not be made');
      connection.close(CLOSE_CODES.INTERNAL_ERROR, 'setup failed; reconnect');
      return;
    }
    connection.open(
      encodeFrame({
        type: 'ready',
        data: { userId, connectionId: connection.id, heartbeatMs: config.heartbeatMs },
      }),
    );
    if (connection.state === 'open') deps.settled.watch(connection);
    logger.debug({ connectionId: connection.id, userId }, 'websocket ready');
  }

  async function handle(connection: Connection, frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'ack':
      case 'read':
        await deps.messaging.updateReceipt(connection.userId, frame.data.conversationId, {
          messageId: frame.data.messageId,
          status: frame.type === 'ack' ? 'delivered' : 'read',
        });
        return;
      case 'typing': {
        const conversation = await deps.messaging.conversationById(connection.userId, frame.data.conversationId, {
          participants: false,
        });
        await realtime.typing(conversation.ref, connection.userId);
        return;
      }
      case 'presence.subscribe':
        await deps.presencePolicy.assertVisible(connection.userId, frame.data.userIds);
        await realtime.watchPresence(connection, frame.data.userIds);
        return;
      case 'presence.unsubscribe':
        realtime.unwatchPresence(connection, frame.data.userIds);
        return;
      case 'ping':
        return;
    }
  }

  return {
    /** Open connections on this node. */
    connectionCount: () => connections.size,

    /**
     * Shutdown: refuse new upgrades, close every socket with 1001 so clients reconnect to
     * another node, and settle once each is gone and its presence is released.
     */
    async drain(): Promise<void> {
      draining = true;
      clearInterval(sessionTimer);
      const all = [...connections];
      for (const connection of all) connection.close(CLOSE_CODES.GOING_AWAY, 'server shutting down');
      await Promise.all(all.map((connection) => connection.closed));
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

export type Gateway = ReturnType<typeof createGateway>;

/** The request target as a URL, or undefined when it is not one (e.g. `GET http://[/ws`). */
function parseTarget(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/** Answers an upgrade request with a problem+json response and closes the socket. */
function refuse(socket: Duplex, error: AppError) {
  if (socket.destroyed) return;
  const status = statusForCode(error.code);
  const requestId = randomUUID();
  const body = JSON.stringify(toProblem(error, requestId));
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`,
    `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${requestId}`,
    'Connection: close',
    ...(error.code === 'UNAUTHENTICATED' ? ['WWW-Authenticate: Bearer'] : []),
    ...(error.code === 'UNAVAILABLE' || error.code === 'RATE_LIMITED' ? ['Retry-After: 1'] : []),
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The `exp` of a token whose signature was already verified, in epoch ms. */
function tokenExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      exp?: unknown;
    };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
