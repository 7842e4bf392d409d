import { describe, expect, it } from 'vitest';
import { expectProblem, registerUser } from '../support/api.js';
import { createGroup, expectNoFrame, patchGroup, promote } from '../support/groups.js';
import { useTwoNodes } from '../support/two-nodes.js';

/** Two real server processes sharing the one Redis and Cassandra. */
const nodes = useTwoNodes('settings');

async function cast() {
  const [owner, admin, member, outsider] = await Promise.all([
    registerUser(nodes.apiA),
    registerUser(nodes.apiA),
    registerUser(nodes.apiA),
    registerUser(nodes.apiA),
  ]);
  const groupId = await createGroup(nodes.apiA, owner, [admin, member], 'Original');
  await promote(nodes.apiA, groupId, admin, owner);
  return { owner, admin, member, outsider, groupId };
}

describe('PATCH /groups/{groupId}', () => {
  it('lets the owner rename and describe the group, and every member reads it on either node', async () => {
    const { owner, member, groupId } = await cast();
    const answer = await patchGroup(
      nodes.apiA,
      groupId,
      { name: '  Launch crew ', description: 'Ships on Fridays' },
      owner,
    );
    expect(answer.status).toBe(200);
    expect(answer.body.group).toEqual({
      id: groupId,
      name: 'Launch crew',
      description: 'Ships on Fridays',
      ownerId: owner.id,
      createdAt: expect.any(String),
      memberCount: 3,
    });
    expect((await nodes.apiB.get(`/api/v1/groups/${groupId}`, member.token)).body.group).toEqual(answer.body.group);
    const listed = await nodes.apiB.get('/api/v1/groups', member.token);
    expect(listed.body.groups.find((g: { id: string }) => g.id === groupId)).toEqual(answer.body.group);
  });

  it('lets an admin change one field and keeps the other; null clears the description', async () => {
    const { owner, admin, groupId } = await cast();
    await patchGroup(nodes.apiA, groupId, { description: 'first' }, owner);
    const renamed = await patchGroup(nodes.apiB, groupId, { name: 'Renamed' }, admin);
    expect(renamed.status).toBe(200);
    expect(renamed.body.group).toMatchObject({ name: 'Renamed', description: 'first' });
    const cleared = await patchGroup(nodes.apiA, groupId, { description: null }, admin);
    expect(cleared.body.group).toMatchObject({ name: 'Renamed', description: null });
  });

  it('refuses members and outsiders (403) and unknown groups (404), changing nothing', async () => {
    const { owner, member, outsider, groupId } = await cast();
    expectProblem(await patchGroup(nodes.apiA, groupId, { name: 'Mine now' }, member), 403, 'FORBIDDEN');
    expectProblem(await patchGroup(nodes.apiA, groupId, { name: 'Mine now' }, outsider), 403, 'FORBIDDEN');
    expectProblem(await patchGroup(nodes.apiA, '01JD3W6YQ7R5S3T2V1X0Z9Y8W7', { name: 'x' }, owner), 404, 'NOT_FOUND');
    expect((await nodes.apiA.get(`/api/v1/groups/${groupId}`, owner.token)).body.group.name).toBe('Original');
  });

  it.each([
    ['an empty body', {}],
    ['an unknown field', { name: 'ok', colour: 'red' }],
    ['a name of only whitespace', { name: '   ' }],
    ['a name over 100 characters', { name: 'n'.repeat(101) }],
    ['a description over 500 characters', { description: 'd'.repeat(501) }],
    ['an empty description (null clears it)', { description: '' }],
    ['a null name', { name: null }],
  ])('refuses %s with 400', async (_label, body) => {
    const { owner, groupId } = await cast();
    expectProblem(await patchGroup(nodes.apiA, groupId, body, owner), 400, 'VALIDATION_FAILED');
    expect((await nodes.apiA.get(`/api/v1/groups/${groupId}`, owner.token)).body.group).toMatchObject({
      name: 'Original',
      description: null,
    });
  });

  it('sends group.updated to every member on both nodes, and never to an outsider', async () => {
    const { owner, admin, member, outsider, groupId } = await cast();
    const ownerOnA = await nodes.connect(nodes.nodeA, owner);
    const adminOnB = await nodes.connect(nodes.nodeB, admin);
    const memberOnA = await nodes.connect(nodes.nodeA, member);
    const memberOnB = await nodes.connect(nodes.nodeB, member);
    const outsiderOnA = await nodes.connect(nodes.nodeA, outsider);

    const answer = await patchGroup(nodes.apiB, groupId, { description: 'news' }, admin);
    for (const socket of [ownerOnA, adminOnB, memberOnA, memberOnB]) {
      const frame = await socket.waitFor('group.updated', (d) => d.group.id === groupId);
      expect(frame.data.group).toEqual(answer.body.group);
    }
    await expectNoFrame(
      outsiderOnA,
      'group.updated',
      (d) => d.group.id === groupId,
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

  it('shows a client that was away the settings as they now stand', async () => {
    const { owner, member, groupId } = await cast();
    const away = await nodes.connect(nodes.nodeA, member);
    await away.close();
    await patchGroup(nodes.apiA, groupId, { name: 'While you were out', description: 'hello' }, owner);
    await nodes.connect(nodes.nodeB, member);
    const listed = await nodes.apiB.get('/api/v1/groups', member.token);
    expect(listed.body.groups.find((g: { id: string }) => g.id === groupId)).toMatchObject({
      name: 'While you were out',
      description: 'hello',
    });
  });
});
