import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUlid, ulidTime } from '../../src/domain/ids.js';
import { type ApiClient, apiClient, expectProblem, uniqueUsername } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

const PASSWORD = 'correct-horse-battery';
const USER_KEYS = ['createdAt', 'displayName', 'id', 'username'];

describe('POST /api/v1/users', () => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServer();
    api = apiClient(server.url);
  });
  afterAll(async () => server?.close());

  const register = (body: Record<string, unknown>) => api.post('/api/v1/users', body);

  it('creates a user and answers 201 with the user, a working access token and a refresh token', async () => {
    const username = uniqueUsername('reg');
    const before = Date.now();
    const response = await register({ username, password: PASSWORD, displayName: 'Ada Lovelace' });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toContain('application/json');
    const { user, token } = response.body;
    expect(Object.keys(response.body).sort()).toEqual(['expiresIn', 'refreshToken', 'token', 'user']);
    expect(response.body.expiresIn).toBe(900);
    expect(response.body.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Object.keys(user).sort()).toEqual(USER_KEYS);
    expect(isUlid(user.id)).toBe(true);
    expect(user.username).toBe(username);
    expect(user.displayName).toBe('Ada Lovelace');
    expect(user.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Date.parse(user.createdAt)).toBeGreaterThanOrEqual(before - 5);
    expect(Date.parse(user.createdAt)).toBe(ulidTime(user.id));
    const me = await api.get('/api/v1/users/me', token);
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ user });
  });

  it('defaults the display name to the username', async () => {
    const username = uniqueUsername('dn');
    const response = await register({ username, password: PASSWORD });
    expect(response.status).toBe(201);
    expect(response.body.user.displayName).toBe(username);
  });

  it('accepts usernames of 3 and 32 characters from [a-z0-9_.]', async () => {
    const suffix = uniqueUsername('').slice(1); // "_" + 12 hex characters
    const long = `a.${suffix}`.padEnd(32, '9');
    expect(long).toHaveLength(32);
    const response = await register({ username: long, password: PASSWORD });
    expect(response.status).toBe(201);
    expect(response.body.user.username).toBe(long);
    // Three characters can be taken by an earlier run: either outcome proves the length is allowed.
    const short = await register({ username: `z${suffix.slice(1, 3)}`, password: PASSWORD });
    expect([201, 409]).toContain(short.status);
  });

  it('refuses usernames that are too short, too long or use other characters', async () => {
    for (const username of ['ab', 'a'.repeat(33), 'has space', 'dash-ed', 'émile', 'semi;colon', '', 'a@b.c']) {
      const problem = expectProblem(await register({ username, password: PASSWORD }), 400, 'VALIDATION_FAILED');
      expect(problem.issues.map((issue: { path: string }) => issue.path)).toContain('body.username');
    }
  });

  it('refuses passwords shorter than 8 or longer than 128 characters, and accepts both limits', async () => {
    for (const password of ['1234567', 'x'.repeat(129)]) {
      const problem = expectProblem(
        await register({ username: uniqueUsername('pw'), password }),
        400,
        'VALIDATION_FAILED',
      );
      expect(problem.issues.map((issue: { path: string }) => issue.path)).toContain('body.password');
    }
    for (const password of ['12345678', 'x'.repeat(128)]) {
      expect((await register({ username: uniqueUsername('pw'), password })).status).toBe(201);
    }
  });

  it('refuses display names that are empty, blank or longer than 64 characters', async () => {
    for (const displayName of ['', '   ', 'd'.repeat(65), 'Ada \udfff']) {
      const problem = expectProblem(
        await register({ username: uniqueUsername('dn'), password: PASSWORD, displayName }),
        400,
        'VALIDATION_FAILED',
      );
      expect(problem.issues.map((issue: { path: string }) => issue.path)).toContain('body.displayName');
    }
    const ok = await register({ username: uniqueUsername('dn'), password: PASSWORD, displayName: 'd'.repeat(64) });
    expect(ok.status).toBe(201);
  });

  it('refuses missing fields, wrong types and unknown fields', async () => {
    expectProblem(await register({ password: PASSWORD }), 400, 'VALIDATION_FAILED');
    expectProblem(await register({ username: uniqueUsername('t') }), 400, 'VALIDATION_FAILED');
    expectProblem(await register({ username: 12345, password: PASSWORD }), 400, 'VALIDATION_FAILED');
    expectProblem(
      await register({ username: uniqueUsername('t'), password: PASSWORD, isAdmin: true }),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('answers 409 when the username is taken, whatever its case', async () => {
    const username = uniqueUsername('dup');
    expect((await register({ username, password: PASSWORD })).status).toBe(201);
    expectProblem(await register({ username, password: 'another-password' }), 409, 'CONFLICT');
    expectProblem(await register({ username: username.toUpperCase(), password: PASSWORD }), 409, 'CONFLICT');
  });

  it('stores usernames lower-cased, so a mixed-case name signs in with any case', async () => {
    const username = uniqueUsername('MiXeD');
    const response = await register({ username, password: PASSWORD });
    expect(response.status).toBe(201);
    expect(response.body.user.username).toBe(username.toLowerCase());
    const login = await api.post('/api/v1/auth/token', { username: username.toUpperCase(), password: PASSWORD });
    expect(login.status).toBe(200);
    expect(login.body.user.id).toBe(response.body.user.id);
  });

  it('lets exactly one of two concurrent registrations of the same name succeed', async () => {
    for (let round = 0; round < 3; round++) {
      const username = uniqueUsername('race');
      const responses = await Promise.all([
        register({ username, password: PASSWORD }),
        register({ username: username.toUpperCase(), password: PASSWORD }),
      ]);
      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([201, 409]);
      const loser = responses.find((response) => response.status === 409);
      if (loser) expectProblem(loser, 409, 'CONFLICT');
      // The name leads to the winner, and only the winner's password works.
      const winner = responses.find((response) => response.status === 201);
      const login = await api.post('/api/v1/auth/token', { username, password: PASSWORD });
      expect(login.body.user.id).toBe(winner?.body.user.id);
    }
  });

  it('never returns a password or its hash', async () => {
    const username = uniqueUsername('nh');
    const responses = [await register({ username, password: PASSWORD })];
    const token = responses[0]?.body.token;
    responses.push(await api.post('/api/v1/auth/token', { username, password: PASSWORD }));
    responses.push(await api.get('/api/v1/users/me', token));
    responses.push(await api.get(`/api/v1/users/${responses[0]?.body.user.id}`, token));
    responses.push(await api.get(`/api/v1/users/by-username/${username}`, token));
    for (const response of responses) {
      expect(response.status).toBeLessThan(300);
      expect(JSON.stringify(response.body)).not.toContain(PASSWORD);
      // The token is random-looking base64: everything but it is searched for hash material.
      const { token: _token, ...rest } = response.body;
      expect(JSON.stringify(rest)).not.toMatch(/scrypt|hash|password|salt|\$/i);
      expect(Object.keys(response.body.user).sort()).toEqual(USER_KEYS);
    }
  });
});

describe('GET /api/v1/users/by-username/:username', () => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServer();
    api = apiClient(server.url);
  });
  afterAll(async () => server?.close());

  it('finds a user by the name they signed up with, in any case, for a signed-in caller', async () => {
    const name = uniqueUsername('Find');
    const found = await api.post('/api/v1/users', { username: name, password: PASSWORD });
    const asker = await api.post('/api/v1/users', { username: uniqueUsername('ask'), password: PASSWORD });
    for (const spelling of [name, name.toLowerCase(), name.toUpperCase()]) {
      const response = await api.get(`/api/v1/users/by-username/${spelling}`, asker.body.token);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ user: found.body.user });
    }
  });

  it('answers 404 for a name nobody has, 400 for one no account could have, and 401 without a token', async () => {
    const asker = await api.post('/api/v1/users', { username: uniqueUsername('ask'), password: PASSWORD });
    const token = asker.body.token;
    expectProblem(await api.get(`/api/v1/users/by-username/${uniqueUsername('nobody')}`, token), 404, 'NOT_FOUND');
    expectProblem(await api.get('/api/v1/users/by-username/a%20b', token), 400, 'VALIDATION_FAILED');
    expectProblem(await api.get(`/api/v1/users/by-username/${'x'.repeat(33)}`, token), 400, 'VALIDATION_FAILED');
    expectProblem(await api.get(`/api/v1/users/by-username/${asker.body.user.username}`), 401, 'UNAUTHENTICATED');
  });
});
