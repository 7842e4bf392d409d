import { notAMemberError } from '../domain/access.js';
import { AppError } from '../domain/errors.js';
import { newId, ulidTime } from '../domain/ids.js';
import type { Group, GroupMember } from '../domain/types.js';
import type { GroupRecord, GroupRepository } from '../store/groups.js';
import type { InboxRepository } from '../store/inbox.js';
import type { UserRepository } from '../store/users.js';
import type { MembershipListener } from './ports.js';

const LOOKUP_CONCURRENCY = 16;

export type { MembershipListener } from './ports.js';

/** Groups: creation, membership and the rules of who may do what. */
export function createGroupService(deps: {
  groups: GroupRepository;
  users: UserRepository;
  /**
   * Joins and leaves are the member's inbox changes (changedSince reports a joined group and a
   * left one). A group's first members need none: the group's id, minted at creation, is theirs.
   */
  inbox: Pick<InboxRepository, 'recordChange'>;
  maxMembers: number;
  listener?: MembershipListener;
}) {
  const { groups, users } = deps;

  const withCount = async (record: GroupRecord): Promise<Group> => ({
    ...record,
    memberCount: await groups.countMembers(record.id),
  });

  async function requireGroup(groupId: string): Promise<GroupRecord> {
    const group = await groups.findById(groupId);
    if (!group) throw new AppError('NOT_FOUND', `Group ${groupId} does not exist`);
    return group;
  }

  /** The group, if the caller is a member; 404 for an unknown group, 403 for an outsider. */
  async function requireMembership(callerId: string, groupId: string) {
    const [group, member] = await Promise.all([groups.findById(groupId), groups.findMember(groupId, callerId)]);
    if (!group || !member) throw notAMemberError(groupId, group !== undefined);
    return { group, member };
  }

  async function notify(groupId: string, userId: string, change: 'joined' | 'left') {
    await deps.listener?.membershipChanged(groupId, userId, change).catch(() => {});
  }

  return {
    async create(callerId: string, input: { name: string; memberIds?: string[] | undefined }): Promise<Group> {
      const others = [...new Set(input.memberIds ?? [])].filter((id) => id !== callerId);
      if (others.length + 1 > deps.maxMembers) {
        throw new AppError('VALIDATION_FAILED', `A group holds at most ${deps.maxMembers} members`, {
          issues: [{ path: 'memberIds', message: `at most ${deps.maxMembers - 1} besides the owner` }],
        });
      }
      const found = new Set((await users.findManyByIds(others)).map((user) => user.id));
      const unknown = others.filter((id) => !found.has(id));
      if (unknown.length > 0) throw new AppError('NOT_FOUND', `Unknown users: ${unknown.join(', ')}`);
      // createdAt is the time inside the id, as for messages: one clock reading, never two.
      const id = newId();
      const now = ulidTime(id);
      const group: GroupRecord = { id, name: input.name, ownerId: callerId, createdAt: now };
      const members: GroupMember[] = [
        { groupId: group.id, userId: callerId, role: 'owner', joinedAt: now },
        ...others.map((userId): GroupMember => ({ groupId: group.id, userId, role: 'member', joinedAt: now })),
      ];
      // A logged batch of many rows is heavy; write large groups in chunks (the group row first).
      const CHUNK = 100;
      await groups.create(group, members.slice(0, CHUNK));
      for (let i = CHUNK; i < members.length; i += CHUNK) {
        await groups.create(group, members.slice(i, i + CHUNK));
      }
      await Promise.all(members.map((member) => notify(group.id, member.userId, 'joined')));
      return { ...group, memberCount: members.length };
    },

    async get(callerId: string, groupId: string): Promise<Group> {
      const { group } = await requireMembership(callerId, groupId);
      return withCount(group);
    },

    async listMembers(callerId: string, groupId: string): Promise<GroupMember[]> {
      await requireMembership(callerId, groupId);
      return groups.listMembers(groupId);
    },

    async listForUser(callerId: string): Promise<Group[]> {
      const ids = await groups.listGroupIdsOfUser(callerId);
      // A few lookups at a time: a user in thousands of groups must not exhaust the driver's pool.
      const found: Group[] = [];
      for (let i = 0; i < ids.length; i += LOOKUP_CONCURRENCY) {
        const records = await Promise.all(ids.slice(i, i + LOOKUP_CONCURRENCY).map((id) => groups.findById(id)));
        const existing = records.filter((record): record is GroupRecord => record !== undefined);
        found.push(...(await Promise.all(existing.map(withCount))));
      }
      return found;
    },

    async addMember(callerId: string, groupId: string, userId: string): Promise<GroupMember> {
      const group = await requireGroup(groupId);
      if (group.ownerId !== callerId) {
        const caller = await groups.findMember(groupId, callerId);
        throw new AppError('FORBIDDEN', caller ? 'Only the owner adds members' : 'You are not a member of this group');
      }
      if (!(await users.findById(userId))) throw new AppError('NOT_FOUND', `User ${userId} does not exist`);
      if ((await groups.countMembers(groupId)) >= deps.maxMembers) {
        throw new AppError('CONFLICT', `The group already has the maximum of ${deps.maxMembers} members`);
      }
      const member: GroupMember = { groupId, userId, role: 'member', joinedAt: Date.now() };
      // Before the membership, as every inbox change: a join that lands is then never missing
      // from changedSince (a refused one costs a conversation reported as changed for nothing).
      await deps.inbox.recordChange(userId, groupId, newId());
      if (!(await groups.addMember(member))) throw new AppError('CONFLICT', 'That user is already a member');
      await notify(groupId, userId, 'joined');
      return member;
    },

    async removeMember(callerId: string, groupId: string, userId: string): Promise<void> {
      const group = await requireGroup(groupId);
      const caller = await groups.findMember(groupId, callerId);
      if (!caller) throw new AppError('FORBIDDEN', 'You are not a member of this group');
      const isOwner = group.ownerId === callerId;
      if (userId === callerId && isOwner) {
        throw new AppError('CONFLICT', 'The owner cannot leave the group');
      }
      if (userId !== callerId && !isOwner) throw new AppError('FORBIDDEN', 'Only the owner removes other members');
      if (!(await groups.findMember(groupId, userId))) {
        throw new AppError('NOT_FOUND', `User ${userId} is not a member of this group`);
      }
      await deps.inbox.recordChange(userId, groupId, newId());
      await groups.removeMember(groupId, userId);
      await notify(groupId, userId, 'left');
    },
  };
}

export type GroupService = ReturnType<typeof createGroupService>;
