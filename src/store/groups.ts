import type { GroupMember, MemberRole } from '../domain/types.js';
import { type Db, fromDate, type Row, type Statement, toDate } from './client.js';

const INSERT_GROUP = 'INSERT INTO groups (group_id, name, owner_id, created_at) VALUES (?, ?, ?, ?)';
const SELECT_GROUP = 'SELECT group_id, name, description, owner_id, created_at FROM groups WHERE group_id = ?';
const UPDATE_GROUP_NAME = 'UPDATE groups SET name = ? WHERE group_id = ?';
const UPDATE_GROUP_DESCRIPTION = 'UPDATE groups SET description = ? WHERE group_id = ?';
const UPDATE_GROUP_OWNER = 'UPDATE groups SET owner_id = ? WHERE group_id = ?';
const INSERT_MEMBER = 'INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)';
const INSERT_GROUP_OF_USER = 'INSERT INTO groups_by_user (user_id, group_id, role, joined_at) VALUES (?, ?, ?, ?)';
const SET_PARTITION_OWNER = 'UPDATE group_members SET owner_id = ? WHERE group_id = ?';
const UPDATE_MEMBER_ROLE = 'UPDATE group_members SET role = ? WHERE group_id = ? AND user_id = ?';
const UPDATE_GROUP_OF_USER_ROLE = 'UPDATE groups_by_user SET role = ? WHERE user_id = ? AND group_id = ?';
const SELECT_MEMBERS = 'SELECT group_id, user_id, role, joined_at, owner_id FROM group_members WHERE group_id = ?';
const SELECT_MEMBER =
  'SELECT group_id, user_id, role, joined_at, owner_id FROM group_members WHERE group_id = ? AND user_id = ?';
const SELECT_PARTITION_OWNER = 'SELECT owner_id FROM group_members WHERE group_id = ? LIMIT 1';
const COUNT_MEMBERS = 'SELECT COUNT(*) AS n FROM group_members WHERE group_id = ?';
const DELETE_MEMBER = 'DELETE FROM group_members WHERE group_id = ? AND user_id = ?';
const DELETE_GROUP_OF_USER = 'DELETE FROM groups_by_user WHERE user_id = ? AND group_id = ?';
const SELECT_GROUPS_OF_USER = 'SELECT group_id, joined_at FROM groups_by_user WHERE user_id = ?';

export interface GroupRecord {
  id: string;
  name: string;
  description: string | null;
  ownerId: string;
  createdAt: number;
}

/** Settings a PATCH changes: absent fields stay; a null description clears it. */
export interface GroupSettings {
  name?: string | undefined;
  description?: string | null | undefined;
}

/**
 * Whether a row is a membership. A role change is an UPDATE of the role cell; racing a removal
 * (an admin removes the member while the owner promotes them, the promotion's timestamp later),
 * it leaves the role cell alone above the removal's tombstone: a row without joined_at, which is
 * the remains of that race and no membership (reading it as one would bring the removed member
 * back with no join time).
 */
const isMembership = (row: Row): boolean => row.joined_at !== null && row.joined_at !== undefined;

/**
 * A member row as clients see it. Ownership is the partition's static `owner_id` (cql/0016):
 * the row it names is the owner, and a row whose role column still says 'owner' while another
 * user holds the cell (two transfers raced, each writing its own new owner's row) reads as
 * admin. Groups from before 0016 have no cell: their role column is the truth.
 */
const toMember = (row: Row): GroupMember | undefined => {
  if (!isMembership(row)) return undefined;
  const owner: string | null = row.owner_id ?? null;
  const stored = row.role as MemberRole;
  const role: MemberRole =
    owner === null ? stored : row.user_id === owner ? 'owner' : stored === 'owner' ? 'admin' : stored;
  return { groupId: row.group_id, userId: row.user_id, role, joinedAt: fromDate(row.joined_at) };
};

/** Groups, their members, and each user's groups (a denormalized copy written with them). */
export function createGroupRepository(db: Db) {
  const memberWrites = (member: GroupMember) => [
    { query: INSERT_MEMBER, params: [member.groupId, member.userId, member.role, toDate(member.joinedAt)] },
    { query: INSERT_GROUP_OF_USER, params: [member.userId, member.groupId, member.role, toDate(member.joinedAt)] },
  ];

  const roleWrites = (groupId: string, userId: string, role: MemberRole): Statement[] => [
    { query: UPDATE_MEMBER_ROLE, params: [role, groupId, userId] },
    { query: UPDATE_GROUP_OF_USER_ROLE, params: [role, userId, groupId] },
  ];

  return {
    /** Creates a group with its first members in one logged batch: all of it or none. */
    async create(group: GroupRecord, members: GroupMember[]): Promise<void> {
      await db.batch(
        [
          { query: INSERT_GROUP, params: [group.id, group.name, group.ownerId, toDate(group.createdAt)] },
          { query: SET_PARTITION_OWNER, params: [group.ownerId, group.id] },
          ...members.flatMap(memberWrites),
        ],
        { logged: true, idempotent: true },
      );
    },

    async findById(groupId: string): Promise<GroupRecord | undefined> {
      const row = (await db.execute(SELECT_GROUP, [groupId], { idempotent: true })).first();
      return row
        ? {
            id: row.group_id,
            name: row.name,
            description: row.description ?? null,
            ownerId: row.owner_id,
            createdAt: fromDate(row.created_at),
          }
        : undefined;
    },

    /**
     * The owner as the member partition's static cell says (undefined for groups from before
     * cql/0016, whose groups row is right: nothing before it could transfer), which is what
     * authorization reads (one row); the groups row's owner_id is a copy that lands in the same
     * logged batch but in another partition, so for a moment after a transfer it may lag.
     */
    async findOwnerId(groupId: string): Promise<string | undefined> {
      const row = (await db.execute(SELECT_PARTITION_OWNER, [groupId], { idempotent: true })).first();
      return row?.owner_id ?? undefined;
    },

    /** Writes the settings given (one partition, the groups row). */
    async updateSettings(groupId: string, settings: GroupSettings): Promise<void> {
      const writes: Statement[] = [];
      if (settings.name !== undefined) writes.push({ query: UPDATE_GROUP_NAME, params: [settings.name, groupId] });
      if (settings.description !== undefined) {
        writes.push({ query: UPDATE_GROUP_DESCRIPTION, params: [settings.description, groupId] });
      }
      if (writes.length === 0) return;
      await db.batch(writes, { logged: false, idempotent: true });
    },

    /** Sets a non-owner's role (admin or member) on both copies of their membership, in one logged batch. */
    async setRole(groupId: string, userId: string, role: Exclude<MemberRole, 'owner'>, timestamp: bigint) {
      await db.batch(roleWrites(groupId, userId, role), { logged: true, idempotent: true, timestamp });
    },

    /**
     * Hands ownership from `fromId` to `toId`, who becomes owner while `fromId` becomes admin.
     * One logged batch: the static owner cell and both member rows are ONE partition, so they
     * change together and in isolation: a reader of group_members (every authorization check)
     * sees the old owner or the new one, never both and never neither. The other partitions (the
     * groups row's owner_id, both groups_by_user rows) are copies: the batch log makes them land
     * too once the batch is accepted, even if this node dies right after; a batch refused before
     * the log is written changes nothing. The fixed timestamp makes a retry after a timeout a
     * no-op rather than a later write over a newer change.
     */
    async transferOwnership(groupId: string, fromId: string, toId: string, timestamp: bigint): Promise<void> {
      await db.batch(
        [
          { query: SET_PARTITION_OWNER, params: [toId, groupId] },
          ...roleWrites(groupId, toId, 'owner'),
          ...roleWrites(groupId, fromId, 'admin'),
          { query: UPDATE_GROUP_OWNER, params: [toId, groupId] },
        ],
        { logged: true, idempotent: true, timestamp },
      );
    },

    async findMember(groupId: string, userId: string): Promise<GroupMember | undefined> {
      const row = (await db.execute(SELECT_MEMBER, [groupId, userId], { idempotent: true })).first();
      return row ? toMember(row) : undefined;
    },

    async listMembers(groupId: string): Promise<GroupMember[]> {
      return (await db.all(SELECT_MEMBERS, [groupId])).flatMap((row) => toMember(row) ?? []);
    },

    async countMembers(groupId: string): Promise<number> {
      const row = (await db.execute(COUNT_MEMBERS, [groupId], { idempotent: true })).first();
      return Number(row?.n ?? 0);
    },

    /**
     * Writes a member and their groups_by_user row in one logged batch at `timestamp`
     * (microseconds): both land or neither, so a group is never missing from a member's list.
     * Before, a lightweight transaction on group_members was followed by a separate insert into
     * groups_by_user: a transaction that timed out but landed (or a node dying in between) left a
     * member whose groups never listed the group, and whose sockets never got its messages. The
     * fixed timestamp makes a retry after a timeout a true no-op: it cannot undo a removal made
     * after the first attempt. The caller checks membership first (see services/groups.ts).
     * `alongside`: other denormalized rows of the same change (the member's inbox change), in the
     * same batch, so they too land exactly when the membership does.
     */
    async addMember(member: GroupMember, timestamp: bigint, alongside: Statement[] = []): Promise<void> {
      await db.batch([...memberWrites(member), ...alongside], { logged: true, idempotent: true, timestamp });
    },

    /** Removes a member and their groups_by_user row in one logged batch at `timestamp` (as addMember). */
    async removeMember(groupId: string, userId: string, timestamp: bigint, alongside: Statement[] = []): Promise<void> {
      await db.batch(
        [
          { query: DELETE_MEMBER, params: [groupId, userId] },
          { query: DELETE_GROUP_OF_USER, params: [userId, groupId] },
          ...alongside,
        ],
        { logged: true, idempotent: true, timestamp },
      );
    },

    async listGroupIdsOfUser(userId: string): Promise<string[]> {
      return (await db.all(SELECT_GROUPS_OF_USER, [userId])).filter(isMembership).map((row) => row.group_id as string);
    },
  };
}

export type GroupRepository = ReturnType<typeof createGroupRepository>;
