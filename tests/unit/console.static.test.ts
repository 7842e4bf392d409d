import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { CONSOLE_CSP, consoleRoutes, defaultConsoleDir } from '../../src/http/routes/console.js';

/** The /app route over a console build laid out as scripts/build-console.ts writes it. */
function builtConsole() {
  const dir = mkdtempSync(join(tmpdir(), 'console-'));
  mkdirSync(join(dir, 'assets'));
  const files: Record<string, string> = {
    'index.html': '<!doctype html><title>console</title>',
    'assets/main-ABC123.js': 'console.log("app")',
    'assets/main-ABC123.css': 'body{margin:0}',
  };
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, name), text);
    writeFileSync(join(dir, `${name}.gz`), gzipSync(text));
  }
  return new Hono().route('/', consoleRoutes({ dir }));
}

describe('the console route (/app)', () => {
  it('answers index.html at /app and /app/, never cached stale, with the console CSP', async () => {
    const app = builtConsole();
    for (const path of ['/app', '/app/']) {
      const response = await app.request(path);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(response.headers.get('cache-control')).toBe('no-cache');
      expect(response.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
      expect(await response.text()).toContain('<title>console</title>');
    }
  });

  it('serves hashed assets as immutable, gzip-encoded when the browser accepts it', async () => {
    const app = builtConsole();
    const script = await app.request('/app/assets/main-ABC123.js', { headers: { 'accept-encoding': 'gzip, br' } });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(script.headers.get('content-encoding')).toBe('gzip');
    const style = await app.request('/app/assets/main-ABC123.css');
    expect(style.headers.get('content-type')).toMatch(/^text\/css/);
    expect(style.headers.get('content-encoding')).toBeNull();
    expect(await style.text()).toBe('body{margin:0}');
  });

  it('leaves unknown paths and traversal attempts to the 404 handler', async () => {
    const app = builtConsole();
    for (const path of ['/app/nope', '/app/assets/missing.js', '/app/../package.json', '/app/%2e%2e/package.json']) {
      expect((await app.request(path)).status, path).toBe(404);
    }
  });

  it('says the console is not built (503) when its folder is missing', async () => {
    const app = new Hono().route('/', consoleRoutes({ dir: join(tmpdir(), 'no-such-console-build') }));
    const response = await app.request('/app');
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(((await response.json()) as { code: string }).code).toBe('UNAVAILABLE');
  });

  it('finds dist/console from the source tree', () => {
    expect(defaultConsoleDir()).toBe(new URL('../../dist/console', import.meta.url).pathname);
  });
});
