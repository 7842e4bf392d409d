/**
 * The only place that spells Redis keys and channels: `<prefix>:v1:<entity>:<id>`. TTLs that
 * belong to a key live next to it. Bump the version segment when a value's format changes, so
 * old entries are simply never read again. Cache keys carry a Redis Cluster hash tag
 * (`{<id>}`) on the conversation or group they belong to, so every cache script touches one slot.
 */
export function createKeys(prefix: string) {
  const base = `${prefix}:v1`;
  return {
    /**
     * Recent-messages window of a conversation (sorted set, every score 0, so members sort by
     * their bytes): `<message id><json>` entries in id order, then `~` meta members (`~p` pending,
     * `~f0`/`~f1` filled, incomplete/complete). See cache/recent-messages.ts and cache/README.md.
     */
    recentMessages: (conversationId: string) => `${base}:recent:{${conversationId}}`,
    /** Watermarks of a conversation (hash: `u:<userId>` → `<delivered>|<read>`, `~p` pending, `~f` filled). */
    receipts: (conversationId: string) => `${base}:receipts:{${conversationId}}`,
    /** User ids of a group's members (string: JSON array). */
    groupMembers: (groupId: string) => `${base}:members:{${groupId}}`,
    /** Live connections of a user (sorted set: connection id → expiry ms); online while one is unexpired. */
    presenceConnections: (userId: string) => `${base}:presence:conns:${userId}`,
    /** Every live connection of every node (sorted set: `<userId>:<connectionId>` → expiry ms), swept for dead nodes. */
    presenceIndex: () => `${base}:presence:index`,
    /** When a user was last seen online (epoch ms as text). */
    lastSeen: (userId: string) => `${base}:presence:seen:${userId}`,
    /** Pub/sub: events for one user (direct messages, receipts, typing, membership changes). */
    userChannel: (userId: string) => `${base}:ch:user:${userId}`,
    /** Pub/sub: events of one group conversation, published once for all members. */
    groupChannel: (groupId: string) => `${base}:ch:group:${groupId}`,
    /** Pub/sub: online/offline changes of one user, for connections that subscribed to them. */
    presenceChannel: (userId: string) => `${base}:ch:presence:${userId}`,
    /**
     * Rate limits (src/limits/rate-limits.ts): rate-limiter-flexible stores each counter at
     * `<keyPrefix>:<key>`, so the policy's prefix and the subject's key are spelled apart and
     * joined by the library into `sb:v1:rl:<policy>:{<subject>}` (an integer counter with a TTL).
     * The braces make the subject the Cluster hash tag; braces inside a subject (a username from
     * an unvalidated body) are percent-escaped so they cannot move the tag.
     */
    rateLimitPrefix: (policy: string) => `${base}:rl:${policy}`,
    rateLimitKey: (subject: string) =>
      `{${subject.replace(/[%{}]/g, (char) => `%${char.charCodeAt(0).toString(16)}`)}}`,
  };
}

export type Keys = ReturnType<typeof createKeys>;

/** How long a user's last-seen time is kept after they go offline. */
export const LAST_SEEN_TTL_SECONDS = 365 * 24 * 60 * 60;
