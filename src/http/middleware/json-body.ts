import type { IncomingMessage } from 'node:http';
import { createMiddleware } from 'hono/factory';
import { matchedRoutes } from 'hono/route';
import { AppError } from '../../domain/errors.js';
import { DEFAULT_MAX_JSON_DEPTH, parseStrictJsonBytes, strictJsonDetail } from '../../domain/strict-json.js';
import type { AppEnv } from '../context.js';

// The media types Hono's JSON validator accepts: application/json and application/<x>+json.
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Guards request bodies before validation: a body that is not JSON is 415, one over the limit
 * is 413 (checked on Content-Length and on the bytes actually read), one that does not parse is
 * 400, and so is one that is not valid UTF-8, nests deeper than 32 levels or holds a lone UTF-16
 * surrogate (see domain/strict-json.ts: each was once accepted and silently changed, or could
 * crash a recursive walk). Routes then validate the parsed value with zod. A request no route
 * answers is left alone, so an unknown path or method is a 404 whatever its body.
 */
export function jsonBody(options: {
  limitBytes: number;
  /**
   * `METHOD /full/path` of routes that take no body (a PUT that only names its resource in the
   * path, such as a block): without a body they go straight on; with one, it is checked as any.
   */
  bodyless?: readonly string[];
}) {
  const bodyless = new Set(options.bodyless ?? []);
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!METHODS_WITH_BODY.has(c.req.method)) return next();
    const route = matchedRoutes(c).find((r) => r.method === c.req.method);
    if (!route) return next();
    const declaredEmpty = c.req.header('content-length') === '0' || c.req.header('content-length') === undefined;
    if (bodyless.has(`${c.req.method} ${route.path}`) && declaredEmpty && !c.req.header('transfer-encoding')) {
      return next();
    }
    const declared = Number(c.req.header('content-length') ?? Number.NaN);
    if (declared > options.limitBytes) {
      throw new AppError('PAYLOAD_TOO_LARGE', `The body exceeds ${options.limitBytes} bytes`);
    }
    const raw = await readBody(c.env as { incoming?: IncomingMessage } | undefined, c.req.raw, options.limitBytes);
    const contentType = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (raw.byteLength === 0 && contentType === '') {
      // A PUT that creates a resource with nothing to say about it (a reaction:
      // PUT …/reactions/👍) has no body; requiring one made every such call a 400. A PUT route
      // that does need a body still refuses its absence in its own validator.
      if (c.req.method === 'PUT') return next();
      throw new AppError('VALIDATION_FAILED', 'A JSON body is required', {
        issues: [{ path: 'body', message: 'required' }],
      });
    }
    if (!JSON_MEDIA_TYPE.test(contentType)) {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
    }
    const parsed = parseStrictJsonBytes(raw, DEFAULT_MAX_JSON_DEPTH);
    if (!parsed.ok) {
      if (parsed.failure === 'MALFORMED') throw new AppError('MALFORMED_JSON', 'The body is not valid JSON');
      const detail = strictJsonDetail(parsed.failure, 'The body', DEFAULT_MAX_JSON_DEPTH);
      const path = parsed.path ? `body.${parsed.path}` : 'body';
      const message = parsed.failure === 'NOT_WELL_FORMED' ? 'must be valid Unicode text' : detail;
      throw new AppError('VALIDATION_FAILED', detail, { issues: [{ path, message }] });
    }
    c.req.bodyCache.json = Promise.resolve(parsed.value);
    return next();
  });
}

/**
 * The body's bytes, refusing it past the limit while reading. On Node (@hono/node-server) it reads
 * the IncomingMessage directly: touching `c.req.raw.body` would build a web ReadableStream and an
 * AbortController per request, which showed up as several percent of a send's CPU.
 */
async function readBody(env: { incoming?: IncomingMessage } | undefined, request: Request, limitBytes: number) {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const take = (chunk: Uint8Array) => {
    size += chunk.byteLength;
    if (size > limitBytes) throw new AppError('PAYLOAD_TOO_LARGE', `The body exceeds ${limitBytes} bytes`);
    chunks.push(chunk);
  };
  const incoming = env?.incoming;
  if (incoming?.readableEnded) return EMPTY;
  if (incoming) {
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        try {
          take(chunk);
        } catch (error) {
          // Stop keeping the body but let it drain, so the 413 still reaches the client.
          incoming.off('data', onData);
          incoming.resume();
          reject(error);
        }
      };
      incoming.on('data', onData);
      incoming.once('end', () => resolve());
      incoming.once('error', reject);
    });
  } else {
    const reader = request.body?.getReader();
    if (!reader) return EMPTY;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      try {
        take(value);
      } catch (error) {
        await reader.cancel().catch(() => {});
        throw error;
      }
    }
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks);
}

const EMPTY = new Uint8Array(0);
