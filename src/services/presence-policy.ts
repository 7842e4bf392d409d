import { AppError } from '../domain/errors.js';
import type { ConversationRepository } from '../store/conversations.js';
import type { GroupRepository } from '../store/groups.js';
import type { BlockChecks } from './ports.js';

export type PresenceVisibility = 'shared' | 'everyone';

/** Target users whose groups one check reads at once. */
const READ_CONCURRENCY = 8;

/**
 * Who may see whose presence (PRESENCE_VISIBILITY). With `shared`, the default, a user sees
 * the presence of themselves and of the users they share a conversation with: a one-to-one
 * conversation (one with at least one message) or a group. Presence tells when someone is
 * awake and active; with `everyone`, any signed-in stranger who learns a user id could track
 * that, which is why it is not the default.
 *
 * Cost of one check: the viewer's one-to-one peers and groups (two one-partition reads), then
 * one partition read (the target's groups) per target that is not already a one-to-one peer.
 * The check runs when presence is read or watched; a watch already granted is not withdrawn
 * when the two later stop sharing a conversation (it ends with the connection).
 *
 * Whatever the visibility, a user who blocked the viewer is hidden from them: one more
 * partition read per check (blocked_by_user, `IN` the targets, so at most one row per target).
 * A watch granted before the block is dropped by the block's notice (realtime/group-events.ts).
 * The refusal reads as any other "not visible", so it does not tell the viewer they were blocked.
 */
export function createPresencePolicy(deps: {
  visibility: PresenceVisibility;
  groups: Pick<GroupRepository, 'listGroupIdsOfUser'>;
  conversations: Pick<ConversationRepository, 'listDirect'>;
  blocks?: Pick<BlockChecks, 'blockersAmong'> | undefined;
}) {
  async function visibleTo(viewerId: string, userIds: readonly string[]): Promise<Set<string>> {
    const visible = await sharedWith(viewerId, userIds);
    const others = [...visible].filter((id) => id !== viewerId);
    if (!deps.blocks || others.length === 0) return visible;
    for (const blocker of await deps.blocks.blockersAmong(viewerId, others)) visible.delete(blocker);
    return visible;
  }

  /** The users the viewer may see by PRESENCE_VISIBILITY alone (before blocks). */
  async function sharedWith(viewerId: string, userIds: readonly string[]): Promise<Set<string>> {
    const wanted = [...new Set(userIds)];
    if (deps.visibility === 'everyone') return new Set(wanted);
    const visible = new Set(wanted.filter((id) => id === viewerId));
    let pending = wanted.filter((id) => !visible.has(id));
    if (pending.length === 0) return visible;
    const [direct, viewerGroups] = await Promise.all([
      deps.conversations.listDirect(viewerId),
      deps.groups.listGroupIdsOfUser(viewerId),
    ]);
    for (const { peerId } of direct) if (pending.includes(peerId)) visible.add(peerId);
    pending = pending.filter((id) => !visible.has(id));
    if (viewerGroups.length === 0) return visible;
    const mine = new Set(viewerGroups);
    for (let i = 0; i < pending.length; i += READ_CONCURRENCY) {
      const batch = pending.slice(i, i + READ_CONCURRENCY);
      const groupsOf = await Promise.all(batch.map((id) => deps.groups.listGroupIdsOfUser(id)));
      batch.forEach((id, index) => {
        if (groupsOf[index]?.some((groupId) => mine.has(groupId))) visible.add(id);
      });
    }
    return visible;
  }

  return {
    visibleTo,

    /** Throws FORBIDDEN naming the users whose presence the viewer may not see. */
    async assertVisible(viewerId: string, userIds: readonly string[]): Promise<void> {
      const visible = await visibleTo(viewerId, userIds);
      const hidden = [...new Set(userIds)].filter((id) => !visible.has(id));
      if (hidden.length === 0) return;
      throw new AppError('FORBIDDEN', 'You may see the presence only of users you share a conversation with', {
        issues: hidden.slice(0, 20).map((id) => ({ path: 'userIds', message: `no shared conversation with ${id}` })),
      });
    },
  };
}

export type PresencePolicy = ReturnType<typeof createPresencePolicy>;
