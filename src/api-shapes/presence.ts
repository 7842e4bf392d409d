import type { Presence } from '../domain/types.js';

/** A user's presence as the store reads it (epoch ms). */
export type PresenceRecord = Presence;

/** The same as clients see it (REST `GET /presence` and the `presence` frame). */
export interface PresenceJson {
  userId: string;
  status: 'online' | 'offline';
  /** ISO-8601; null while online or if the user was never seen. */
  lastSeenAt: string | null;
}

export const toPresenceJson = (presence: PresenceRecord): PresenceJson => ({
  userId: presence.userId,
  status: presence.status,
  lastSeenAt: presence.lastSeenAt === null ? null : new Date(presence.lastSeenAt).toISOString(),
});
