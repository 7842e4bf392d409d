import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiClient,
  type ApiResponse,
  apiClient,
  expectProblem,
  registerUser,
  type TestUser,
} from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

type Role = 'owner' | 'member' | 'outsider';

interface Fixture {
  groupId: string;
  owner: TestUser;
  member: TestUser;
  /** A second member, the target of removals. */
  other: TestUser;
  outsider: TestUser;
  /** Registered, not in the group: the target of additions. */
  candidate: TestUser;
}

/**
 * The authorization matrix of every group endpoint: what the owner, a member and an outsider get.
 * Each row runs against a fresh group, so one row's change cannot leak into another.
 */
describe('group endpoints: owner, member and outsider', () => {
  let server: TestServer;
  let api: ApiClient;
  let people: { owner: TestUser; member: TestUser; other: TestUser; outsider: TestUser };

  beforeAll(async () => {
    server = await startServer();
    api = apiClient(server.url);
    const [owner, member, other, outsider] = await Promise.all(
      Array.from({ length: 4 }, () => registerUser(api, 'gauth')),
    );
    if (!owner || !member || !other || !outsider) throw new Error('registration failed');
    people = { owner, member, other, outsider };
  });
  afterAll(async () => server?.close());

  async function fixture(): Promise<Fixture> {
    const candidate = await registerUser(api, 'gcand');
    const response = await api.post(
      '/api/v1/groups',
      { name: 'Matrix', memberIds: [people.member.id, people.other.id] },
      people.owner.token,
    );
    expect(response.status).toBe(201);
    return { groupId: response.body.group.id, candidate, ...people };
  }

  const callers = (f: Fixture): Record<Role, TestUser> => ({ owner: f.owner, member: f.member, outsider: f.outsider });

  const expectOutcome = (response: ApiResponse, status: number, code?: string) => {
    if (code) expectProblem(response, status, code);
    else expect(response.status, JSON.stringify(response.body)).toBe(status);
  };

  const matrix: Array<{
    endpoint: string;
    call: (f: Fixture, caller: TestUser) => Promise<ApiResponse>;
    /** Whether a successful call changes the member list. */
    mutates: boolean;
    expected: Record<Role, [number, string?]>;
  }> = [
    {
      endpoint: 'GET /groups/:groupId',
      call: (f, caller) => api.get(`/api/v1/groups/${f.groupId}`, caller.token),
      mutates: false,
      expected: { owner: [200], member: [200], outsider: [403, 'FORBIDDEN'] },
    },
    {
      endpoint: 'GET /groups/:groupId/members',
      call: (f, caller) => api.get(`/api/v1/groups/${f.groupId}/members`, caller.token),
      mutates: false,
      expected: { owner: [200], member: [200], outsider: [403, 'FORBIDDEN'] },
    },
    {
      endpoint: 'POST /groups/:groupId/members',
      call: (f, caller) => api.post(`/api/v1/groups/${f.groupId}/members`, { userId: f.candidate.id }, caller.token),
      mutates: true,
      expected: { owner: [201], member: [403, 'FORBIDDEN'], outsider: [403, 'FORBIDDEN'] },
    },
    {
      endpoint: 'DELETE /groups/:groupId/members/:otherMemberId',
      call: (f, caller) => api.delete(`/api/v1/groups/${f.groupId}/members/${f.other.id}`, caller.token),
      mutates: true,
      expected: { owner: [204], member: [403, 'FORBIDDEN'], outsider: [403, 'FORBIDDEN'] },
    },
    {
      endpoint: 'DELETE /groups/:groupId/members/:callerId (leaving)',
      call: (f, caller) => api.delete(`/api/v1/groups/${f.groupId}/members/${caller.id}`, caller.token),
      mutates: true,
      expected: { owner: [409, 'CONFLICT'], member: [204], outsider: [403, 'FORBIDDEN'] },
    },
  ];

  for (const row of matrix) {
    for (const role of ['owner', 'member', 'outsider'] as const) {
      const [status, code] = row.expected[role];
      it(`${row.endpoint} answers the ${role} ${status}${code ? ` ${code}` : ''}`, async () => {
        const f = await fixture();
        const before = (await api.get(`/api/v1/groups/${f.groupId}/members`, f.owner.token)).body.members.length;
        expectOutcome(await row.call(f, callers(f)[role]), status, code);
        // A refused request changes nothing; an accepted one changes what it should.
        const after = (await api.get(`/api/v1/groups/${f.groupId}/members`, f.owner.token)).body.members.length;
        expect(after).toBe(status < 400 && row.mutates ? before + (status === 201 ? 1 : -1) : before);
      });
    }
  }

  it('shows members the same group and member list as the owner', async () => {
    const f = await fixture();
    const asOwner = await api.get(`/api/v1/groups/${f.groupId}/members`, f.owner.token);
    const asMember = await api.get(`/api/v1/groups/${f.groupId}/members`, f.member.token);
    expect(asMember.body).toEqual(asOwner.body);
  });
});
