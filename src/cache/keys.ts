/**
 * The only place that spells Redis keys and channels: `<prefix>:v1:<entity>:<id>`. TTLs that
 * belong to a key live next to it. Bump the version segment when a value's format changes, so
 * old entries are simply never read again.
 */
export function createKeys(prefix: string) {
  const base = `${prefix}:v1`;
  return {
    /** Recent messages window of a conversation (sorted set by id). */
    recentMessages: (conversationId: string) => `${base}:recent:${conversationId}`,
    /** Watermarks of a conversation's participants. */
    receipts: (conversationId: string) => `${base}:receipts:${conversationId}`,
    /** User ids of a group's members. */
    groupMembers: (groupId: string) => `${base}:members:${groupId}`,
    /** Public profile of a user. */
    user: (userId: string) => `${base}:user:${userId}`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
