import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

const PASSWORD = 'correct-horse-battery';

describe('tokens and profiles', () => {
  let server: TestServer;
  let api: ApiClient;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    server = await startServer();
    api = apiClient(server.url);
    [alice, bob] = await Promise.all([registerUser(api, 'auth'), registerUser(api, 'auth')]);
  });
  afterAll(async () => server?.close());

  describe('POST /api/v1/auth/token', () => {
    it('answers 200 with the user, an access token that authenticates as that user, and a refresh token', async () => {
      const response = await api.post('/api/v1/auth/token', { username: alice.username, password: PASSWORD });
      expect(response.status).toBe(200);
      expect(Object.keys(response.body).sort()).toEqual(['expiresIn', 'refreshToken', 'token', 'user']);
      expect(response.body.user).toMatchObject({ id: alice.id, username: alice.username });
      expect(typeof response.body.token).toBe('string');
      expect(response.body.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const me = await api.get('/api/v1/users/me', response.body.token);
      expect(me.body.user.id).toBe(alice.id);
    });

    it('answers the same 401 for an unknown user and for a wrong password', async () => {
      const unknown = await api.post('/api/v1/auth/token', {
        username: `nobody_${newId().slice(-10).toLowerCase()}`,
        password: PASSWORD,
      });
      const wrong = await api.post('/api/v1/auth/token', { username: alice.username, password: 'not-the-password' });
      const a = expectProblem(unknown, 401, 'UNAUTHENTICATED');
      const b = expectProblem(wrong, 401, 'UNAUTHENTICATED');
      const { requestId: _a, ...restA } = a;
      const { requestId: _b, ...restB } = b;
      expect(restA).toEqual(restB);
      expect(unknown.headers.get('www-authenticate')).toBe(wrong.headers.get('www-authenticate'));
    });

    it('answers 401 for a password that differs only in case', async () => {
      expectProblem(
        await api.post('/api/v1/auth/token', { username: alice.username, password: PASSWORD.toUpperCase() }),
        401,
        'UNAUTHENTICATED',
      );
    });

    it('issues HS256 JWTs whose subject is the user id and whose lifetime is JWT_TTL_SECONDS', async () => {
      const response = await api.post('/api/v1/auth/token', { username: alice.username, password: PASSWORD });
      const [header, payload] = (response.body.token as string)
        .split('.')
        .slice(0, 2)
        .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
      expect(header).toMatchObject({ alg: 'HS256', typ: 'JWT' });
      expect(payload.sub).toBe(alice.id);
      expect(payload.exp - payload.iat).toBe(900);
      expect(response.body.expiresIn).toBe(900);
      expect(Math.abs(payload.iat - Date.now() / 1000)).toBeLessThan(300);

      const shortLived = await startServer({ JWT_TTL_SECONDS: '120' });
      try {
        const short = await apiClient(shortLived.url).post('/api/v1/auth/token', {
          username: alice.username,
          password: PASSWORD,
        });
        const claims = JSON.parse(Buffer.from(short.body.token.split('.')[1], 'base64url').toString('utf8'));
        expect(claims.exp - claims.iat).toBe(120);
        expect(short.body.expiresIn).toBe(120);
      } finally {
        await shortLived.close();
      }
    });

    it('answers 400 when username or password is missing', async () => {
      expectProblem(await api.post('/api/v1/auth/token', { username: alice.username }), 400, 'VALIDATION_FAILED');
      expectProblem(await api.post('/api/v1/auth/token', { password: PASSWORD }), 400, 'VALIDATION_FAILED');
    });
  });

  describe('GET /api/v1/users/me and /api/v1/users/:userId', () => {
    it('answers the caller', async () => {
      const response = await api.get('/api/v1/users/me', bob.token);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        user: { id: bob.id, username: bob.username, displayName: bob.username, createdAt: expect.any(String) },
      });
    });

    it('answers another user by id', async () => {
      const response = await api.get(`/api/v1/users/${bob.id}`, alice.token);
      expect(response.status).toBe(200);
      expect(response.body.user).toMatchObject({ id: bob.id, username: bob.username });
    });

    it('answers 404 for an unknown user id and 400 for one that is not a ULID', async () => {
      const missing = newId();
      const problem = expectProblem(await api.get(`/api/v1/users/${missing}`, alice.token), 404, 'NOT_FOUND');
      expect(problem.detail).toContain(missing);
      expectProblem(await api.get('/api/v1/users/bob', alice.token), 400, 'VALIDATION_FAILED');
    });
  });
});
