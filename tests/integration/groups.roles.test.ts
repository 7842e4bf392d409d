import { describe, expect, it } from 'vitest';
import { expectProblem, registerUser } from '../support/api.js';
import { addMember, createGroup, expectNoFrame, promote, removeMember, rolesOf, setRole } from '../support/groups.js';
import { useTwoNodes } from '../support/two-nodes.js';

/** Two real server processes sharing the one Redis and Cassandra: events must cross nodes. */
const nodes = useTwoNodes('roles');

const user = () => registerUser(nodes.apiA);

/** A group with an owner, an admin, a plain member; plus an outsider. */
async function cast() {
  const [owner, admin, member, outsider] = await Promise.all([user(), user(), user(), user()]);
  const groupId = await createGroup(nodes.apiA, owner, [admin, member]);
  await promote(nodes.apiA, groupId, admin, owner);
  return { owner, admin, member, outsider, groupId };
}

const aboutMember = (type: string, groupId: string, userId: string) => (frame: { type: string; data: any }) =>
  frame.type === type && frame.data.groupId === groupId && frame.data.member.userId === userId;

describe('adding members', () => {
  it('lets the owner and admins add, and refuses members (403), outsiders (403) and unknown groups (404)', async () => {
    const { owner, admin, member, outsider, groupId } = await cast();
    const [a, b, c] = await Promise.all([user(), user(), user()]);
    expect((await addMember(nodes.apiA, groupId, a.id, owner)).status).toBe(201);
    const byAdmin = await addMember(nodes.apiB, groupId, b.id, admin);
    expect(byAdmin.status).toBe(201);
    expect(byAdmin.body.member).toMatchObject({ userId: b.id, role: 'member' });
    expectProblem(await addMember(nodes.apiA, groupId, c.id, member), 403, 'FORBIDDEN');
    expectProblem(await addMember(nodes.apiA, groupId, c.id, outsider), 403, 'FORBIDDEN');
    expectProblem(await addMember(nodes.apiA, '01JD3W6YQ7R5S3T2V1X0Z9Y8W7', c.id, owner), 404, 'NOT_FOUND');
    expect(Object.keys(await rolesOf(nodes.apiA, groupId, owner))).not.toContain(c.id);
  });
});

describe('removing members', () => {
  it('lets the owner remove anyone else and admins remove plain members only', async () => {
    const { owner, admin, member, groupId } = await cast();
    const [second, third] = await Promise.all([user(), user()]);
    await addMember(nodes.apiA, groupId, second.id, owner);
    await addMember(nodes.apiA, groupId, third.id, owner);
    await promote(nodes.apiA, groupId, second, owner);

    expectProblem(await removeMember(nodes.apiA, groupId, owner.id, admin), 403, 'FORBIDDEN');
    expectProblem(await removeMember(nodes.apiA, groupId, second.id, admin), 403, 'FORBIDDEN');
    expectProblem(await removeMember(nodes.apiA, groupId, third.id, member), 403, 'FORBIDDEN');
    expect((await removeMember(nodes.apiB, groupId, member.id, admin)).status).toBe(204);
    expect((await removeMember(nodes.apiA, groupId, second.id, owner)).status).toBe(204);
    expect(await rolesOf(nodes.apiA, groupId, owner)).toEqual({
      [owner.id]: 'owner',
      [admin.id]: 'admin',
      [third.id]: 'member',
    });
  });

  it('lets members and admins leave, but not the owner (409) until they transfer', async () => {
    const { owner, admin, member, outsider, groupId } = await cast();
    expectProblem(await removeMember(nodes.apiA, groupId, owner.id, owner), 409, 'CONFLICT');
    expectProblem(await removeMember(nodes.apiA, groupId, member.id, outsider), 403, 'FORBIDDEN');
    expect((await removeMember(nodes.apiA, groupId, member.id, member)).status).toBe(204);
    expect((await removeMember(nodes.apiA, groupId, admin.id, admin)).status).toBe(204);
    expect(await rolesOf(nodes.apiA, groupId, owner)).toEqual({ [owner.id]: 'owner' });
  });

  it('answers 404 to a manager removing someone who is not a member', async () => {
    const { admin, outsider, groupId } = await cast();
    expectProblem(await removeMember(nodes.apiA, groupId, outsider.id, admin), 404, 'NOT_FOUND');
  });
});

describe('PATCH /groups/{groupId}/members/{userId}', () => {
  it('lets only the owner promote and demote (admin, member and outsider get 403)', async () => {
    const { owner, admin, member, outsider, groupId } = await cast();
    const promoted = await setRole(nodes.apiB, groupId, member.id, 'admin', owner);
    expect(promoted.status).toBe(200);
    expect(promoted.body.member).toMatchObject({ userId: member.id, role: 'admin' });
    expectProblem(await setRole(nodes.apiA, groupId, member.id, 'member', admin), 403, 'FORBIDDEN');
    expectProblem(await setRole(nodes.apiA, groupId, admin.id, 'member', admin), 403, 'FORBIDDEN');
    expectProblem(await setRole(nodes.apiA, groupId, member.id, 'member', outsider), 403, 'FORBIDDEN');
    const demoted = await setRole(nodes.apiA, groupId, member.id, 'member', owner);
    expect(demoted.body.member).toMatchObject({ userId: member.id, role: 'member' });
    expect(await rolesOf(nodes.apiA, groupId, member)).toEqual({
      [owner.id]: 'owner',
      [admin.id]: 'admin',
      [member.id]: 'member',
    });
  });

  it('answers the same role again with 200 and changes nothing', async () => {
    const { owner, admin, groupId } = await cast();
    const again = await setRole(nodes.apiA, groupId, admin.id, 'admin', owner);
    expect(again.status).toBe(200);
    expect(again.body.member).toMatchObject({ userId: admin.id, role: 'admin' });
  });

  it('refuses bad input with 400 and unknown targets with 404', async () => {
    const { owner, outsider, groupId } = await cast();
    expectProblem(await setRole(nodes.apiA, groupId, outsider.id, 'king', owner), 400, 'VALIDATION_FAILED');
    const extra = await nodes.apiA.request('PATCH', `/api/v1/groups/${groupId}/members/${outsider.id}`, {
      body: { role: 'admin', extra: true },
      token: owner.token,
    });
    expectProblem(extra, 400, 'VALIDATION_FAILED');
    expectProblem(await setRole(nodes.apiA, groupId, 'not-a-ulid', 'admin', owner), 400, 'VALIDATION_FAILED');
    expectProblem(await setRole(nodes.apiA, groupId, outsider.id, 'admin', owner), 404, 'NOT_FOUND');
    expectProblem(
      await setRole(nodes.apiA, '01JD3W6YQ7R5S3T2V1X0Z9Y8W7', outsider.id, 'admin', owner),
      404,
      'NOT_FOUND',
    );
  });

  it('does not let the owner step down without naming a new owner (409)', async () => {
    const { owner, groupId } = await cast();
    expectProblem(await setRole(nodes.apiA, groupId, owner.id, 'admin', owner), 409, 'CONFLICT');
    expect((await setRole(nodes.apiA, groupId, owner.id, 'owner', owner)).status).toBe(200);
  });
});

describe('ownership transfer', () => {
  it('makes the member owner and the old owner admin, with exactly one owner everywhere', async () => {
    const { owner, admin, member, groupId } = await cast();
    const transferred = await setRole(nodes.apiA, groupId, member.id, 'owner', owner);
    expect(transferred.status).toBe(200);
    expect(transferred.body.member).toMatchObject({ userId: member.id, role: 'owner' });

    // Read through the other node too: the state is Cassandra's, not a node's memory.
    for (const api of [nodes.apiA, nodes.apiB]) {
      expect(await rolesOf(api, groupId, admin)).toEqual({
        [owner.id]: 'admin',
        [admin.id]: 'admin',
        [member.id]: 'owner',
      });
      expect((await api.get(`/api/v1/groups/${groupId}`, admin.token)).body.group.ownerId).toBe(member.id);
    }
    const listed = await nodes.apiB.get('/api/v1/groups', owner.token);
    expect(listed.body.groups.find((g: { id: string }) => g.id === groupId).ownerId).toBe(member.id);
  });

  it('moves every right with it: the old owner may leave and no longer changes roles; the new one may not leave', async () => {
    const { owner, admin, member, groupId } = await cast();
    await setRole(nodes.apiA, groupId, member.id, 'owner', owner);
    expectProblem(await setRole(nodes.apiA, groupId, admin.id, 'member', owner), 403, 'FORBIDDEN');
    expectProblem(await removeMember(nodes.apiA, groupId, admin.id, owner), 403, 'FORBIDDEN');
    expectProblem(await removeMember(nodes.apiB, groupId, member.id, member), 409, 'CONFLICT');
    expect((await setRole(nodes.apiB, groupId, admin.id, 'member', member)).status).toBe(200);
    expect((await removeMember(nodes.apiA, groupId, owner.id, owner)).status).toBe(204);
    expect(await rolesOf(nodes.apiA, groupId, member)).toEqual({ [admin.id]: 'member', [member.id]: 'owner' });
  });

  it('leaves exactly one owner when the owner transfers to two members at once', async () => {
    const { owner, admin, member, groupId } = await cast();
    const answers = await Promise.all([
      setRole(nodes.apiA, groupId, admin.id, 'owner', owner),
      setRole(nodes.apiB, groupId, member.id, 'owner', owner),
    ]);
    // The second may find the caller already demoted (403), or both may pass the check at once.
    expect(answers.map((answer) => answer.status).sort()).toSatisfy(
      (statuses: number[]) => statuses[0] === 200 && [200, 403].includes(statuses[1] ?? 0),
    );
    for (const api of [nodes.apiA, nodes.apiB]) {
      const roles = await rolesOf(api, groupId, admin);
      expect(Object.values(roles).filter((role) => role === 'owner')).toHaveLength(1);
      expect(roles[owner.id]).toBe('admin');
      const ownerId = (await api.get(`/api/v1/groups/${groupId}`, admin.token)).body.group.ownerId;
      expect(roles[ownerId]).toBe('owner');
    }
  });
});

describe('member events', () => {
  it('tells every member on both nodes of a role change, and never an outsider', async () => {
    const { owner, admin, member, outsider, groupId } = await cast();
    const ownerOnA = await nodes.connect(nodes.nodeA, owner);
    const adminOnB = await nodes.connect(nodes.nodeB, admin);
    const memberOnA = await nodes.connect(nodes.nodeA, member);
    const memberOnB = await nodes.connect(nodes.nodeB, member);
    const outsiderOnB = await nodes.connect(nodes.nodeB, outsider);

    await setRole(nodes.apiA, groupId, member.id, 'admin', owner);
    for (const socket of [ownerOnA, adminOnB, memberOnA, memberOnB]) {
      const frame = await socket.waitFor(
        'member.updated',
        (d) => d.groupId === groupId && d.member.userId === member.id,
      );
      expect(frame.data.member).toMatchObject({ userId: member.id, role: 'admin' });
    }
    // Each connection gets it once, though it travels on the group's and the member's channels:
    // a later message to the member arrives after any second copy would have.
    const marker = await nodes.apiA.post('/api/v1/messages', { receiverId: member.id, content: 'marker' }, owner.token);
    await memberOnA.waitFor('message.created', (d) => d.message.id === marker.body.message.id);
    expect(memberOnA.frames.filter(aboutMember('member.updated', groupId, member.id))).toHaveLength(1);
    await expectNoFrame(
      outsiderOnB,
      'member.updated',
      (d) => d.groupId === groupId,
      async () => {
        const sent = await nodes.apiA.post(
          '/api/v1/messages',
          { receiverId: outsider.id, content: 'marker' },
          owner.token,
        );
        return { type: 'message.created', matches: (d) => d.message.id === sent.body.message.id };
      },
    );
  });

  it('announces a transfer as two member.updated events and a group.updated with the new owner', async () => {
    const { owner, admin, member, groupId } = await cast();
    const adminOnB = await nodes.connect(nodes.nodeB, admin);
    await setRole(nodes.apiA, groupId, member.id, 'owner', owner);
    const [toOwner, toAdmin, group] = await Promise.all([
      adminOnB.waitFor('member.updated', (d) => d.member.userId === member.id && d.member.role === 'owner'),
      adminOnB.waitFor('member.updated', (d) => d.member.userId === owner.id && d.member.role === 'admin'),
      adminOnB.waitFor('group.updated', (d) => d.group.id === groupId && d.group.ownerId === member.id),
    ]);
    expect(toOwner.data.groupId).toBe(groupId);
    expect(toAdmin.data.groupId).toBe(groupId);
    expect(group.data.group.memberCount).toBe(3);
  });

  it('tells the members and the newcomer of an addition, and the members and the removed of a removal', async () => {
    const { owner, admin, member, groupId } = await cast();
    const [newcomer] = await Promise.all([user()]);
    const ownerOnA = await nodes.connect(nodes.nodeA, owner);
    const memberOnB = await nodes.connect(nodes.nodeB, member);
    const newcomerOnB = await nodes.connect(nodes.nodeB, newcomer);

    await addMember(nodes.apiA, groupId, newcomer.id, admin);
    for (const socket of [ownerOnA, memberOnB, newcomerOnB]) {
      const frame = await socket.waitFor(
        'member.added',
        (d) => d.groupId === groupId && d.member.userId === newcomer.id,
      );
      expect(frame.data.member.role).toBe('member');
    }

    await removeMember(nodes.apiB, groupId, newcomer.id, admin);
    for (const socket of [ownerOnA, memberOnB, newcomerOnB]) {
      await socket.waitFor('member.removed', (d) => d.groupId === groupId && d.member.userId === newcomer.id);
    }
    expect(newcomerOnB.frames.filter(aboutMember('member.removed', groupId, newcomer.id))).toHaveLength(1);
  });

  it('shows a reconnecting client the roles as they now stand', async () => {
    const { owner, admin, member, groupId } = await cast();
    const memberOnA = await nodes.connect(nodes.nodeA, member);
    await memberOnA.close();
    await setRole(nodes.apiA, groupId, member.id, 'owner', owner);
    await removeMember(nodes.apiA, groupId, admin.id, member);
    const again = await nodes.connect(nodes.nodeB, member);
    expect(again.ready.userId).toBe(member.id);
    expect(await rolesOf(nodes.apiB, groupId, member)).toEqual({ [owner.id]: 'admin', [member.id]: 'owner' });
  });
});
