/** Domain shapes shared by services, HTTP and WebSocket layers. Times are epoch milliseconds. */

export interface User {
  id: string;
  username: string;
  displayName: string;
  createdAt: number;
}

export interface Group {
  id: string;
  name: string;
  ownerId: string;
  /** Free text set by the owner or an admin; null until set (and after it is cleared). */
  description: string | null;
  createdAt: number;
  memberCount: number;
}

/** owner: exactly one per group; admin: manages members and settings; member: reads, sends, leaves. */
export type MemberRole = 'owner' | 'admin' | 'member';

export interface GroupMember {
  groupId: string;
  userId: string;
  role: MemberRole;
  joinedAt: number;
}

export type MessageStatus = 'sent' | 'delivered' | 'read';

/** A stored message. `createdAt` is the time inside its ULID id. */
export interface StoredMessage {
  id: string;
  conversationId: string;
  senderId: string;
  receiverId: string | null;
  groupId: string | null;
  content: string;
  createdAt: number;
  clientTimestamp: number | null;
}

export interface Message extends StoredMessage {
  status: MessageStatus;
}

/** A participant's position in a conversation: everything up to these ids is delivered / read. */
export interface Receipt {
  conversationId: string;
  userId: string;
  deliveredUpTo: string | null;
  readUpTo: string | null;
}

/** A user's presence: online while one of their connections is live on some node. */
export interface Presence {
  userId: string;
  status: 'online' | 'offline';
  /** Epoch ms; null while online or when never seen. */
  lastSeenAt: number | null;
}
