import { sign } from 'hono/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { TEST_JWT_SECRET } from '../support/env.js';
import { startServer, type TestServer } from '../support/server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { claimsOf } from '../support/tokens.js';

const LIMIT = 64 * 1024;

describe('the error envelope and the request guards', () => {
  let server: TestServer;
  let api: ApiClient;
  let alice: TestUser;

  beforeAll(async () => {
    server = await startServer();
    api = apiClient(server.url);
    alice = await registerUser(api, 'err');
  });
  afterAll(async () => server?.close());

  /** A group-creation body of exactly `bytes` bytes (JSON, ASCII). */
  const bodyOfSize = (bytes: number) => {
    const empty = JSON.stringify({ name: '' });
    return JSON.stringify({ name: 'x'.repeat(bytes - empty.length) });
  };

  describe('bodies', () => {
    it('answers 415 when a body is sent as another content type', async () => {
      const response = await api.request('POST', '/api/v1/groups', {
        token: alice.token,
        rawBody: 'name=general',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expectProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('answers 415 when a body comes without a content type', async () => {
      const response = await api.request('POST', '/api/v1/users', { rawBody: '{"username":"abc"}' });
      expectProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('answers 415 for text/plain even when the text is JSON', async () => {
      const response = await api.request('POST', '/api/v1/auth/token', {
        rawBody: JSON.stringify({ username: 'someone', password: 'whatever-123' }),
        headers: { 'content-type': 'text/plain' },
      });
      expectProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('answers 415 for a +json suffix outside application/ (text/x+json)', async () => {
      const response = await api.request('POST', '/api/v1/groups', {
        token: alice.token,
        rawBody: JSON.stringify({ name: 'suffix' }),
        headers: { 'content-type': 'text/x+json' },
      });
      expectProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('accepts application/json with a charset parameter', async () => {
      const response = await api.request('POST', '/api/v1/groups', {
        token: alice.token,
        rawBody: JSON.stringify({ name: 'charset' }),
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expect(response.status).toBe(201);
    });

    it('answers 400 MALFORMED_JSON for a body that does not parse', async () => {
      for (const rawBody of ['{"name":', '{name: "x"}', "{'name':'x'}", '']) {
        const response = await api.request('POST', '/api/v1/groups', {
          token: alice.token,
          rawBody,
          headers: { 'content-type': 'application/json' },
        });
        expectProblem(response, 400, 'MALFORMED_JSON');
      }
    });

    it('answers 400 VALIDATION_FAILED for JSON that is not an object', async () => {
      for (const body of [[], 'text', 42, null]) {
        const response = await api.request('POST', '/api/v1/groups', {
          token: alice.token,
          rawBody: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
        });
        expectProblem(response, 400, 'VALIDATION_FAILED');
      }
    });

    it('accepts a body of exactly 64 KiB and answers 413 for one byte more', async () => {
      const exact = bodyOfSize(LIMIT);
      expect(Buffer.byteLength(exact)).toBe(LIMIT);
      // The name is far over 100 characters, so the accepted body fails validation, not the size guard.
      const accepted = await api.request('POST', '/api/v1/groups', {
        token: alice.token,
        rawBody: exact,
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(accepted, 400, 'VALIDATION_FAILED');
      const tooLarge = await api.request('POST', '/api/v1/groups', {
        token: alice.token,
        rawBody: bodyOfSize(LIMIT + 1),
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(tooLarge, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('answers 413 for an oversized body sent in chunks without a Content-Length', async () => {
      const chunk = new TextEncoder().encode('x'.repeat(8 * 1024));
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"name":"'));
        },
        pull(controller) {
          if (sent >= 10) {
            controller.enqueue(new TextEncoder().encode('"}'));
            controller.close();
            return;
          }
          sent++;
          controller.enqueue(chunk);
        },
      });
      const init: RequestInit & { duplex: 'half' } = {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.token}` },
        body: stream,
        duplex: 'half',
      };
      const raw = await fetch(`${server.url}/api/v1/groups`, init);
      const response = { status: raw.status, headers: raw.headers, body: await raw.json() };
      expectProblem(response, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('reports every validation failure with its path', async () => {
      const response = await api.post(
        '/api/v1/users',
        { username: 'A!', password: 'short', displayName: '', extra: true },
        undefined,
      );
      const problem = expectProblem(response, 400, 'VALIDATION_FAILED');
      const paths = (problem.issues as Array<{ path: string; message: string }>).map((issue) => issue.path);
      expect(paths).toEqual(expect.arrayContaining(['body.username', 'body.password', 'body.displayName']));
      for (const issue of problem.issues) expect(typeof issue.message).toBe('string');
    });

    it('reports invalid query parameters and path parameters with their paths', async () => {
      const query = expectProblem(
        await api.get('/api/v1/messages?groupId=nope&limit=0', alice.token),
        400,
        'VALIDATION_FAILED',
      );
      expect(query.issues.map((issue: { path: string }) => issue.path)).toEqual(
        expect.arrayContaining(['query.groupId', 'query.limit']),
      );
      const param = expectProblem(await api.get('/api/v1/groups/not-a-ulid', alice.token), 400, 'VALIDATION_FAILED');
      expect(param.issues).toEqual([{ path: 'params.groupId', message: expect.any(String) }]);
    });
  });

  describe('request ids', () => {
    it('echoes a sane X-Request-Id sent by the client, on success and on error', async () => {
      const ok = await api.request('GET', '/api/v1/users/me', {
        token: alice.token,
        headers: { 'x-request-id': 'client-req_42:a.b' },
      });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-request-id')).toBe('client-req_42:a.b');
      const failed = await api.request('GET', '/api/v1/users/me', { headers: { 'x-request-id': 'client-req-43' } });
      const problem = expectProblem(failed, 401, 'UNAUTHENTICATED');
      expect(problem.requestId).toBe('client-req-43');
    });

    it('replaces an insane X-Request-Id with its own', async () => {
      for (const offered of ['has spaces', 'x'.repeat(129), '<script>', 'semi;colon']) {
        const response = await api.request('GET', '/healthz', { headers: { 'x-request-id': offered } });
        const id = response.headers.get('x-request-id');
        expect(id).toBeTruthy();
        expect(id).not.toBe(offered);
      }
    });

    it('puts X-Request-Id on every kind of response: 201, 204, 404, HTML and JSON documents', async () => {
      const created = await api.post('/api/v1/groups', { name: 'ids', memberIds: [] }, alice.token, {
        'x-request-id': 'rid-201',
      });
      expect(created.status).toBe(201);
      expect(created.headers.get('x-request-id')).toBe('rid-201');
      const bob = await registerUser(api, 'err');
      const group = await api.post('/api/v1/groups', { name: 'ids', memberIds: [bob.id] }, alice.token);
      const left = await api.request('DELETE', `/api/v1/groups/${group.body.group.id}/members/${bob.id}`, {
        token: bob.token,
        headers: { 'x-request-id': 'rid-204' },
      });
      expect(left.status).toBe(204);
      expect(left.headers.get('x-request-id')).toBe('rid-204');
      for (const path of ['/docs', '/api/v1/openapi.json', '/nowhere']) {
        const response = await fetch(`${server.url}${path}`, {
          headers: { 'x-request-id': `rid${path.replaceAll('/', '-')}` },
        });
        expect(response.headers.get('x-request-id'), path).toBe(`rid${path.replaceAll('/', '-')}`);
      }
    });

    it('gives every response a distinct request id when the client sends none', async () => {
      const ids = new Set<string | null>();
      for (let i = 0; i < 5; i++) ids.add((await api.get('/healthz')).headers.get('x-request-id'));
      expect(ids.size).toBe(5);
      expect(ids.has(null)).toBe(false);
    });
  });

  describe('unknown routes', () => {
    it('answers problem+json 404 for an unknown path', async () => {
      const problem = expectProblem(await api.get('/api/v1/nothing-here', alice.token), 404, 'NOT_FOUND');
      expect(problem.detail).toContain('/api/v1/nothing-here');
      expectProblem(await api.get('/nothing'), 404, 'NOT_FOUND');
    });

    it('answers 405 with Allow for a method a known path does not serve, whatever the body; 404 for an unknown path', async () => {
      const onMe = expectProblem(await api.delete('/api/v1/users/me', alice.token), 405, 'METHOD_NOT_ALLOWED');
      expect(onMe.detail).toContain('GET, HEAD');
      const groups = await api.request('PUT', '/api/v1/groups', {
        rawBody: 'x',
        headers: { 'content-type': 'text/plain' },
      });
      expectProblem(groups, 405, 'METHOD_NOT_ALLOWED');
      expect(groups.headers.get('allow')).toBe('GET, HEAD, POST');
      const member = await api.request('PUT', `/api/v1/groups/${alice.id}/members/${alice.id}`);
      expect(member.headers.get('allow')).toBe('DELETE, PATCH');
      expectProblem(
        await api.request('POST', '/api/v1/nothing-here', { rawBody: 'x', headers: { 'content-type': 'text/plain' } }),
        404,
        'NOT_FOUND',
      );
    });
  });

  describe('authentication', () => {
    const me = (authorization?: string) =>
      api.request('GET', '/api/v1/users/me', authorization === undefined ? {} : { headers: { authorization } });

    const expectUnauthenticated = (response: Awaited<ReturnType<typeof me>>) => {
      expectProblem(response, 401, 'UNAUTHENTICATED');
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
    };

    it('answers 401 without a token', async () => {
      expectUnauthenticated(await me());
    });

    it('answers 401 for a malformed Authorization header or token', async () => {
      for (const header of [
        '',
        'Bearer',
        'Bearer ',
        `Basic ${alice.token}`,
        alice.token,
        'Bearer not.a.jwt',
        'Bearer a b',
      ]) {
        expectUnauthenticated(await me(header));
      }
    });

    it('accepts the scheme in any case', async () => {
      expect((await me(`bearer ${alice.token}`)).status).toBe(200);
    });

    it('answers 401 for an expired token', async () => {
      const now = Math.floor(Date.now() / 1000);
      const { sid } = claimsOf(alice.token);
      const expired = await sign({ sub: alice.id, sid, iat: now - 7200, exp: now - 3600 }, TEST_JWT_SECRET, 'HS256');
      expectUnauthenticated(await me(`Bearer ${expired}`));
    });

    it('answers 401 for a token whose payload was tampered with', async () => {
      const [header, , signature] = alice.token.split('.');
      const now = Math.floor(Date.now() / 1000);
      const forged = Buffer.from(JSON.stringify({ sub: newId(), iat: now, exp: now + 3600 })).toString('base64url');
      expectUnauthenticated(await me(`Bearer ${header}.${forged}.${signature}`));
    });

    it('answers 401 for a token whose signature was altered', async () => {
      const [header, payload, signature = ''] = alice.token.split('.');
      const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
      expectUnauthenticated(await me(`Bearer ${header}.${payload}.${flipped}`));
    });

    it('answers 401 for a token signed with another secret or with alg "none"', async () => {
      const now = Math.floor(Date.now() / 1000);
      const payload = { sub: alice.id, sid: claimsOf(alice.token).sid, iat: now, exp: now + 3600 };
      const otherSecret = await sign(payload, 'another-secret-that-is-long-enough-for-hs256', 'HS256');
      expectUnauthenticated(await me(`Bearer ${otherSecret}`));
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
      expectUnauthenticated(await me(`Bearer ${none}`));
    });

    it('answers 401 for a validly signed token whose subject is not a user id', async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = await sign({ sub: 'admin', iat: now, exp: now + 3600 }, TEST_JWT_SECRET, 'HS256');
      expectUnauthenticated(await me(`Bearer ${token}`));
    });

    it('guards every authenticated route, also before validating the request', async () => {
      const guarded: Array<[string, string]> = [
        ['GET', '/api/v1/users/me'],
        ['GET', `/api/v1/users/${alice.id}`],
        ['POST', '/api/v1/groups'],
        ['GET', '/api/v1/groups'],
        ['GET', `/api/v1/groups/${newId()}`],
        ['GET', `/api/v1/groups/${newId()}/members`],
        ['POST', `/api/v1/groups/${newId()}/members`],
        ['DELETE', `/api/v1/groups/${newId()}/members/${newId()}`],
        ['POST', '/api/v1/messages'],
        ['GET', '/api/v1/messages'],
        ['POST', `/api/v1/conversations/${newId()}/receipts`],
        ['GET', `/api/v1/conversations/${newId()}/receipts`],
      ];
      for (const [method, path] of guarded) {
        const response = await api.request(method, path, method === 'POST' ? { body: { invalid: true } } : {});
        expect(response.status, `${method} ${path}`).toBe(401);
        expectProblem(response, 401, 'UNAUTHENTICATED');
      }
    });

    it('leaves account creation, token issue, health and docs open', async () => {
      expect((await api.get('/healthz')).status).toBe(200);
      expect((await api.get('/api/v1/openapi.json')).status).toBe(200);
      expect((await fetch(`${server.url}/docs`)).status).toBe(200);
      expect(
        (await api.post('/api/v1/auth/token', { username: alice.username, password: 'correct-horse-battery' })).status,
      ).toBe(200);
    });
  });

  it('never answers a client mistake with a 500 or a stack trace', async () => {
    const attempts = [
      api.request('POST', '/api/v1/messages', {
        token: alice.token,
        rawBody: '{"content":{"$gt":""}}',
        headers: { 'content-type': 'application/json' },
      }),
      api.get('/api/v1/messages?conversationId=dm_x_y', alice.token),
      api.get(`/api/v1/messages?peerId=${alice.id}`, alice.token),
      api.get(`/api/v1/messages?groupId=${newId()}&limit=1e3`, alice.token),
      api.get(`/api/v1/messages?groupId=${newId()}&from=%00`, alice.token),
      api.post(`/api/v1/conversations/${newId()}/receipts`, { messageId: newId(), status: 'seen' }, alice.token),
      api.get(`/api/v1/users/${'Z'.repeat(26)}`, alice.token),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(JSON.stringify(response.body)).not.toMatch(/at .*\.ts:\d+|stack/);
    }
  });

  describe('while Cassandra is unreachable', () => {
    let proxy: TcpProxy;
    let cut: TestServer;

    beforeAll(async () => {
      proxy = await startTcpProxy('127.0.0.1', 9042);
      cut = await startServer({
        CASSANDRA_CONTACT_POINTS: `127.0.0.1:${proxy.port}`,
        CASSANDRA_REQUEST_TIMEOUT_MS: '2000',
      });
    });
    afterAll(async () => {
      await cut?.close();
      await proxy?.close();
    });

    it('answers 503 UNAVAILABLE problem+json with Retry-After, never a 500, and serves again once it is back', async () => {
      const cutApi = apiClient(cut.url);
      const user = await registerUser(cutApi, 'cut');
      proxy.cut();
      let response = await cutApi.post('/api/v1/groups', { name: 'during outage' }, user.token);
      // The driver notices the lost connections within a request timeout or two.
      for (let i = 0; i < 20 && response.status !== 503; i++) {
        expect(response.status).not.toBe(500);
        await new Promise((resolve) => setTimeout(resolve, 250));
        response = await cutApi.post('/api/v1/groups', { name: 'during outage' }, user.token);
      }
      expectProblem(response, 503, 'UNAVAILABLE');
      expect(response.headers.get('retry-after')).toBe('1');
      expect(JSON.stringify(response.body)).not.toMatch(/9042|NoHostAvailable|stack/);

      proxy.restore();
      let again = await cutApi.post('/api/v1/groups', { name: 'after outage' }, user.token);
      for (let i = 0; i < 60 && again.status !== 201; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        again = await cutApi.post('/api/v1/groups', { name: 'after outage' }, user.token);
      }
      expect(again.status).toBe(201);
    });
  });
});
