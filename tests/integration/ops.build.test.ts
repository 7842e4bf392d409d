import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, registerUser } from '../support/api.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';

/**
 * The compiled build serves, as `npm run up`, the Dockerfile and `npm start` run it: the source
 * tests run through tsx and would not notice a file the build leaves behind (the cache's Lua
 * scripts once were, and the built API could not start).
 */
let node: ServerProcess;

beforeAll(async () => {
  execFileSync('npm', ['run', '--silent', 'build'], {
    cwd: new URL('../../', import.meta.url).pathname,
    stdio: 'pipe',
  });
  node = await startServerProcess({}, { entry: 'build' });
}, 180_000);

afterAll(async () => {
  await node?.stop();
});

describe('the compiled build (npm run build → node dist/src/main.js)', () => {
  it('starts, sends a message and serves the first page through the Redis cache scripts', async () => {
    const api = apiClient(node.url);
    const [ada, bob] = await Promise.all([registerUser(api, 'build'), registerUser(api, 'build')]);
    const sent = await api.post('/api/v1/messages', { receiverId: bob.id, content: 'from the build' }, ada.token);
    expect(sent.status).toBe(201);
    for (let i = 0; i < 2; i++) {
      const page = await api.get(`/api/v1/messages?peerId=${ada.id}`, bob.token);
      expect(page.status).toBe(200);
      expect(page.body.messages.map((m: { content: string }) => m.content)).toEqual(['from the build']);
    }
  });

  it('serves the built console at /app: index.html no-cache, its bundle immutable and gzipped', async () => {
    const index = await fetch(`${node.url}/app`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const script = /src="(\/app\/assets\/main-[A-Z0-9]+\.js)"/.exec(await index.text())?.[1];
    expect(script).toBeDefined();
    const bundle = await fetch(`${node.url}${script}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(bundle.headers.get('content-encoding')).toBe('gzip');
    expect(bundle.headers.get('cache-control')).toContain('immutable');
  });
});
