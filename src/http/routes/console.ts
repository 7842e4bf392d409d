import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { AppError } from '../../domain/errors.js';
import type { AppEnv } from '../context.js';
import { problemResponse } from '../problem.js';

/**
 * The web console (src/console/, built by `npm run build` into dist/console/) at /app, from this
 * node: no second server to deploy, and the page talks to the API on its own origin, so its
 * Content Security Policy allows 'self' only.
 *
 * - `/app` and `/app/` answer index.html with `Cache-Control: no-cache`: a deploy's new index
 *   (naming new bundles) is seen on the next load, never a cached one pointing at files gone.
 * - `/app/assets/*` are named by content hash: `immutable`, a year (a changed file gets a new name).
 * - Anything else under /app that is not a file is the API's 404 (problem+json): the console
 *   routes in the URL fragment (`#/c/<id>`), which never reaches the server, so there is no
 *   deep link the server must answer with index.html.
 * - Each text file has a .gz beside it (scripts/build-console.ts): sent when the browser accepts gzip.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * dist/console/ of the package: this module runs as src/http/routes/console.ts (tsx, tests) or as
 * dist/src/http/routes/console.js (the build); both are three levels below a folder whose
 * `dist/console` (source) or `console` (build) holds the files.
 */
export function defaultConsoleDir(): string {
  const base = fileURLToPath(new URL('../../../', import.meta.url));
  return base.replace(/\/$/, '').endsWith('/dist') ? `${base}console` : `${base}dist/console`;
}

export function consoleRoutes(options: { dir?: string } = {}) {
  const dir = options.dir ?? defaultConsoleDir();
  // serveStatic's onFound runs after the response is made, too late for headers: it marks the
  // request, and `headers` below sets them on the way out (a 404 from the fallthrough gets none).
  const served = new WeakSet<object>();
  const files = () =>
    serveStatic<AppEnv>({
      root: dir,
      precompressed: true,
      rewriteRequestPath: (path) => path.replace(/^\/app/, '') || '/',
      onFound: (_path, c) => {
        served.add(c);
      },
    });
  const headers = createMiddleware<AppEnv>(async (c, next) => {
    await next();
    if (!served.has(c)) return;
    const hashed = c.req.path.startsWith('/app/assets/');
    c.res.headers.set('Cache-Control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
    c.res.headers.set('Content-Security-Policy', CONSOLE_CSP);
  });
  // Made on first use of a built console: without the files (no `npm run build` yet) the answer
  // says so instead of a bare 404, and an API-only node logs no serveStatic warning at start.
  let serve: ReturnType<typeof files> | undefined;
  const built = createMiddleware<AppEnv>(async (c, next) => {
    if (!serve && !existsSync(dir)) {
      return problemResponse(c, new AppError('UNAVAILABLE', 'The console is not built: run npm run build'));
    }
    serve ??= files();
    return serve(c, next);
  });
  return new Hono<AppEnv>().get('/app', headers, built).get('/app/*', headers, built);
}
