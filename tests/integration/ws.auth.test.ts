import { sign } from 'hono/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, registerUser } from '../support/api.js';
import { TEST_JWT_SECRET } from '../support/env.js';
import { type ServerProcess, startServerProcess } from '../support/server.js';
import { claimsOf } from '../support/tokens.js';
import { connectWs, refusedUpgrade, wsUrl } from '../support/ws-client.js';

let node: ServerProcess;
let api: ApiClient;

beforeAll(async () => {
  node = await startServerProcess({ WS_HEARTBEAT_MS: '20000' });
  api = apiClient(node.url);
});

afterAll(async () => {
  await node?.stop('SIGTERM');
});

function expectRefusal(
  answer: { status: number; headers: Record<string, string | string[] | undefined>; body: string },
  status: number,
  code: string,
) {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(answer.body);
  expect(problem).toMatchObject({ status, code, requestId: answer.headers['x-request-id'] });
  expect(typeof problem.title).toBe('string');
  expect(typeof problem.detail).toBe('string');
  expect(typeof problem.type).toBe('string');
  return problem;
}

describe('WebSocket authentication', () => {
  it('refuses an upgrade without a token with 401 before the handshake', async () => {
    const answer = await refusedUpgrade(wsUrl(node.url));
    expectRefusal(answer, 401, 'UNAUTHENTICATED');
    expect(answer.headers['www-authenticate']).toBe('Bearer');
  });

  it('refuses an upgrade with a forged token with 401', async () => {
    const user = await registerUser(api);
    const [header, payload] = user.token.split('.');
    const answer = await refusedUpgrade(`${wsUrl(node.url)}?token=${header}.${payload}.forged-signature`);
    expectRefusal(answer, 401, 'UNAUTHENTICATED');
  });

  it('refuses a bad Authorization header with 401', async () => {
    const answer = await refusedUpgrade(wsUrl(node.url), { authorization: 'Bearer not-a-jwt' });
    expectRefusal(answer, 401, 'UNAUTHENTICATED');
  });

  it('answers 404 for an upgrade on a path that is not the gateway', async () => {
    const user = await registerUser(api);
    const answer = await refusedUpgrade(`${wsUrl(node.url, '/api/v1/messages')}?token=${user.token}`);
    expectRefusal(answer, 404, 'NOT_FOUND');
  });

  it('accepts a token in the query string and says ready with the user and heartbeat', async () => {
    const user = await registerUser(api);
    const socket = await connectWs(node.url, user.token);
    expect(socket.ready).toEqual({ userId: user.id, connectionId: expect.any(String), heartbeatMs: 20000 });
    await socket.close();
  });

  it('accepts a bearer Authorization header, also on the root path', async () => {
    const user = await registerUser(api);
    const socket = await connectWs(node.url, user.token, { via: 'header', path: '/' });
    expect(socket.ready.userId).toBe(user.id);
    await socket.close();
  });

  it('closes the connection with 1008 when its token expires', async () => {
    const user = await registerUser(api);
    const now = Math.floor(Date.now() / 1000);
    // Same user and session as the registration's token, only shorter-lived.
    const { sid } = claimsOf(user.token);
    const shortLived = await sign({ sub: user.id, sid, iat: now, exp: now + 2 }, TEST_JWT_SECRET, 'HS256');
    const socket = await connectWs(node.url, shortLived);
    expect(await socket.closed).toEqual({ code: 1008, reason: 'token expired' });
  });

  it('gives every connection its own id', async () => {
    const user = await registerUser(api);
    const first = await connectWs(node.url, user.token);
    const second = await connectWs(node.url, user.token);
    expect(first.ready.connectionId).not.toBe(second.ready.connectionId);
    await Promise.all([first.close(), second.close()]);
  });
});
