import { type GroupJson, type MemberJson, toGroupJson, toMemberJson } from '../api-shapes/groups.js';
import { type MessageJson, type ReceiptJson, toMessageJson, toReceiptJson } from '../api-shapes/messages.js';
import { type PresenceJson, type PresenceRecord, toPresenceJson } from '../api-shapes/presence.js';
import type { Group, GroupMember, Message, Receipt } from '../domain/types.js';

/**
 * The one vocabulary of real-time events. The same `{ type, data }` object is what a node
 * publishes on the bus, what another node receives, and (for client events) exactly the frame a
 * WebSocket client gets: `data` is already in the API's JSON shape (api-shapes/).
 *
 * Why one shape: the event used to have three (a bus `{ kind: 'message' }`, a service
 * `{ type: 'message.created' }`, and the frame), with a mapping at each hop. A field added to one
 * and forgotten in the next was silently dropped between nodes; now there is nothing to forget.
 */
export type ClientEvent =
  | { type: 'message.created'; data: { message: MessageJson } }
  /** A message already delivered changed: an edit, or a thread root's summary. */
  | { type: 'message.updated'; data: { message: MessageJson } }
  | { type: 'message.deleted'; data: { message: MessageJson } }
  | { type: 'reaction.updated'; data: ReactionUpdate }
  | { type: 'message.status'; data: ReceiptJson }
  | { type: 'presence'; data: PresenceJson }
  | { type: 'typing'; data: { conversationId: string; userId: string } }
  | { type: 'group.updated'; data: { group: GroupJson } }
  | MemberEvent
  | ResyncEvent;

/** A member joined, left (or was removed) or changed role; `member` is the member it concerns. */
export type MemberEvent = {
  type: 'member.added' | 'member.removed' | 'member.updated';
  data: { groupId: string; member: MemberJson };
};

const MEMBER_EVENT_TYPES: ReadonlySet<string> = new Set(['member.added', 'member.removed', 'member.updated']);
export const isMemberEvent = (event: RealtimeEvent): event is MemberEvent => MEMBER_EVENT_TYPES.has(event.type);

/**
 * One user's reaction given (`added`) or taken back; `count`: how many gave that emoji now. A
 * client's own `me` for the emoji is `added` when `userId` is its user.
 */
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

/**
 * "You may have missed events: catch up from your cursors." Sent to a connection when this node
 * may have lost events of one of its channels (the subscriber reconnected, a slot moved, a
 * publish was given up), and only once the channel is subscribed again; also published on a
 * channel by a node that gave up publishing an event there, so every node's holders hear of it.
 * `reason` is for logs and support, never for client logic.
 */
export type ResyncEvent = { type: 'resync'; data: { reason: string } };

/**
 * Node-to-node only, never sent to a client: a user's membership of a group changed. It is a
 * notice, not the truth: a receiver re-reads the user's groups from Cassandra. `change` only lets
 * a receiver stop delivery at once on a 'left' until that read answers; `at` (the publishing
 * node's clock) is kept for nodes of the previous release and ordered nothing here: with it, a
 * node whose clock ran 5 s fast made its "joined" win over a "left" made 3 s later elsewhere.
 */
export type MembershipEvent = {
  type: 'membership';
  data: { groupId: string; userId: string; change: 'joined' | 'left'; at: number };
};

/**
 * Node-to-node only, on the blocked user's channel: `blockerId` blocked `blockedId`. Each node
 * holding the blocked user's connections drops their watches of the blocker's presence (new
 * watches are refused by the presence policy): without it, a watch granted before the block
 * kept showing the blocker online and offline for as long as the connection lived.
 */
export type BlockEvent = { type: 'block'; data: { blockerId: string; blockedId: string } };

/**
 * Node-to-node only, on the user's channel: a session of `userId` ended (`sessionId`), or all of
 * them (`null`: log out everywhere). A notice, not the truth: each node holding the user's
 * connections drops its cached check and verifies their tokens again, closing (1008) those whose
 * session no longer stands. Without it, a socket on another node outlived the logout until its
 * node's next session sweep, and that sweep (a read pair per connection per interval) was the
 * largest cost of an idle connection.
 */
export type SessionEndedEvent = { type: 'session.ended'; data: { userId: string; sessionId: string | null } };

export type RealtimeEvent = ClientEvent | MembershipEvent | BlockEvent | SessionEndedEvent;

/** What travels on a channel: the publishing node's id (for logs) next to the event. */
export interface Envelope {
  node: string;
  event: RealtimeEvent;
}

export const messageCreated = (message: Message): ClientEvent => ({
  type: 'message.created',
  data: { message: toMessageJson(message) },
});

/**
 * An edit or a thread root's new summary (`message.updated`), or a delete for everyone
 * (`message.deleted`): the message as it now is.
 */
export const messageChanged = (type: 'message.updated' | 'message.deleted', message: Message): ClientEvent => ({
  type,
  data: { message: toMessageJson(message) },
});

export const reactionUpdated = (update: ReactionUpdate): ClientEvent => ({ type: 'reaction.updated', data: update });

export const messageStatus = (receipt: Receipt): Extract<ClientEvent, { type: 'message.status' }> => ({
  type: 'message.status',
  data: toReceiptJson(receipt),
});

export const presenceChanged = (presence: PresenceRecord): ClientEvent => ({
  type: 'presence',
  data: toPresenceJson(presence),
});

export const typing = (conversationId: string, userId: string): ClientEvent => ({
  type: 'typing',
  data: { conversationId, userId },
});

export const groupUpdated = (group: Group): ClientEvent => ({
  type: 'group.updated',
  data: { group: toGroupJson(group) },
});

export const memberEvent = (type: MemberEvent['type'], member: GroupMember): MemberEvent => ({
  type,
  data: { groupId: member.groupId, member: toMemberJson(member) },
});

export const blocked = (blockerId: string, blockedId: string): BlockEvent => ({
  type: 'block',
  data: { blockerId, blockedId },
});

export const sessionEnded = (userId: string, sessionId: string | null): SessionEndedEvent => ({
  type: 'session.ended',
  data: { userId, sessionId },
});

export const resync = (reason: string): ResyncEvent => ({ type: 'resync', data: { reason } });

export const membershipChanged = (
  groupId: string,
  userId: string,
  change: 'joined' | 'left',
  at: number,
): MembershipEvent => ({ type: 'membership', data: { groupId, userId, change, at } });

/** The frame text of a client event (the event itself: one shape). */
export const encodeEvent = (event: ClientEvent): string => JSON.stringify(event);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isText = (value: unknown): value is string => typeof value === 'string';
const isTextOrNull = (value: unknown) => value === null || typeof value === 'string';

/**
 * An envelope read from the bus, or undefined when it is not one of ours. The check is shallow
 * but covers every field a node reads: a node of another version (or anything else publishing on
 * our channels) must be ignored, never half-understood: a `membership` notice without `userId`
 * would leave the node guessing whose membership changed, and a wrong guess drops a member's
 * group events until the next reconciliation.
 */
export function decodeEnvelope(raw: string): Envelope | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isObject(value) || !isText(value.node) || !isObject(value.event)) return undefined;
  if (isText(value.event.kind)) {
    const event = fromPreviousRelease(value.event);
    return event ? { node: value.node, event } : undefined;
  }
  const { type, data } = value.event;
  if (!isObject(data)) return undefined;
  switch (type) {
    case 'message.created':
    case 'message.updated':
    case 'message.deleted':
      return isObject(data.message) && isText(data.message.id) ? (value as unknown as Envelope) : undefined;
    case 'reaction.updated':
      return isText(data.conversationId) &&
        isText(data.messageId) &&
        isText(data.emoji) &&
        isText(data.userId) &&
        typeof data.count === 'number' &&
        typeof data.added === 'boolean'
        ? (value as unknown as Envelope)
        : undefined;
    case 'message.status':
      return isText(data.conversationId) &&
        isText(data.userId) &&
        isTextOrNull(data.deliveredUpTo) &&
        isTextOrNull(data.readUpTo)
        ? (value as unknown as Envelope)
        : undefined;
    case 'presence':
      return isText(data.userId) && (data.status === 'online' || data.status === 'offline')
        ? (value as unknown as Envelope)
        : undefined;
    case 'typing':
      return isText(data.conversationId) && isText(data.userId) ? (value as unknown as Envelope) : undefined;
    case 'resync':
      return isText(data.reason) ? (value as unknown as Envelope) : undefined;
    case 'group.updated':
      return isObject(data.group) && isText(data.group.id) ? (value as unknown as Envelope) : undefined;
    case 'member.added':
    case 'member.removed':
    case 'member.updated':
      return isText(data.groupId) && isObject(data.member) && isText(data.member.userId)
        ? (value as unknown as Envelope)
        : undefined;
    case 'block':
      return isText(data.blockerId) && isText(data.blockedId) ? (value as unknown as Envelope) : undefined;
    case 'session.ended':
      return isText(data.userId) && isTextOrNull(data.sessionId) ? (value as unknown as Envelope) : undefined;
    case 'membership':
      return isText(data.groupId) &&
        isText(data.userId) &&
        (data.change === 'joined' || data.change === 'left') &&
        typeof data.at === 'number'
        ? (value as unknown as Envelope)
        : undefined;
    default:
      return undefined;
  }
}

/**
 * The events of the release before this one (`{ kind: 'message', message }` …), read during a
 * rolling deploy. Without this, a client connected to an upgraded node would miss, with no sign
 * of a gap, every message sent through a node not yet upgraded (it does not reconnect, so it
 * never catches up). The other way round needs nothing: clients of old nodes reconnect when their
 * node is upgraded and catch up then. Group receipts of that release travel on the group channel
 * and are not read (a missed `message.status` is a stale tick, recovered from GET receipts).
 * Remove in the release after this one.
 */
function fromPreviousRelease(old: Record<string, unknown>): RealtimeEvent | undefined {
  switch (old.kind) {
    case 'message': {
      const message = old.message;
      return isObject(message) && isText(message.id) && typeof message.createdAt === 'number'
        ? messageCreated(message as unknown as Message)
        : undefined;
    }
    case 'receipt': {
      const receipt = old.receipt;
      return isObject(receipt) &&
        isText(receipt.conversationId) &&
        isText(receipt.userId) &&
        isTextOrNull(receipt.deliveredUpTo) &&
        isTextOrNull(receipt.readUpTo)
        ? messageStatus(receipt as unknown as Receipt)
        : undefined;
    }
    case 'typing':
      return isText(old.conversationId) && isText(old.userId) ? typing(old.conversationId, old.userId) : undefined;
    case 'membership':
      return isText(old.groupId) && isText(old.userId) && (old.change === 'joined' || old.change === 'left')
        ? membershipChanged(old.groupId, old.userId, old.change, typeof old.at === 'number' ? old.at : Date.now())
        : undefined;
    case 'presence': {
      const presence = old.presence;
      return isObject(presence) &&
        isText(presence.userId) &&
        (presence.status === 'online' || presence.status === 'offline') &&
        (presence.lastSeenAt === null || typeof presence.lastSeenAt === 'number')
        ? presenceChanged(presence as unknown as PresenceRecord)
        : undefined;
    }
    default:
      return undefined;
  }
}
