import type { Group, GroupMember, MemberRole } from '../domain/types.js';

/** A group as clients see it (REST answers and the `group.updated` frame). */
export interface GroupJson {
  id: string;
  name: string;
  description: string | null;
  ownerId: string;
  createdAt: string;
  memberCount: number;
}

/** A member as clients see it (REST answers and the `member.*` frames). */
export interface MemberJson {
  userId: string;
  role: MemberRole;
  joinedAt: string;
}

export const toGroupJson = (group: Group): GroupJson => ({
  id: group.id,
  name: group.name,
  description: group.description,
  ownerId: group.ownerId,
  createdAt: new Date(group.createdAt).toISOString(),
  memberCount: group.memberCount,
});

export const toMemberJson = (member: GroupMember): MemberJson => ({
  userId: member.userId,
  role: member.role,
  joinedAt: new Date(member.joinedAt).toISOString(),
});
