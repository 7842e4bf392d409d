import type { Group, GroupMember } from '../domain/types.js';
import { blocked, groupUpdated, type MemberEvent, memberEvent, type RealtimeEvent, sessionEnded } from './events.js';
import type { ChannelOwner, Hub } from './hub.js';
import type { Publisher } from './publisher.js';

/**
 * Where group settings, member and block events are published (the receiving side is in
 * fanout.ts). Every one is a stored fact: retried, and announced as a gap (resync) if given up.
 *
 * - `group.updated` is one publish on the group's channel: every member's node holds it.
 * - A member event goes on the group's channel AND on the member's own channel. The member it
 *   concerns may not hold the group's channel (yet, or any more): a user added to a group is
 *   subscribed only once their node has read the new membership, and a removed one is
 *   unsubscribed at once, so on the group's channel alone the person most concerned would be the
 *   one who never heard. Each copy is delivered to one side only (fanout.ts): the group's copy to
 *   everyone but the member, the member's copy to the member, so nobody gets it twice.
 * - A block notice goes on the blocked user's channel only: the nodes that hold their connections
 *   are the ones with presence watches to drop. A session notice likewise goes on its user's
 *   channel: the nodes holding the user's connections are the ones with sockets to re-check.
 */
export function createGroupEvents(deps: { publisher: Publisher; hub: Hub }) {
  const publish = (owner: ChannelOwner, event: RealtimeEvent) =>
    deps.publisher.publish(deps.hub.channelOf(owner), event, { retry: true });

  const memberChanged = async (type: MemberEvent['type'], member: GroupMember) => {
    const event = memberEvent(type, member);
    await Promise.all([
      publish({ kind: 'group', id: member.groupId }, event),
      publish({ kind: 'user', id: member.userId }, event),
    ]);
  };

  return {
    groupUpdated: (group: Group) => publish({ kind: 'group', id: group.id }, groupUpdated(group)),
    memberAdded: (member: GroupMember) => memberChanged('member.added', member),
    memberRemoved: (member: GroupMember) => memberChanged('member.removed', member),
    memberUpdated: (member: GroupMember) => memberChanged('member.updated', member),
    blocked: (blockerId: string, blockedId: string) =>
      publish({ kind: 'user', id: blockedId }, blocked(blockerId, blockedId)),
    sessionEnded: (userId: string, sessionId: string | null) =>
      publish({ kind: 'user', id: userId }, sessionEnded(userId, sessionId)),
  };
}

export type GroupEventPublisher = ReturnType<typeof createGroupEvents>;
