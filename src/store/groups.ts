import type { GroupMember, MemberRole } from '../domain/types.js';
import { type Db, fromDate, type Row, type Statement, toDate } from './client.js';

const INSERT_GROUP = 'INSERT INTO groups (group_id, name, owner_id, created_at) VALUES (?, ?, ?, ?)';
const SELECT_GROUP = 'SELECT group_id, name, owner_id, created_at FROM groups WHERE group_id = ?';
const INSERT_MEMBER = 'INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)';
const INSERT_GROUP_OF_USER = 'INSERT INTO groups_by_user (user_id, group_id, role, joined_at) VALUES (?, ?, ?, ?)';
const SELECT_MEMBERS = 'SELECT group_id, user_id, role, joined_at FROM group_members WHERE group_id = ?';
const SELECT_MEMBER = 'SELECT group_id, user_id, role, joined_at FROM group_members WHERE group_id = ? AND user_id = ?';
const COUNT_MEMBERS = 'SELECT COUNT(*) AS n FROM group_members WHERE group_id = ?';
const DELETE_MEMBER = 'DELETE FROM group_members WHERE group_id = ? AND user_id = ?';
const DELETE_GROUP_OF_USER = 'DELETE FROM groups_by_user WHERE user_id = ? AND group_id = ?';
const SELECT_GROUPS_OF_USER = 'SELECT group_id FROM groups_by_user WHERE user_id = ?';

export interface GroupRecord {
  id: string;
  name: string;
  ownerId: string;
  createdAt: number;
}

const toMember = (row: Row): GroupMember => ({
  groupId: row.group_id,
  userId: row.user_id,
  role: row.role as MemberRole,
  joinedAt: fromDate(row.joined_at),
});

/** Groups, their members, and each user's groups (a denormalized copy written with them). */
export function createGroupRepository(db: Db) {
  const memberWrites = (member: GroupMember) => [
    { query: INSERT_MEMBER, params: [member.groupId, member.userId, member.role, toDate(member.joinedAt)] },
    { query: INSERT_GROUP_OF_USER, params: [member.userId, member.groupId, member.role, toDate(member.joinedAt)] },
  ];

  return {
    /** Creates a group with its first members in one logged batch: all of it or none. */
    async create(group: GroupRecord, members: GroupMember[]): Promise<void> {
      await db.batch(
        [
          { query: INSERT_GROUP, params: [group.id, group.name, group.ownerId, toDate(group.createdAt)] },
          ...members.flatMap(memberWrites),
        ],
        { logged: true, idempotent: true },
      );
    },

    async findById(groupId: string): Promise<GroupRecord | undefined> {
      const row = (await db.execute(SELECT_GROUP, [groupId], { idempotent: true })).first();
      return row
        ? { id: row.group_id, name: row.name, ownerId: row.owner_id, createdAt: fromDate(row.created_at) }
        : undefined;
    },

    async findMember(groupId: string, userId: string): Promise<GroupMember | undefined> {
      const row = (await db.execute(SELECT_MEMBER, [groupId, userId], { idempotent: true })).first();
      return row ? toMember(row) : undefined;
    },

    async listMembers(groupId: string): Promise<GroupMember[]> {
      return (await db.all(SELECT_MEMBERS, [groupId])).map(toMember);
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
      return (await db.all(SELECT_GROUPS_OF_USER, [userId])).map((row) => row.group_id as string);
    },
  };
}

export type GroupRepository = ReturnType<typeof createGroupRepository>;
