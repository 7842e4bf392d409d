import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocketServer } from 'ws';
import type { Config } from '../config.js';
import { AppError, isAppError, statusForCode } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { bearerToken } from '../http/middleware/auth.js';
import { PROBLEM_CONTENT_TYPE, toProblem } from '../http/problem.js';
import type { Logger } from '../logger.js';
import type { MessagingService } from '../services/messaging.js';
import type { RealtimeService } from '../services/realtime.js';
import type { TokenService } from '../services/tokens.js';
import { type Connection, createConnection } from './connection.js';
import { CLOSE_CODES, type ClientFrame, encodeFrame, errorFrame, parseClientFrame } from './protocol.js';

/** Paths the gateway answers upgrades on. */
export const WS_PATHS = ['/ws', '/'];
/** Frames of one connection being processed at once; more are refused with RATE_LIMITED. */
const MAX_IN_FLIGHT = 16;
/** setTimeout's ceiling: tokens expiring later than this are not watched (24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
  realtime: RealtimeService;
  logger: Logger;
  observer?: GatewayObserver;
}) {
  const { config, logger, realtime } = deps;
  // perMessageDeflate stays off: per-socket zlib contexts cost far more memory than they save.
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPayloadBytes, perMessageDeflate: false });
  const connections = new Set<Connection>();
  let draining = false;

  deps.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    void upgrade(request, socket, head).catch((error: unknown) => {
      logger.error({ err: error }, 'websocket upgrade failed');
      refuse(socket, new AppError('INTERNAL', 'Something went wrong on our side; it has been logged'));
    });
  });

  async function upgrade(request: IncomingMessage, socket: Duplex, head: Buffer) {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (!WS_PATHS.includes(url.pathname)) {
      return refuse(socket, new AppError('NOT_FOUND', `No WebSocket endpoint at ${url.pathname}; use /ws`));
    }
    if (draining) return refuse(socket, new AppError('UNAVAILABLE', 'This node is shutting down; connect again'));
    const token = url.searchParams.get('token') ?? bearerToken(request.headers.authorization);
    const userId = token ? await deps.tokens.verify(token) : undefined;
    if (!token || !userId) {
      return refuse(
        socket,
        new AppError('UNAUTHENTICATED', token ? 'The token is invalid or expired' : 'A bearer token is required'),
      );
    }
    if (socket.destroyed) return;
    wss.handleUpgrade(request, socket, head, (ws) => {
      void accept(ws, userId, tokenExpiry(token));
    });
  }

  async function accept(socket: import('ws').WebSocket, userId: string, expiresAt: number | undefined) {
    if (draining) {
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
        connections.delete(closing);
        deps.observer?.wsConnectionClosed();
        logger.debug({ connectionId: closing.id, userId, code }, 'websocket closing');
        await realtime.unregister(closing);
      },
    });
    connections.add(connection);
    deps.observer?.wsConnectionOpened();

    let inFlight = 0;
    let lastTypingAt = Number.NEGATIVE_INFINITY;
    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (connection.state !== 'open') return;
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

    try {
      await realtime.register(connection);
    } catch (error) {
      logger.error({ err: error, userId }, 'websocket setup failed');
      connection.close(CLOSE_CODES.INTERNAL_ERROR, 'setup failed; reconnect');
      return;
    }
    connection.open(
      encodeFrame({
        type: 'ready',
        data: { userId, connectionId: connection.id, heartbeatMs: config.heartbeatMs },
      }),
    );
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
        await realtime.typing(conversation, connection.userId);
        return;
      }
      case 'presence.subscribe':
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
      const all = [...connections];
      for (const connection of all) connection.close(CLOSE_CODES.GOING_AWAY, 'server shutting down');
      await Promise.all(all.map((connection) => connection.closed));
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

export type Gateway = ReturnType<typeof createGateway>;

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
    ...(error.code === 'UNAVAILABLE' ? ['Retry-After: 1'] : []),
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
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
