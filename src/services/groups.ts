import { notAMemberError } from '../domain/access.js';
import { AppError } from '../domain/errors.js';
import { newId, ulidTime } from '../domain/ids.js';
import type { Group, GroupMember } from '../domain/types.js';
import type { GroupRecord, GroupRepository } from '../store/groups.js';
import type { InboxRepository } from '../store/inbox.js';
import type { UserRepository } from '../store/users.js';
import type { MembershipListener, MembershipOutcome } from './ports.js';

const LOOKUP_CONCURRENCY = 16;
/** Pauses before retrying a membership write that timed out (the batch is idempotent at its timestamp). */
const WRITE_RETRY_DELAYS_MS = [100, 400];

let lastTimestamp = 0n;
/** A write timestamp in microseconds, strictly increasing in this process (two changes in one ms stay ordered). */
function writeTimestamp(): bigint {
  const now = BigInt(Date.now()) * 1000n;
  lastTimestamp = now > lastTimestamp ? now : lastTimestamp + 1n;
  return lastTimestamp;
}

/** Runs an idempotent write, again after a timeout or an unavailable store (the last failure is thrown). */
async function withRetries(write: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      const pause = WRITE_RETRY_DELAYS_MS[attempt];
      if (pause === undefined || !(error instanceof AppError) || error.code !== 'UNAVAILABLE') throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

export type { MembershipListener } from './ports.js';

/** Groups: creation, membership and the rules of who may do what. */
export function createGroupService(deps: {
  groups: GroupRepository;
  users: UserRepository;
  /**
   * Joins and leaves are the member's inbox changes (changedSince reports a joined group and a
   * left one). A group's first members need none: the group's id, minted at creation, is theirs.
   */
  inbox: Pick<InboxRepository, 'changeStatement'>;
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

  async function notify(groupId: string, userId: string, change: 'joined' | 'left', outcome: MembershipOutcome) {
    await deps.listener?.membershipChanged(groupId, userId, change, outcome).catch(() => {});
  }

  /**
   * Writes a membership change (retried after a timeout) and tells the listener whatever
   * happened: `written`, or `uncertain` when the write failed, since a write that timed out may
   * still land (and did, in a measured run, a second after its 503). Telling only on success
   * left such a member subscribed to nothing, or a removed one still reading the group, until
   * reconciliation; told "uncertain", every node re-reads Cassandra and follows what landed.
   */
  async function writeMembership(
    changes: Array<{ groupId: string; userId: string }>,
    change: 'joined' | 'left',
    write: () => Promise<void>,
  ) {
    let outcome: MembershipOutcome = 'written';
    try {
      await withRetries(write);
    } catch (error) {
      outcome = 'uncertain';
      throw error;
    } finally {
      await Promise.all(changes.map(({ groupId, userId }) => notify(groupId, userId, change, outcome)));
    }
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
      // A logged batch of many rows is heavy; write large groups in chunks (the group row in each).
      const CHUNK = 100;
      for (let i = 0; i < members.length; i += CHUNK) {
        const chunk = members.slice(i, i + CHUNK);
        await writeMembership(chunk, 'joined', () => groups.create(group, chunk));
      }
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
      // Read, then write: not a lightweight transaction, so that the member and their
      // groups_by_user row go in one batch (store/groups.ts). Two owners adding one user at the
      // same instant both get 201, for the same outcome.
      if (await groups.findMember(groupId, userId)) throw new AppError('CONFLICT', 'That user is already a member');
      const member: GroupMember = { groupId, userId, role: 'member', joinedAt: Date.now() };
      // The member's inbox change goes in the membership's own logged batch: a join that lands is
      // then never missing from changedSince, and a join that never lands reports nothing. (A
      // separate write first made a timed-out change row fail the whole request before the
      // membership was even tried.)
      const change = [deps.inbox.changeStatement(userId, groupId, newId())];
      const timestamp = writeTimestamp();
      await writeMembership([{ groupId, userId }], 'joined', () => groups.addMember(member, timestamp, change));
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
      const change = [deps.inbox.changeStatement(userId, groupId, newId())];
      const timestamp = writeTimestamp();
      await writeMembership([{ groupId, userId }], 'left', () =>
        groups.removeMember(groupId, userId, timestamp, change),
      );
    },
  };
}

export type GroupService = ReturnType<typeof createGroupService>;
