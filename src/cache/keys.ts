/**
 * The only place that spells Redis keys and channels: `<prefix>:v1:<entity>:<id>`. TTLs that
 * belong to a key live next to it. Bump the version segment when a value's format changes, so
 * old entries are simply never read again. Every key and channel carries a Redis Cluster hash
 * tag (`{<id>}`) on the conversation, group, user (or, for a presence index, node) it belongs
 * to, so every script touches one slot and every channel lives on one shard.
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
    /**
     * Thread summaries of a conversation's fixed window (domain/threads.ts), the receipts' layout:
     * hash `u:<rootId>` → `<reply count, 10 digits>|<lastReplyId>`, `~p`, `~f`.
     */
    threadSummaries: (conversationId: string, window: number) => `${base}:threads:{${conversationId}}:${window}`,
    /** User ids of a group's members (string: JSON array). */
    groupMembers: (groupId: string) => `${base}:members:{${groupId}}`,
    /** Live connections of a user (sorted set: connection id → expiry ms); online while one is unexpired. */
    presenceConnections: (userId: string) => `${base}:presence:conns:{${userId}}`,
    /**
     * One node's live connections (sorted set: `<userId>:<connectionId>` → expiry ms), swept by
     * every node to expire a dead node's entries. Tagged by node, not user: never in a script.
     */
    presenceIndex: (nodeId: string) => `${base}:presence:index:{${nodeId}}`,
    /** The nodes that have (had) a presence index (set of node ids), so a sweeper finds every index. */
    presenceNodes: () => `${base}:presence:nodes`,
    /** When a user was last seen online (epoch ms as text). Same slot as their connections. */
    lastSeen: (userId: string) => `${base}:presence:seen:{${userId}}`,
    /** Pub/sub: events for one user (direct messages, receipts, typing, membership changes). */
    userChannel: (userId: string) => `${base}:ch:user:{${userId}}`,
    /** Pub/sub: events of one group conversation, published once for all members. */
    groupChannel: (groupId: string) => `${base}:ch:group:{${groupId}}`,
    /**
     * Pub/sub: online/offline changes of one user, for connections that subscribed to them. In
     * the user's slot: the presence scripts (one slot each) SPUBLISH on it on a cluster.
     */
    presenceChannel: (userId: string) => `${base}:ch:presence:{${userId}}`,
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
