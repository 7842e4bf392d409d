import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient, expectProblem, registerUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

let server: TestServer;
let api: ApiClient;

beforeAll(async () => {
  // Presence between strangers; who may see whom is tested in security.presence.test.ts.
  server = await startServer({ PRESENCE_VISIBILITY: 'everyone' });
  api = apiClient(server.url);
});

afterAll(async () => {
  await server?.close();
});

describe('GET /api/v1/presence', () => {
  it('answers many users at once, in the order asked, without duplicates', async () => {
    const [viewer, a, b] = await Promise.all([registerUser(api), registerUser(api), registerUser(api)]);
    const response = await api.get(`/api/v1/presence?userIds=${b.id},${a.id},${b.id}`, viewer.token);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      presence: [
        { userId: b.id, status: 'offline', lastSeenAt: null },
        { userId: a.id, status: 'offline', lastSeenAt: null },
      ],
    });
  });

  it('requires a bearer token', async () => {
    const user = await registerUser(api);
    expectProblem(await api.get(`/api/v1/presence?userIds=${user.id}`), 401, 'UNAUTHENTICATED');
  });

  it('rejects a missing list, ids that are not ULIDs and more than 100 ids with 400', async () => {
    const viewer = await registerUser(api);
    expectProblem(await api.get('/api/v1/presence', viewer.token), 400, 'VALIDATION_FAILED');
    const bad = expectProblem(await api.get('/api/v1/presence?userIds=nope', viewer.token), 400, 'VALIDATION_FAILED');
    expect(bad.issues).toEqual([{ path: 'query.userIds', message: expect.stringContaining('nope') }]);
    const many = Array.from({ length: 101 }, (_, i) => `01JD3W6YQ7R5S3T2V1X0Z9Y${String(i).padStart(3, '0')}`);
    expectProblem(await api.get(`/api/v1/presence?userIds=${many.join(',')}`, viewer.token), 400, 'VALIDATION_FAILED');
  });
});

describe('GET /api/v1/users/:userId presence', () => {
  it('includes the presence of a user who never connected', async () => {
    const [viewer, user] = await Promise.all([registerUser(api), registerUser(api)]);
    const response = await api.get(`/api/v1/users/${user.id}`, viewer.token);
    expect(response.status).toBe(200);
    expect(response.body.presence).toEqual({ status: 'offline', lastSeenAt: null });
  });
});
