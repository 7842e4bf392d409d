import type { ErrorCode, Group, GroupMember, Message, Presence, Receipt } from './types.js';

/**
 * The WebSocket frames (src/ws/README.md; AsyncAPI at /api/v1/asyncapi.json), typed over the
 * REST schemas they carry. tests/unit/client.frames.test.ts fails when the server's list of
 * frame types (src/asyncapi.ts) and KNOWN_SERVER_FRAMES differ. A type this SDK does not know
 * still reaches `on('event')`.
 */
export type ServerFrame =
  | { type: 'ready'; data: { userId: string; connectionId: string; heartbeatMs: number } }
  | { type: 'resync'; data: { reason: string } }
  | { type: 'settled'; data: Record<string, never> }
  | { type: 'message.created'; data: { message: Message } }
  | { type: 'message.updated'; data: { message: Message } }
  | { type: 'message.deleted'; data: { message: Message } }
  | { type: 'reaction.updated'; data: ReactionUpdate }
  | { type: 'message.status'; data: Receipt }
  | { type: 'group.updated'; data: { group: Group } }
  | { type: 'member.added' | 'member.removed' | 'member.updated'; data: { groupId: string; member: GroupMember } }
  | { type: 'presence'; data: Presence }
  | { type: 'typing'; data: TypingEvent }
  | { type: 'pong'; data?: unknown }
  | { type: 'error'; data: FrameError };

export const KNOWN_SERVER_FRAMES = [
  'ready',
  'resync',
  'settled',
  'message.created',
  'message.updated',
  'message.deleted',
  'reaction.updated',
  'message.status',
  'group.updated',
  'member.added',
  'member.removed',
  'member.updated',
  'presence',
  'typing',
  'pong',
  'error',
] as const satisfies ReadonlyArray<ServerFrame['type']>;

/** `userId` gave (`added`) or took back `emoji` on a message; `count`: how many give it now. */
export interface ReactionUpdate {
  conversationId: string;
  messageId: string;
  /** The thread the message is a reply in (its root's id), so a client knows which timeline to update; null in the main history. */
  threadId: string | null;
  emoji: string;
  count: number;
  userId: string;
  added: boolean;
}

export interface TypingEvent {
  conversationId: string;
  userId: string;
}

/** The server refused a frame this client sent; the connection stays open. */
export interface FrameError {
  code: ErrorCode;
  detail: string;
  issues?: Array<{ path: string; message: string }>;
  id?: string;
  retryAfterMs?: number;
}

export type ClientFrame =
  | { type: 'ack' | 'read'; data: { conversationId: string; messageId: string } }
  | { type: 'typing'; data: { conversationId: string } }
  | { type: 'presence.subscribe' | 'presence.unsubscribe'; data: { userIds: string[] } }
  | { type: 'ping'; data?: unknown };

/** Any frame, known or not: what `on('event')` receives. */
export interface AnyFrame {
  type: string;
  data?: unknown;
}

/** A text frame as JSON with a string `type`, or undefined (binary, not JSON, no type). */
export function parseFrame(data: unknown): AnyFrame | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    const frame = JSON.parse(data) as AnyFrame;
    return frame && typeof frame === 'object' && typeof frame.type === 'string' ? frame : undefined;
  } catch {
    return undefined;
  }
}
