import { createMiddleware } from 'hono/factory';
import { matchedRoutes } from 'hono/route';
import { AppError } from '../../domain/errors.js';
import type { AppEnv } from '../context.js';

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Guards request bodies before validation: a body that is not JSON is 415, one over the limit
 * is 413 (checked on Content-Length and on the bytes actually read), one that does not parse is
 * 400. Routes then validate the parsed value with zod. A request no route answers is left alone,
 * so an unknown path or method is a 404 whatever its body.
 */
export function jsonBody(options: { limitBytes: number }) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!METHODS_WITH_BODY.has(c.req.method)) return next();
    if (!matchedRoutes(c).some((route) => route.method === c.req.method)) return next();
    const declared = Number(c.req.header('content-length') ?? Number.NaN);
    if (declared > options.limitBytes) {
      throw new AppError('PAYLOAD_TOO_LARGE', `The body exceeds ${options.limitBytes} bytes`);
    }
    const raw = c.req.raw.body ? await readLimited(c.req.raw, options.limitBytes) : '';
    const contentType = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (raw.length === 0 && contentType === '') {
      throw new AppError('VALIDATION_FAILED', 'A JSON body is required', {
        issues: [{ path: 'body', message: 'required' }],
      });
    }
    if (contentType !== 'application/json' && !contentType.endsWith('+json')) {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
    }
    try {
      c.req.bodyCache.json = Promise.resolve(JSON.parse(raw));
    } catch {
      throw new AppError('MALFORMED_JSON', 'The body is not valid JSON');
    }
    return next();
  });
}

async function readLimited(request: Request, limitBytes: number): Promise<string> {
  const reader = request.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limitBytes) {
      await reader.cancel().catch(() => {});
      throw new AppError('PAYLOAD_TOO_LARGE', `The body exceeds ${limitBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
