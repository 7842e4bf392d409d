import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { type ApiClient, type ApiResponse, apiClient, expectProblem, uniqueUsername } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { claimsOf, sameBytesVariants, signToken } from '../support/tokens.js';
import { connectWs, eventually, refusedUpgrade, wsUrl } from '../support/ws-client.js';

const PASSWORD = 'correct-horse-battery';
/** The revocation bound the two nodes run with (AUTH_CHECK_CACHE_MS), short to keep the test quick. */
const CHECK_CACHE_MS = 1000;
/** How often open WebSockets re-check their session (WS_SESSION_CHECK_MS), short for the test. */
const SESSION_CHECK_MS = 1000;

interface Session {
  userId: string;
  username: string;
  token: string;
  refreshToken: string;
}

describe('token lifecycle and strict tokens', () => {
  let nodeA: TestServer;
  let nodeB: TestServer;
  let api: ApiClient;
  let apiB: ApiClient;

  beforeAll(async () => {
    // Two nodes on the same Cassandra and Redis, as behind a load balancer.
    [nodeA, nodeB] = await Promise.all([
      startServer({ AUTH_CHECK_CACHE_MS: String(CHECK_CACHE_MS), WS_SESSION_CHECK_MS: String(SESSION_CHECK_MS) }),
      startServer({ AUTH_CHECK_CACHE_MS: String(CHECK_CACHE_MS), WS_SESSION_CHECK_MS: String(SESSION_CHECK_MS) }),
    ]);
    api = apiClient(nodeA.url);
    apiB = apiClient(nodeB.url);
  });
  afterAll(async () => {
    await Promise.all([nodeA?.close(), nodeB?.close()]);
  });

  const toSession = (response: ApiResponse): Session => {
    if (response.status !== 200 && response.status !== 201) {
      throw new Error(`expected a sign-in, got ${response.status} ${JSON.stringify(response.body)}`);
    }
    return {
      userId: response.body.user.id,
      username: response.body.user.username,
      token: response.body.token,
      refreshToken: response.body.refreshToken,
    };
  };
  const register = async () =>
    toSession(await api.post('/api/v1/users', { username: uniqueUsername('tok'), password: PASSWORD }));
  const login = async (username: string, client = api) =>
    toSession(await client.post('/api/v1/auth/token', { username, password: PASSWORD }));
  const refresh = (refreshToken: string, client = api) => client.post('/api/v1/auth/refresh', { refreshToken });
  const me = (token: string, client = api) => client.get('/api/v1/users/me', token);

  /** 401 UNAUTHENTICATED problem+json with WWW-Authenticate: Bearer. */
  const expectRefused = (response: ApiResponse) => {
    expectProblem(response, 401, 'UNAUTHENTICATED');
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
  };
  /** The WebSocket upgrade is refused with a 401 problem+json before the handshake. */
  const expectUpgradeRefused = async (token: string, url = nodeA.url) => {
    const answer = await refusedUpgrade(`${wsUrl(url)}?token=${encodeURIComponent(token)}`);
    expect(answer.status).toBe(401);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  };

  it('answers sign-ins and refreshes with { user, token, refreshToken, expiresIn }', async () => {
    const registered = await api.post('/api/v1/users', { username: uniqueUsername('tok'), password: PASSWORD });
    expect(registered.status).toBe(201);
    for (const body of [registered.body, (await refresh(registered.body.refreshToken)).body]) {
      expect(Object.keys(body).sort()).toEqual(['expiresIn', 'refreshToken', 'token', 'user']);
      expect(body.expiresIn).toBe(900);
      const claims = claimsOf(body.token);
      expect(claims.exp - claims.iat).toBe(900);
      expect(claims.sub).toBe(registered.body.user.id);
      expect(claims.sid).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    }
  });

  it('refuses a correctly signed token for a user that does not exist (REST and WebSocket upgrade)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const ghost = signToken({ sub: newId(), sid: newId(), iat: now, exp: now + 600 });
    expectRefused(await me(ghost));
    expectRefused(await api.get(`/api/v1/users/${newId()}`, ghost));
    await expectUpgradeRefused(ghost);
    // A real session id under a user id that does not exist is refused too.
    const real = await register();
    const borrowed = signToken({ sub: newId(), sid: claimsOf(real.token).sid, iat: now, exp: now + 600 });
    expectRefused(await me(borrowed));
    await expectUpgradeRefused(borrowed);
    // The same signing helper makes tokens the server accepts: the refusals are about the user.
    const genuine = signToken({ sub: real.userId, sid: claimsOf(real.token).sid, iat: now, exp: now + 600 });
    expect((await me(genuine)).status).toBe(200);
  });

  it('refuses a token whose user was deleted, within AUTH_CHECK_CACHE_MS on every node', async () => {
    const user = await register();
    expect((await me(user.token)).status).toBe(200);
    expect((await me(user.token, apiB)).status).toBe(200);
    await nodeA.container.deps.users.delete(user.userId);
    const deletedAt = Date.now();
    for (const client of [api, apiB]) {
      await eventually(async () => ((await me(user.token, client)).status === 401 ? true : undefined), 5000, 50);
    }
    expect(Date.now() - deletedAt).toBeLessThan(CHECK_CACHE_MS + 1500);
    expectRefused(await me(user.token));
    await expectUpgradeRefused(user.token, nodeB.url);
    // Its refresh token no longer yields tokens either.
    expectRefused(await refresh(user.refreshToken));
  });

  it('refuses a token whose signature has a non-canonical last character', async () => {
    const user = await register();
    const [header, payload, signature = ''] = user.token.split('.');
    expect((await me(user.token)).status).toBe(200); // verified and cached: variants must not hit that cache
    const variants = sameBytesVariants(signature);
    expect(variants).toHaveLength(3);
    for (const variant of [...variants, `${signature}=`]) {
      const malleated = `${header}.${payload}.${variant}`;
      expectRefused(await me(malleated));
      await expectUpgradeRefused(malleated);
    }
    expect((await me(user.token)).status).toBe(200);
  });

  it('rotates a refresh token and refuses the spent one', async () => {
    const user = await register();
    const rotated = await refresh(user.refreshToken);
    expect(rotated.status).toBe(200);
    expect(rotated.body.user).toMatchObject({ id: user.userId, username: user.username });
    expect(rotated.body.refreshToken).not.toBe(user.refreshToken);
    expect(claimsOf(rotated.body.token).sid).toBe(claimsOf(user.token).sid);
    expect((await me(rotated.body.token)).body.user.id).toBe(user.userId);
    expectRefused(await refresh(user.refreshToken));
  });

  it('reuse of a spent refresh token revokes its family, including the newer token', async () => {
    const user = await register();
    const other = await login(user.username); // another device of the same user
    const rotated = toSession(await refresh(user.refreshToken));
    expect((await me(rotated.token)).status).toBe(200);
    // Replaying the spent token (a thief, or a confused client) ends the whole session...
    expectRefused(await refresh(user.refreshToken));
    expectRefused(await refresh(rotated.refreshToken));
    expectRefused(await me(rotated.token));
    expectRefused(await me(user.token));
    await expectUpgradeRefused(rotated.token);
    // ...and only that session.
    expect((await me(other.token)).status).toBe(200);
    expect((await refresh(other.refreshToken)).status).toBe(200);
  });

  it('lets exactly one of several concurrent refreshes of one token win', async () => {
    const user = await register();
    const answers = await Promise.all(Array.from({ length: 5 }, () => refresh(user.refreshToken)));
    const won = answers.filter((answer) => answer.status === 200);
    expect(won).toHaveLength(1);
    for (const answer of answers.filter((a) => a.status !== 200)) expectRefused(answer);
    // The losers presented a spent token: reuse, so the winner's pair is revoked too.
    expectRefused(await refresh(won[0]?.body.refreshToken));
  });

  it('refuses an unknown refresh token', async () => {
    expectRefused(await refresh('not-a-refresh-token-we-issued'));
    expectProblem(await refresh(''), 400, 'VALIDATION_FAILED');
    expectProblem(await api.post('/api/v1/auth/refresh', {}), 400, 'VALIDATION_FAILED');
  });

  it("logout of one device leaves the user's other sessions working", async () => {
    const phone = await register();
    const laptop = await login(phone.username);
    const socket = await connectWs(nodeA.url, phone.token);
    await socket.close();
    // No bearer token needed: the refresh token is the credential.
    const answer = await api.post('/api/v1/auth/logout', { refreshToken: phone.refreshToken });
    expect(answer.status).toBe(204);
    expect(answer.body).toBeUndefined();
    expectRefused(await me(phone.token));
    expectRefused(await refresh(phone.refreshToken));
    await expectUpgradeRefused(phone.token);
    expect((await me(laptop.token)).status).toBe(200);
    expect((await refresh(laptop.refreshToken)).status).toBe(200);
    // Logging out again, or with a token we never issued, is not an error: nothing is left to end.
    expect((await api.post('/api/v1/auth/logout', { refreshToken: phone.refreshToken })).status).toBe(204);
    expect((await api.post('/api/v1/auth/logout', { refreshToken: 'never-issued' })).status).toBe(204);
  });

  it('logout of a device stops its access tokens on another node within AUTH_CHECK_CACHE_MS', async () => {
    const user = await register();
    expect((await me(user.token, apiB)).status).toBe(200); // node B now trusts this session
    expect((await api.post('/api/v1/auth/logout', { refreshToken: user.refreshToken })).status).toBe(204);
    const loggedOutAt = Date.now();
    expectRefused(await me(user.token)); // at once on the node that handled the logout
    await eventually(async () => ((await me(user.token, apiB)).status === 401 ? true : undefined), 5000, 50);
    expect(Date.now() - loggedOutAt).toBeLessThan(CHECK_CACHE_MS + 1500);
    expectRefused(await me(user.token, apiB));
  });

  it('closes open WebSockets of an ended session with 1008, on every node, and leaves other sessions connected', async () => {
    const laptop = await register();
    const phone = await login(laptop.username, apiB);
    const [onA, onB, other] = await Promise.all([
      connectWs(nodeA.url, laptop.token),
      connectWs(nodeB.url, laptop.token),
      connectWs(nodeB.url, phone.token),
    ]);
    expect((await api.post('/api/v1/auth/logout', { refreshToken: laptop.refreshToken })).status).toBe(204);
    const [closedA, closedB] = await Promise.all([onA.closed, onB.closed]);
    expect([closedA.code, closedB.code]).toEqual([1008, 1008]);
    expect(closedA.reason).toBe('session ended');
    other.send({ type: 'ping', data: { still: 'here' } });
    expect((await other.waitFor('pong')).data).toEqual({ still: 'here' });
    await other.close();
  });

  it('logout of all sessions refuses every older access and refresh token', async () => {
    const first = await register();
    const second = await login(first.username);
    const third = await login(first.username, apiB);
    const rotated = toSession(await refresh(third.refreshToken, apiB));
    const answer = await api.post('/api/v1/auth/logout', { all: true }, second.token);
    expect(answer.status).toBe(204);
    for (const session of [first, second, rotated]) {
      expectRefused(await me(session.token));
      expectRefused(await refresh(session.refreshToken));
    }
    await expectUpgradeRefused(first.token);
    await eventually(async () => ((await me(rotated.token, apiB)).status === 401 ? true : undefined), 5000, 50);
    // Signing in afterwards starts a session that works.
    const fresh = await login(first.username);
    expect((await me(fresh.token)).status).toBe(200);
    expect((await me(fresh.token, apiB)).status).toBe(200);
    expect((await refresh(fresh.refreshToken)).status).toBe(200);
  });

  it('logging out everywhere needs a valid bearer token', async () => {
    const user = await register();
    expectRefused(await api.post('/api/v1/auth/logout', { all: true }));
    const now = Math.floor(Date.now() / 1000);
    const ghost = signToken({ sub: newId(), sid: newId(), iat: now, exp: now + 600 });
    expectRefused(await api.post('/api/v1/auth/logout', { all: true }, ghost));
    // Nothing was ended by the refused requests.
    expect((await me(user.token)).status).toBe(200);
    for (const body of [{}, { all: false }, { all: true, refreshToken: user.refreshToken }, { refreshToken: 5 }]) {
      expectProblem(await api.post('/api/v1/auth/logout', body, user.token), 400, 'VALIDATION_FAILED');
    }
    expect((await me(user.token)).status).toBe(200);
  });

  it('an expired access token is refused while its refresh token still works', async () => {
    const user = await register();
    const { sub, sid } = claimsOf(user.token);
    const now = Math.floor(Date.now() / 1000);
    const expired = signToken({ sub, sid, iat: now - 1000, exp: now - 100 });
    expectRefused(await me(expired));
    await expectUpgradeRefused(expired);
    const renewed = toSession(await refresh(user.refreshToken));
    expect((await me(renewed.token)).body.user.id).toBe(user.userId);
  });

  it('answers 503 (not 401) while the session store cannot be reached, so clients keep their tokens', async () => {
    const proxy = await startTcpProxy('127.0.0.1', 9042);
    // Every request checks its session (no cache), through a link the test can cut.
    const cut = await startServer({
      CASSANDRA_CONTACT_POINTS: `127.0.0.1:${proxy.port}`,
      CASSANDRA_REQUEST_TIMEOUT_MS: '2000',
      AUTH_CHECK_CACHE_MS: '0',
    });
    try {
      const cutApi = apiClient(cut.url);
      const user = toSession(
        await cutApi.post('/api/v1/users', { username: uniqueUsername('tok'), password: PASSWORD }),
      );
      expect((await me(user.token, cutApi)).status).toBe(200);
      proxy.cut();
      // The driver notices the lost connections within a request timeout or two.
      const answer = await eventually(
        async () => {
          const response = await me(user.token, cutApi);
          expect(response.status).not.toBe(401);
          return response.status === 503 ? response : undefined;
        },
        30_000,
        250,
      );
      expectProblem(answer, 503, 'UNAVAILABLE');
      expectProblem(await refresh(user.refreshToken, cutApi), 503, 'UNAVAILABLE');
      proxy.restore();
      await eventually(async () => ((await me(user.token, cutApi)).status === 200 ? true : undefined), 60_000, 500);
      expect((await refresh(user.refreshToken, cutApi)).status).toBe(200);
    } finally {
      await cut.close();
      await proxy.close();
    }
  });
});
