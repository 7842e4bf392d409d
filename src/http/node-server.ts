import { randomUUID } from 'node:crypto';
import type { Server, ServerOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config.js';
import { AppError, statusForCode } from '../domain/errors.js';
import type { Logger } from '../logger.js';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.js';

/**
 * Options for the API's node:http server. Node's defaults let a client that sends headers or
 * a body slowly hold a socket for 60 s / 300 s (measured: 80 s and 320 s, as the check only runs
 * every 30 s); these bound both and check every second.
 */
export function httpServerOptions(config: Config['http']): ServerOptions {
  return {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    connectionsCheckingInterval: 1000,
    // Larger than any legitimate request's headers (a bearer token is about 300 bytes).
    maxHeaderSize: 16 * 1024,
  };
}

/**
 * Answers what Node itself refuses (malformed request line, oversized headers, a timeout) in the
 * API's one error format, instead of Node's bare `400 Bad Request` with no body.
 */
export function answerClientErrors(server: Server, logger: Logger) {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const response = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || response?.headersSent) {
      socket.destroy();
      return;
    }
    const appError =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? new AppError('HEADERS_TOO_LARGE', 'The request headers are too large')
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new AppError('REQUEST_TIMEOUT', 'The request was not received in time')
          : new AppError('VALIDATION_FAILED', 'The request is not valid HTTP');
    logger.debug({ code: error.code }, 'http client error');
    const status = statusForCode(appError.code);
    const requestId = randomUUID();
    const body = JSON.stringify(toProblem(appError, requestId));
    socket.end(
      `HTTP/1.1 ${status} ${REASONS[status] ?? 'Bad Request'}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};
