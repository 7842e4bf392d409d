import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiClient,
  apiClient,
  expectProblem,
  registerUser,
  type TestUser,
  uniqueUsername,
} from '../support/api.js';
import { rawHttp } from '../support/raw-http.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';

/**
 * Hostile HTTP clients: each case is a defect once measured from outside (bodies judged before
 * the token, invalid text silently changed, public metrics, bare Node errors, stalled requests
 * holding sockets). The node is its own process, started with a metrics token and short timeouts.
 */
let node: ServerProcess;
let api: ApiClient;
let alice: TestUser;
let bob: TestUser;
const METRICS_TOKEN = 'metrics-token-for-the-tests';

const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

beforeAll(async () => {
  node = await startServerProcess({
    METRICS_TOKEN,
    HTTP_HEADERS_TIMEOUT_MS: '1500',
    HTTP_REQUEST_TIMEOUT_MS: '3000',
  });
  api = apiClient(node.url);
  [alice, bob] = await Promise.all([registerUser(api, 'sec'), registerUser(api, 'sec')]);
});

afterAll(async () => {
  await node?.stop('SIGTERM');
});

const history = async (viewer: TestUser, peer: TestUser) =>
  (await api.get(`/api/v1/messages?peerId=${peer.id}`, viewer.token)).body.messages as Array<{ content: string }>;

describe('the token is judged before the body', () => {
  const protectedPosts = ['/api/v1/messages', '/api/v1/groups'];

  it('answers 401 to a protected POST without a token, whatever its body (malformed, oversized, not JSON)', async () => {
    for (const path of protectedPosts) {
      const bodies: Array<{ rawBody: string; headers: Record<string, string> }> = [
        { rawBody: '{"oops', headers: { 'content-type': 'application/json' } },
        { rawBody: 'x'.repeat(200_000), headers: { 'content-type': 'application/json' } },
        { rawBody: 'hello', headers: { 'content-type': 'text/plain' } },
        { rawBody: deep(5000), headers: { 'content-type': 'application/json' } },
      ];
      for (const body of bodies) {
        const response = await api.request('POST', path, body);
        expectProblem(response, 401, 'UNAUTHENTICATED');
        expect(response.headers.get('www-authenticate')).toBe('Bearer');
      }
    }
  });

  it('still answers 404 for a path no route serves, with or without a token', async () => {
    expectProblem(await api.request('POST', '/api/v1/nothing-here', { body: {} }), 404, 'NOT_FOUND');
    expectProblem(
      await api.request('POST', '/api/v1/nothing-here', { body: {}, token: alice.token }),
      404,
      'NOT_FOUND',
    );
  });
});

describe('strict input', () => {
  it('refuses a body nested 5,000 deep with 400 and keeps serving', async () => {
    const response = await api.request('POST', '/api/v1/messages', {
      rawBody: `{"receiverId":"${bob.id}","content":"hi","extra":${deep(5000)}}`,
      headers: { 'content-type': 'application/json' },
      token: alice.token,
    });
    const problem = expectProblem(response, 400, 'VALIDATION_FAILED');
    expect(problem.detail).toMatch(/nests deeper than 32 levels/);
    expect(node.child.exitCode).toBeNull();
    await registerUser(api, 'sec_alive');
  });

  it('refuses invalid UTF-8 in a body with 400 and stores nothing (it was once stored as U+FFFD with a 201)', async () => {
    const body = Buffer.concat([
      Buffer.from(`{"receiverId":"${bob.id}","content":"caf`),
      Buffer.from([0xe9]), // Latin-1 é: not UTF-8
      Buffer.from('"}'),
    ]);
    const response = await fetch(`${node.url}/api/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body,
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await response.json()) as { detail: string }).detail).toMatch(/not valid UTF-8/);
    expect(await history(alice, bob)).toEqual([]);
  });

  it('refuses a password with a lone surrogate (it once matched three other passwords)', async () => {
    const username = uniqueUsername('sur');
    const response = await api.request('POST', '/api/v1/users', {
      rawBody: `{"username":"${username}","password":"correct-horse\\ud800battery"}`,
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(response, 400, 'VALIDATION_FAILED');
    const login = await api.post('/api/v1/auth/token', { username, password: 'correct-horse\udfffbattery' });
    expectProblem(login, 400, 'VALIDATION_FAILED');
  });

  it('refuses a lone surrogate anywhere in a body, keys included', async () => {
    const response = await api.request('POST', '/api/v1/messages', {
      rawBody: `{"receiverId":"${bob.id}","content":"hi","\\udc00":1}`,
      headers: { 'content-type': 'application/json' },
      token: alice.token,
    });
    expectProblem(response, 400, 'VALIDATION_FAILED');
    expect(await history(alice, bob)).toEqual([]);
  });

  it('refuses a query or path that does not percent-decode to UTF-8', async () => {
    for (const path of [
      `/api/v1/messages?peerId=${bob.id}&before=%FF`,
      `/api/v1/messages?peerId=%ED%A0%80`,
      '/api/v1/users/%C0%AF',
      `/api/v1/presence?userIds=${bob.id}%`,
    ]) {
      expectProblem(await api.get(path, alice.token), 400, 'VALIDATION_FAILED');
    }
  });
});

describe('operations endpoints', () => {
  it('serves no /metrics on the API port, however the path is spelled', async () => {
    for (const path of ['/metrics', '/api/v1/%2e%2e/%2e%2e/metrics', '/api/v1/../../metrics', '/metrics/']) {
      const response = await fetch(`${node.url}${path}`);
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('switchboard_');
    }
  });

  it('serves metrics on their own listener, only with the metrics token when one is set', async () => {
    const anonymous = await fetch(`${node.metricsUrl}/metrics`);
    expect(anonymous.status).toBe(401);
    const wrong = await fetch(`${node.metricsUrl}/metrics`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const scraped = await fetch(`${node.metricsUrl}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('switchboard_http_request_duration_seconds');
  });

  it('answers /healthz and /readyz without versions or internals', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const response = await fetch(`${node.url}${path}`);
      const text = await response.text();
      expect(text).not.toMatch(/version|node|v\d+\.\d+/i);
      expect(Object.keys(JSON.parse(text)).sort()).toEqual(
        path === '/healthz' ? ['status'] : ['dependencies', 'status'],
      );
      expect(response.headers.get('server')).toBeNull();
      expect(response.headers.get('x-powered-by')).toBeNull();
    }
  });
});

describe('response headers', () => {
  it('sends nosniff, a locked-down CSP and no-store on API answers (token responses included)', async () => {
    const username = uniqueUsername('hdr');
    const responses = [
      await api.post('/api/v1/users', { username, password: 'correct-horse-battery' }),
      await api.post('/api/v1/auth/token', { username, password: 'correct-horse-battery' }),
      await api.get('/api/v1/users/me', alice.token),
      await api.get('/api/v1/users/me'),
    ];
    for (const response of responses) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('serves /docs from this origin (no CDN) under a CSP that allows only its own scripts', async () => {
    const page = await fetch(`${node.url}/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>[^<]/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    for (const src of [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] as string)) {
      const asset = await fetch(`${node.url}${src}`);
      expect(asset.status, src).toBe(200);
      expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});

describe("what Node itself refuses is answered in the API's error format", () => {
  it('answers a malformed request line with 400 problem+json', async () => {
    const answer = await rawHttp(node.url, ['NOT HTTP AT ALL\r\n\r\n']);
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('answers oversized headers with 431 problem+json', async () => {
    const answer = await rawHttp(node.url, [
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`,
    ]);
    expect(answer.status).toBe(431);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 431, code: 'HEADERS_TOO_LARGE' });
  });

  it('cuts a request whose headers stall, with 408 problem+json, within HTTP_HEADERS_TIMEOUT_MS (+1 s check interval)', async () => {
    const started = Date.now();
    const answer = await rawHttp(node.url, ['GET /healthz HTTP/1.1\r\nHost: x\r\n'], { timeoutMs: 20_000 });
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 408, code: 'REQUEST_TIMEOUT' });
    // The bound is the behaviour under test (a stalled client once held a socket for 80 s).
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('cuts a request whose body stalls within HTTP_REQUEST_TIMEOUT_MS', async () => {
    const started = Date.now();
    const answer = await rawHttp(
      node.url,
      [
        `POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"user`,
      ],
      { timeoutMs: 20_000 },
    );
    expect(answer.status).toBe(408);
    expect(Date.now() - started).toBeLessThan(12_000);
  });
});
