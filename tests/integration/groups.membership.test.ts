import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUlid, newId, ulidTime } from '../../src/domain/ids.js';
import { type ApiClient, apiClient, expectProblem, registerUser, type TestUser } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

const MAX_MEMBERS = 4;

describe('groups and membership rules', () => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServer({ GROUP_MAX_MEMBERS: String(MAX_MEMBERS) });
    api = apiClient(server.url);
  });
  afterAll(async () => server?.close());

  const users = (count: number) => Promise.all(Array.from({ length: count }, () => registerUser(api, 'grp')));
  const createGroup = async (owner: TestUser, body: Record<string, unknown>) => {
    const response = await api.post('/api/v1/groups', body, owner.token);
    if (response.status !== 201) throw new Error(`create failed: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.group as { id: string; name: string; ownerId: string; createdAt: string; memberCount: number };
  };
  const membersOf = async (groupId: string, caller: TestUser) =>
    (await api.get(`/api/v1/groups/${groupId}/members`, caller.token)).body.members as Array<{
      userId: string;
      role: string;
      joinedAt: string;
    }>;

  describe('POST /api/v1/groups', () => {
    it('creates a group whose owner is the caller, with the listed members', async () => {
      const [owner, a, b] = (await users(3)) as [TestUser, TestUser, TestUser];
      const response = await api.post('/api/v1/groups', { name: 'Launch crew', memberIds: [a.id, b.id] }, owner.token);
      expect(response.status).toBe(201);
      const { group } = response.body;
      expect(Object.keys(group).sort()).toEqual(['createdAt', 'description', 'id', 'memberCount', 'name', 'ownerId']);
      expect(isUlid(group.id)).toBe(true);
      expect(group).toMatchObject({ name: 'Launch crew', ownerId: owner.id, memberCount: 3 });
      expect(Date.parse(group.createdAt)).toBe(ulidTime(group.id));
      const members = await membersOf(group.id, owner);
      expect(members.map((m) => [m.userId, m.role]).sort()).toEqual(
        [
          [owner.id, 'owner'],
          [a.id, 'member'],
          [b.id, 'member'],
        ].sort(),
      );
      for (const member of members) expect(member.joinedAt).toMatch(/Z$/);
      expect((await api.get(`/api/v1/groups/${group.id}`, a.token)).body.group).toEqual(group);
    });

    it('creates a group of one when memberIds is absent or lists only the caller', async () => {
      const [owner] = (await users(1)) as [TestUser];
      expect((await createGroup(owner, { name: 'Solo' })).memberCount).toBe(1);
      const withSelf = await createGroup(owner, { name: 'Solo again', memberIds: [owner.id] });
      expect(withSelf.memberCount).toBe(1);
      expect(await membersOf(withSelf.id, owner)).toEqual([
        { userId: owner.id, role: 'owner', joinedAt: expect.any(String) },
      ]);
    });

    it('accepts names of 1 and 100 characters and refuses empty, blank or longer ones', async () => {
      const [owner] = (await users(1)) as [TestUser];
      expect((await createGroup(owner, { name: 'x' })).name).toBe('x');
      expect((await createGroup(owner, { name: 'n'.repeat(100) })).name).toHaveLength(100);
      for (const name of ['', '   ', 'n'.repeat(101), 42, 'half \ud83d']) {
        const problem = expectProblem(
          await api.post('/api/v1/groups', { name }, owner.token),
          400,
          'VALIDATION_FAILED',
        );
        expect(problem.issues.map((issue: { path: string }) => issue.path)).toContain('body.name');
      }
    });

    it('answers 404 naming every unknown member id, and creates nothing', async () => {
      const [owner, known] = (await users(2)) as [TestUser, TestUser];
      const ghosts = [newId(), newId()];
      const response = await api.post(
        '/api/v1/groups',
        { name: 'Ghosts', memberIds: [known.id, ...ghosts] },
        owner.token,
      );
      const problem = expectProblem(response, 404, 'NOT_FOUND');
      for (const ghost of ghosts) expect(problem.detail).toContain(ghost);
      expect(problem.detail).not.toContain(known.id);
      const mine = await api.get('/api/v1/groups', known.token);
      expect(mine.body.groups).toEqual([]);
    });

    it('answers 400 for repeated member ids and for ids that are not ULIDs', async () => {
      const [owner, a] = (await users(2)) as [TestUser, TestUser];
      const repeated = expectProblem(
        await api.post('/api/v1/groups', { name: 'Twice', memberIds: [a.id, a.id] }, owner.token),
        400,
        'VALIDATION_FAILED',
      );
      expect(repeated.issues.map((issue: { path: string }) => issue.path)).toContain('body.memberIds');
      expectProblem(
        await api.post('/api/v1/groups', { name: 'Bad', memberIds: ['bob'] }, owner.token),
        400,
        'VALIDATION_FAILED',
      );
    });

    it(`answers 400 when the group would exceed GROUP_MAX_MEMBERS (${MAX_MEMBERS})`, async () => {
      const [owner, ...others] = (await users(MAX_MEMBERS + 1)) as TestUser[];
      if (!owner) throw new Error('no owner');
      expectProblem(
        await api.post('/api/v1/groups', { name: 'Crowd', memberIds: others.map((u) => u.id) }, owner.token),
        400,
        'VALIDATION_FAILED',
      );
      const full = await createGroup(owner, {
        name: 'Full',
        memberIds: others.slice(0, MAX_MEMBERS - 1).map((u) => u.id),
      });
      expect(full.memberCount).toBe(MAX_MEMBERS);
    });

    it('lists the groups the caller belongs to', async () => {
      const [owner, a] = (await users(2)) as [TestUser, TestUser];
      const one = await createGroup(owner, { name: 'One', memberIds: [a.id] });
      const two = await createGroup(owner, { name: 'Two' });
      const ownerGroups = (await api.get('/api/v1/groups', owner.token)).body.groups.map((g: { id: string }) => g.id);
      expect(ownerGroups.sort()).toEqual([one.id, two.id].sort());
      const memberGroups = (await api.get('/api/v1/groups', a.token)).body.groups.map((g: { id: string }) => g.id);
      expect(memberGroups).toEqual([one.id]);
    });
  });

  describe('GET /api/v1/groups/:groupId', () => {
    it('answers 404 for an unknown group', async () => {
      const [caller] = (await users(1)) as [TestUser];
      expectProblem(await api.get(`/api/v1/groups/${newId()}`, caller.token), 404, 'NOT_FOUND');
      expectProblem(await api.get(`/api/v1/groups/${newId()}/members`, caller.token), 404, 'NOT_FOUND');
    });
  });

  describe('POST /api/v1/groups/:groupId/members', () => {
    it('lets the owner add a user, who then is a member', async () => {
      const [owner, newcomer] = (await users(2)) as [TestUser, TestUser];
      const group = await createGroup(owner, { name: 'Grow' });
      const response = await api.post(`/api/v1/groups/${group.id}/members`, { userId: newcomer.id }, owner.token);
      expect(response.status).toBe(201);
      expect(response.body).toEqual({ member: { userId: newcomer.id, role: 'member', joinedAt: expect.any(String) } });
      expect((await api.get(`/api/v1/groups/${group.id}`, newcomer.token)).body.group.memberCount).toBe(2);
    });

    it('answers 409 when the user is already a member, including the owner', async () => {
      const [owner, a] = (await users(2)) as [TestUser, TestUser];
      const group = await createGroup(owner, { name: 'Again', memberIds: [a.id] });
      expectProblem(
        await api.post(`/api/v1/groups/${group.id}/members`, { userId: a.id }, owner.token),
        409,
        'CONFLICT',
      );
      expectProblem(
        await api.post(`/api/v1/groups/${group.id}/members`, { userId: owner.id }, owner.token),
        409,
        'CONFLICT',
      );
    });

    it('adds a user once when the owner adds them twice at the same time', async () => {
      const [owner, a] = (await users(2)) as [TestUser, TestUser];
      const group = await createGroup(owner, { name: 'Race' });
      const responses = await Promise.all([
        api.post(`/api/v1/groups/${group.id}/members`, { userId: a.id }, owner.token),
        api.post(`/api/v1/groups/${group.id}/members`, { userId: a.id }, owner.token),
      ]);
      // Read-then-batch (no lightweight transaction, so the member row and groups_by_user are one
      // batch): two adds racing may both answer 201, for the same single member row.
      const statuses = responses.map((r) => r.status).sort();
      expect([
        [201, 201],
        [201, 409],
      ]).toContainEqual(statuses);
      expect((await membersOf(group.id, owner)).length).toBe(2);
    });

    it('answers 404 for an unknown user and 400 for a malformed one', async () => {
      const [owner] = (await users(1)) as [TestUser];
      const group = await createGroup(owner, { name: 'Nobody' });
      const ghost = newId();
      const problem = expectProblem(
        await api.post(`/api/v1/groups/${group.id}/members`, { userId: ghost }, owner.token),
        404,
        'NOT_FOUND',
      );
      expect(problem.detail).toContain(ghost);
      expectProblem(
        await api.post(`/api/v1/groups/${group.id}/members`, { userId: 'x' }, owner.token),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(await api.post(`/api/v1/groups/${group.id}/members`, {}, owner.token), 400, 'VALIDATION_FAILED');
    });

    it('answers 404 when the group does not exist', async () => {
      const [owner, a] = (await users(2)) as [TestUser, TestUser];
      expectProblem(
        await api.post(`/api/v1/groups/${newId()}/members`, { userId: a.id }, owner.token),
        404,
        'NOT_FOUND',
      );
    });

    it(`answers 409 when the group already has GROUP_MAX_MEMBERS (${MAX_MEMBERS}) members`, async () => {
      const [owner, ...others] = (await users(MAX_MEMBERS + 1)) as TestUser[];
      if (!owner) throw new Error('no owner');
      const group = await createGroup(owner, {
        name: 'Capped',
        memberIds: others.slice(0, MAX_MEMBERS - 1).map((u) => u.id),
      });
      const last = others[MAX_MEMBERS - 1] as TestUser;
      expectProblem(
        await api.post(`/api/v1/groups/${group.id}/members`, { userId: last.id }, owner.token),
        409,
        'CONFLICT',
      );
    });
  });

  describe('DELETE /api/v1/groups/:groupId/members/:userId', () => {
    it('lets a member leave (204), after which the member has no access', async () => {
      const [owner, a] = (await users(2)) as [TestUser, TestUser];
      const group = await createGroup(owner, { name: 'Leave', memberIds: [a.id] });
      const response = await api.delete(`/api/v1/groups/${group.id}/members/${a.id}`, a.token);
      expect(response.status).toBe(204);
      expect(response.body).toBeUndefined();
      expectProblem(await api.get(`/api/v1/groups/${group.id}`, a.token), 403, 'FORBIDDEN');
      expect((await api.get('/api/v1/groups', a.token)).body.groups).toEqual([]);
      expect((await api.get(`/api/v1/groups/${group.id}`, owner.token)).body.group.memberCount).toBe(1);
    });

    it('lets the owner remove a member, who then cannot read or send in the group', async () => {
      const [owner, a, b] = (await users(3)) as [TestUser, TestUser, TestUser];
      const group = await createGroup(owner, { name: 'Remove', memberIds: [a.id, b.id] });
      // The member has been using the group, so any cache of its membership is warm.
      expect((await api.post('/api/v1/messages', { groupId: group.id, content: 'hello' }, a.token)).status).toBe(201);
      expect((await api.get(`/api/v1/messages?groupId=${group.id}`, a.token)).status).toBe(200);
      expect((await api.delete(`/api/v1/groups/${group.id}/members/${a.id}`, owner.token)).status).toBe(204);
      expectProblem(await api.get(`/api/v1/groups/${group.id}`, a.token), 403, 'FORBIDDEN');
      expectProblem(await api.get(`/api/v1/groups/${group.id}/members`, a.token), 403, 'FORBIDDEN');
      expectProblem(await api.get(`/api/v1/messages?groupId=${group.id}`, a.token), 403, 'FORBIDDEN');
      expectProblem(
        await api.post('/api/v1/messages', { groupId: group.id, content: 'still here?' }, a.token),
        403,
        'FORBIDDEN',
      );
      expectProblem(await api.get(`/api/v1/conversations/${group.id}/receipts`, a.token), 403, 'FORBIDDEN');
      const members = await membersOf(group.id, owner);
      expect(members.map((m) => m.userId).sort()).toEqual([owner.id, b.id].sort());
    });

    it('lets a removed member be added back', async () => {
      const [owner, a] = (await users(2)) as [TestUser, TestUser];
      const group = await createGroup(owner, { name: 'Return', memberIds: [a.id] });
      expect((await api.delete(`/api/v1/groups/${group.id}/members/${a.id}`, owner.token)).status).toBe(204);
      expect((await api.post(`/api/v1/groups/${group.id}/members`, { userId: a.id }, owner.token)).status).toBe(201);
      expect((await api.get(`/api/v1/groups/${group.id}`, a.token)).status).toBe(200);
    });

    it('answers 409 when the owner tries to leave', async () => {
      const [owner, a] = (await users(2)) as [TestUser, TestUser];
      const group = await createGroup(owner, { name: 'Captain', memberIds: [a.id] });
      expectProblem(await api.delete(`/api/v1/groups/${group.id}/members/${owner.id}`, owner.token), 409, 'CONFLICT');
      expect((await api.get(`/api/v1/groups/${group.id}`, owner.token)).body.group.memberCount).toBe(2);
    });

    it('answers 403 when a member tries to remove the owner or another member', async () => {
      const [owner, a, b] = (await users(3)) as [TestUser, TestUser, TestUser];
      const group = await createGroup(owner, { name: 'Mutiny', memberIds: [a.id, b.id] });
      expectProblem(await api.delete(`/api/v1/groups/${group.id}/members/${owner.id}`, a.token), 403, 'FORBIDDEN');
      expectProblem(await api.delete(`/api/v1/groups/${group.id}/members/${b.id}`, a.token), 403, 'FORBIDDEN');
      expect((await membersOf(group.id, owner)).length).toBe(3);
    });

    it('answers 404 when the owner removes someone who is not a member, or the group does not exist', async () => {
      const [owner, stranger] = (await users(2)) as [TestUser, TestUser];
      const group = await createGroup(owner, { name: 'Stranger' });
      expectProblem(
        await api.delete(`/api/v1/groups/${group.id}/members/${stranger.id}`, owner.token),
        404,
        'NOT_FOUND',
      );
      expectProblem(
        await api.delete(`/api/v1/groups/${newId()}/members/${stranger.id}`, owner.token),
        404,
        'NOT_FOUND',
      );
    });
  });
});
