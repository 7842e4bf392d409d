import { notAMemberError } from '../domain/access.js';
import { AppError } from '../domain/errors.js';
import { requireAddRight, requireRemoveRight, requireRoleRight, requireSettingsRight } from '../domain/group-roles.js';
import { newId, ulidTime } from '../domain/ids.js';
import type { Group, GroupMember, MemberRole } from '../domain/types.js';
import { writeTimestamp } from '../domain/write-timestamp.js';
import type { GroupRecord, GroupRepository, GroupSettings } from '../store/groups.js';
import type { InboxRepository } from '../store/inbox.js';
import type { UserRepository } from '../store/users.js';
import type { BlockChecks, GroupEvents, MembershipListener, MembershipOutcome } from './ports.js';

const LOOKUP_CONCURRENCY = 16;
/** Pauses before retrying a membership write that timed out (the batch is idempotent at its timestamp). */
const WRITE_RETRY_DELAYS_MS = [100, 400];

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
  /** group.updated and member.* events (best effort). */
  events?: GroupEvents | undefined;
  /** Someone who blocked the caller cannot be added by them to a group. */
  blocks?: Pick<BlockChecks, 'blockersAmong'> | undefined;
}) {
  const { groups, users } = deps;

  /** Events after the write succeeded; a failed publish is the real-time layer's to announce (resync). */
  async function emit(publish: ((events: GroupEvents) => Promise<void>) | undefined) {
    if (deps.events && publish) await publish(deps.events).catch(() => {});
  }

  /**
   * 403 when one of `userIds` has blocked the caller. The refusal names nobody: someone building
   * a group learns that one of the people they listed declined, not who (they may ask in turn).
   */
  async function refuseBlockers(callerId: string, userIds: readonly string[]) {
    if (!deps.blocks || userIds.length === 0) return;
    if ((await deps.blocks.blockersAmong(callerId, userIds)).size > 0) {
      throw new AppError('FORBIDDEN', 'You cannot add a user who has blocked you');
    }
  }

  const withCount = async (record: GroupRecord): Promise<Group> => ({
    ...record,
    memberCount: await groups.countMembers(record.id),
  });

  /**
   * The group with its owner as the member partition says (the static cell authorization reads),
   * not the groups row's copy, which lags a transfer by the time its logged batch takes to land
   * everywhere: a client reading the group right after a transfer must not see the old owner
   * while the member list shows the new one.
   */
  const withOwnerAndCount = async (record: GroupRecord): Promise<Group> => {
    const [ownerId, memberCount] = await Promise.all([groups.findOwnerId(record.id), groups.countMembers(record.id)]);
    return { ...record, ownerId: ownerId ?? record.ownerId, memberCount };
  };

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
      await refuseBlockers(callerId, others);
      // createdAt is the time inside the id, as for messages: one clock reading, never two.
      const id = newId();
      const now = ulidTime(id);
      const group: GroupRecord = { id, name: input.name, description: null, ownerId: callerId, createdAt: now };
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
      return withOwnerAndCount(group);
    },

    /** PATCH /groups/{groupId}: name and/or description, by the owner or an admin. */
    async updateSettings(callerId: string, groupId: string, settings: GroupSettings): Promise<Group> {
      const { member } = await requireMembership(callerId, groupId);
      requireSettingsRight(member.role);
      await withRetries(() => groups.updateSettings(groupId, settings));
      // Read back rather than merged in memory: two admins changing name and description at
      // once each answer with (and announce) the group as it now stands, both fields included.
      const updated = await groups.findById(groupId);
      if (!updated) throw new AppError('NOT_FOUND', `Group ${groupId} does not exist`);
      const group = await withOwnerAndCount(updated);
      await emit((events) => events.groupUpdated(group));
      return group;
    },

    /**
     * PATCH /groups/{groupId}/members/{userId} `{ role }`, by the owner only. `owner` transfers
     * ownership (the old owner becomes admin); the same role again is a no-op answered 200.
     */
    async updateRole(callerId: string, groupId: string, userId: string, role: MemberRole): Promise<GroupMember> {
      const { member: caller } = await requireMembership(callerId, groupId);
      const self = userId === callerId;
      requireRoleRight(caller.role, self, role);
      const target = self ? caller : await groups.findMember(groupId, userId);
      if (!target) throw new AppError('NOT_FOUND', `User ${userId} is not a member of this group`);
      if (target.role === role) return target;
      const timestamp = writeTimestamp();
      if (role !== 'owner') {
        await withRetries(() => groups.setRole(groupId, userId, role, timestamp));
        const updated: GroupMember = { ...target, role };
        await emit((events) => events.memberUpdated(updated));
        return updated;
      }
      await withRetries(() => groups.transferOwnership(groupId, callerId, userId, timestamp));
      const owner: GroupMember = { ...target, role: 'owner' };
      const former: GroupMember = { ...caller, role: 'admin' };
      const group = await groups.findById(groupId);
      await emit(async (events) => {
        await Promise.all([events.memberUpdated(owner), events.memberUpdated(former)]);
        if (group) await events.groupUpdated(await withOwnerAndCount(group));
      });
      return owner;
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
      const { member: caller } = await requireMembership(callerId, groupId);
      requireAddRight(caller.role);
      if (!(await users.findById(userId))) throw new AppError('NOT_FOUND', `User ${userId} does not exist`);
      await refuseBlockers(callerId, [userId]);
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
      await emit((events) => events.memberAdded(member));
      return member;
    },

    async removeMember(callerId: string, groupId: string, userId: string): Promise<void> {
      const { member: caller } = await requireMembership(callerId, groupId);
      const self = userId === callerId;
      // Members may only leave: a member asking to remove someone else is refused before we
      // say whether that someone is in the group.
      if (!self && caller.role === 'member') requireRemoveRight(caller.role, 'member', false);
      const target = self ? caller : await groups.findMember(groupId, userId);
      if (!target) throw new AppError('NOT_FOUND', `User ${userId} is not a member of this group`);
      requireRemoveRight(caller.role, target.role, self);
      const change = [deps.inbox.changeStatement(userId, groupId, newId())];
      const timestamp = writeTimestamp();
      await writeMembership([{ groupId, userId }], 'left', () =>
        groups.removeMember(groupId, userId, timestamp, change),
      );
      await emit((events) => events.memberRemoved(target));
    },
  };
}

export type GroupService = ReturnType<typeof createGroupService>;
