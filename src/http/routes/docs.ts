import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Hono } from 'hono';
import type { AppEnv } from '../context.js';

/**
 * Swagger UI at /docs, served from this node (the swagger-ui-dist package, pinned by the lock
 * file) rather than from a CDN: the page runs no script we did not ship, so its Content
 * Security Policy can allow scripts from 'self' only, and /docs works on a network without
 * internet. The files are read on first use and kept in memory (about 1.5 MB).
 */
const ASSETS: Record<string, { file: string; type: string }> = {
  'swagger-ui.css': { file: 'swagger-ui.css', type: 'text/css; charset=utf-8' },
  'swagger-ui-bundle.js': { file: 'swagger-ui-bundle.js', type: 'text/javascript; charset=utf-8' },
  'favicon-32x32.png': { file: 'favicon-32x32.png', type: 'image/png' },
};

/** Scripts and styles from this origin only; inline style attributes are Swagger UI's own (React). */
export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
`;

// No inline script: the CSP above forbids it, so start-up is a file of its own.
const INIT = `window.ui = SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;

export function docsRoutes() {
  const root = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const loaded = new Map<string, Promise<Buffer>>();
  const load = (file: string) => {
    let content = loaded.get(file);
    if (!content) {
      content = readFile(join(root, file));
      // A failed read is not remembered: the next request tries again.
      content.catch(() => loaded.delete(file));
      loaded.set(file, content);
    }
    return content;
  };

  return new Hono<AppEnv>()
    .get('/docs', (c) => c.html(PAGE, 200, { 'Content-Security-Policy': DOCS_CSP, 'Cache-Control': 'no-cache' }))
    .get('/docs/assets/init.js', (c) =>
      c.body(INIT, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' }),
    )
    .get('/docs/assets/:name', async (c) => {
      const asset = ASSETS[c.req.param('name')];
      if (!asset) return c.notFound();
      const body = await load(asset.file);
      return c.body(new Uint8Array(body), 200, {
        'Content-Type': asset.type,
        'Cache-Control': 'public, max-age=86400',
      });
    });
}
