import { type ConversationRef, parseConversationId } from '../domain/conversations.js';
import { watermarkMove } from '../domain/status.js';
import type { Message, Receipt } from '../domain/types.js';
import type { Logger } from '../logger.js';
import {
  type ClientEvent,
  isMemberEvent,
  messageChanged,
  messageCreated,
  messageStatus,
  type ReactionUpdate,
  type RealtimeEvent,
  reactionUpdated,
  typing as typingEvent,
} from './events.js';
import type { ChannelOwner, Hub } from './hub.js';
import type { Membership } from './membership.js';
import type { Presence } from './presence.js';
import type { Publisher } from './publisher.js';

/** Messages whose senders one group receipt looks up at most (newest first). */
export const RECEIPT_SENDER_SCAN = 500;
/** (recipient, conversation, user) triples whose last delivered watermarks a node remembers; the oldest go first. */
const MAX_STATUS_ENTRIES = 50_000;

/** Reads who sent which messages, to address a group receipt (store/messages.ts behind it). */
export interface MessageSenders {
  /** Newest first, at most `limit`: the ids and senders of the conversation's messages in (afterId, upToId]. */
  between(
    conversationId: string,
    afterId: string | null,
    upToId: string,
    limit: number,
  ): Promise<Array<{ id: string; senderId: string }>>;
}

export interface FanoutObserver {
  fanoutDelivered(event: string, count?: number): void;
}

type Watermarks = Pick<Receipt, 'deliveredUpTo' | 'readUpTo'>;

/** The later of two watermarks (message ids are ULIDs: their text order is their time order). */
const laterOf = (a: string | null, b: string | null) => (a === null ? b : b === null || a > b ? a : b);

const userOwner = (id: string): ChannelOwner => ({ kind: 'user', id });
const groupOwner = (id: string): ChannelOwner => ({ kind: 'group', id });

/**
 * Which channel carries which event, both ways: where an event is published, and which local
 * connections get what arrives. The rules, each with the failure it prevents:
 *
 * - A group message is ONE publish, on the group's channel; each node hands it to its members.
 *   Publishing per member would make one message to a 10,000-member group 10,000 Redis publishes.
 * - A one-to-one event is published on each participant's own channel (two publishes at most):
 *   there is no channel per conversation, so a node needs one subscription per user, not one per
 *   pair of users who ever talked.
 * - A group receipt reaches those who need it, not every member: the senders of the messages its
 *   watermark move covers (their messages' status may have changed) and the reader's own devices
 *   (so a phone shows what was read on the laptop), one publish per user. On the group's channel
 *   (as before), every online member got every member's every ack: one message read by all of a 10,000-member
 *   group cost about 10⁸ frames, nearly all to members who sent nothing and show nothing for them.
 * - Only the most recent RECEIPT_SENDER_SCAN messages of a move are looked at: a member back after
 *   a month of a busy group must not make one ack read the month. Senders of older messages in the
 *   move see the new status on their next history read.
 * - `message.status` never goes back on a connection: a node drops a watermark older than what it
 *   last sent that recipient. Two devices of one reader on two nodes each read the watermarks back
 *   and publish; the reads can arrive in either order, and without this the sender's screen would go
 *   from "read" back to "delivered".
 * - A node never hands a group event to a user it knows left the group, whatever its subscriptions
 *   say (membership.mayReceive): a removed member must not see one more message, even while a
 *   lost notice is waiting for reconciliation.
 */
export function createFanout(deps: {
  publisher: Publisher;
  hub: Hub;
  membership: Pick<Membership, 'mayReceive' | 'receive'>;
  presence: Pick<Presence, 'receive' | 'unwatch'>;
  senders: MessageSenders;
  logger: Logger;
  observer?: FanoutObserver | undefined;
  /** A `resync` notice arrived on a channel: a node gave up publishing an event there. */
  onGap(channels: string[], reason: string): void;
  /** A `session.ended` notice arrived on a user's channel (the gateway re-checks their sockets). */
  onSessionEnded(userId: string, sessionId: string | null): void;
}) {
  const { publisher, hub, membership, logger } = deps;
  /** `<recipient> <conversationId> <userId>` → the watermarks last delivered to that recipient here. */
  const lastStatus = new Map<string, Watermarks>();

  /** Stored facts are retried and, if given up, announced as a gap; typing is not (nothing to catch up on). */
  function publish(owner: ChannelOwner, event: RealtimeEvent): Promise<void> {
    return publisher.publish(hub.channelOf(owner), event, { retry: event.type !== 'typing' });
  }

  /** Who needs a group member's watermark move: its own devices and the senders of what it covers. */
  async function groupReceiptAudience(before: Receipt | undefined, after: Receipt): Promise<string[]> {
    const move = watermarkMove(before, after);
    if (!move) return [];
    const audience = new Set([after.userId]);
    try {
      const messages = await deps.senders.between(after.conversationId, move.low, move.high, RECEIPT_SENDER_SCAN);
      for (const message of messages) {
        if (move.covers(message.id)) audience.add(message.senderId);
      }
    } catch (error) {
      // Cassandra away: the reader's own devices still hear of it; senders see it on their next read.
      logger.warn({ err: error }, 'could not read the senders a receipt concerns; only the reader’s devices are told');
    }
    return [...audience];
  }

  /** The watermarks to deliver to `recipient`, or undefined when not newer than what it was last sent here. */
  function newerStatus(recipient: string, receipt: Receipt): Receipt | undefined {
    const key = `${recipient} ${receipt.conversationId} ${receipt.userId}`;
    const previous = lastStatus.get(key);
    if (previous) {
      const advances =
        laterOf(receipt.deliveredUpTo, previous.deliveredUpTo) !== previous.deliveredUpTo ||
        laterOf(receipt.readUpTo, previous.readUpTo) !== previous.readUpTo;
      if (!advances) return undefined;
      lastStatus.delete(key);
    }
    const merged: Receipt = {
      ...receipt,
      deliveredUpTo: laterOf(receipt.deliveredUpTo, previous?.deliveredUpTo ?? null),
      readUpTo: laterOf(receipt.readUpTo, previous?.readUpTo ?? null),
    };
    lastStatus.set(key, { deliveredUpTo: merged.deliveredUpTo, readUpTo: merged.readUpTo });
    if (lastStatus.size > MAX_STATUS_ENTRIES) {
      const oldest = lastStatus.keys().next().value;
      if (oldest !== undefined) lastStatus.delete(oldest);
    }
    return merged;
  }

  /** Hands an event to every local connection of these users; returns how many got it. */
  function deliver(userIds: Iterable<string>, event: ClientEvent, options: { exclude?: string; groupId?: string }) {
    let count = 0;
    for (const userId of userIds) {
      if (userId === options.exclude) continue;
      if (options.groupId !== undefined && !membership.mayReceive(userId, options.groupId)) continue;
      for (const connection of hub.connectionsOf(userId)) {
        connection.deliver(event);
        count++;
      }
    }
    if (count > 0) deps.observer?.fanoutDelivered(event.type, count);
    return count;
  }

  /** A receipt arriving on a user's channel (the only place receipts travel). */
  function deliverStatus(recipient: string, receipt: Receipt) {
    const isGroup = parseConversationId(receipt.conversationId)?.kind === 'group';
    // One-to-one: never your own (your peer's channel carries it). Group: your own devices get it.
    if (!isGroup && receipt.userId === recipient) return;
    if (isGroup && !membership.mayReceive(recipient, receipt.conversationId)) return;
    const newer = newerStatus(recipient, receipt);
    if (newer) deliver([recipient], messageStatus(newer), {});
  }

  /**
   * A member event arrives twice (group-events.ts): the group channel's copy goes to the other
   * members, the member's own channel's copy to the member, so each connection gets one.
   */
  function deliverMemberEvent(owner: ChannelOwner, event: ClientEvent) {
    if (!isMemberEvent(event)) return;
    const { groupId, member } = event.data;
    if (owner.kind === 'group' && owner.id === groupId) {
      deliver(hub.holders(owner), event, { groupId, exclude: member.userId });
    } else if (owner.kind === 'user' && owner.id === member.userId) {
      deliver([owner.id], event, {});
    }
  }

  /** A conversation's event: once on a group's channel, or on each one-to-one participant's. */
  async function publishToConversation(groupId: string | null, participantIds: readonly string[], event: ClientEvent) {
    if (groupId) {
      await publish(groupOwner(groupId), event);
      return;
    }
    await Promise.all(participantIds.map((id) => publish(userOwner(id), event)));
  }

  return {
    async messageCreated(message: Message, participantIds: readonly string[]) {
      await publishToConversation(message.groupId, participantIds, messageCreated(message));
    },

    /** An edit or a delete for everyone: to every participant, the sender's other devices included. */
    async messageChanged(kind: 'updated' | 'deleted', message: Message, participantIds: readonly string[]) {
      const event = messageChanged(kind === 'updated' ? 'message.updated' : 'message.deleted', message);
      await publishToConversation(message.groupId, participantIds, event);
    },

    async reactionUpdated(update: ReactionUpdate, groupId: string | null, participantIds: readonly string[]) {
      await publishToConversation(groupId, participantIds, reactionUpdated(update));
    },

    async receiptUpdated(change: { before: Receipt | undefined; after: Receipt }, participantIds: readonly string[]) {
      const receipt = change.after;
      const event = messageStatus(receipt);
      const audience =
        parseConversationId(receipt.conversationId)?.kind === 'group'
          ? await groupReceiptAudience(change.before, receipt)
          : participantIds.filter((id) => id !== receipt.userId);
      await Promise.all(audience.map((id) => publish(userOwner(id), event)));
    },

    async typing(conversation: ConversationRef, userId: string) {
      const event = typingEvent(conversation.id, userId);
      if (conversation.kind === 'group') {
        await publish(groupOwner(conversation.id), event);
        return;
      }
      // A one-to-one conversation's participants are in its id.
      await Promise.all(conversation.userIds.filter((id) => id !== userId).map((id) => publish(userOwner(id), event)));
    },

    /** An event from the bus, on one of the channels the hub holds. */
    receive(channel: string, event: RealtimeEvent) {
      const owner = hub.ownerOf(channel);
      if (!owner) return;
      if (event.type === 'membership') {
        membership.receive(owner, event);
        return;
      }
      if (event.type === 'resync') {
        deps.onGap([channel], event.data.reason);
        return;
      }
      if (event.type === 'block') {
        // The blocked user's connections here stop watching the blocker (group-events.ts).
        if (owner.kind !== 'user' || event.data.blockedId !== owner.id) return;
        for (const connection of hub.connectionsOf(owner.id)) deps.presence.unwatch(connection, [event.data.blockerId]);
        return;
      }
      if (event.type === 'session.ended') {
        if (owner.kind === 'user' && event.data.userId === owner.id)
          deps.onSessionEnded(owner.id, event.data.sessionId);
        return;
      }
      if (owner.kind === 'presence') {
        if (event.type === 'presence' && event.data.userId === owner.id) deps.presence.receive(owner.id, event);
        return;
      }
      // On a group channel: the local members, each checked against what this node knows of them.
      const recipients = owner.kind === 'group' ? hub.holders(owner) : [owner.id];
      const group = owner.kind === 'group' ? { groupId: owner.id } : {};
      switch (event.type) {
        case 'message.created':
        case 'message.updated':
        case 'message.deleted':
        case 'reaction.updated':
          deliver(recipients, event, group);
          return;
        case 'message.status':
          // Receipts travel on user channels only; one on a group channel comes from an older node.
          if (owner.kind === 'user') deliverStatus(owner.id, event.data);
          return;
        case 'typing':
          deliver(recipients, event, { ...group, exclude: event.data.userId });
          return;
        case 'group.updated':
          if (owner.kind === 'group' && event.data.group.id === owner.id) deliver(recipients, event, group);
          return;
        case 'member.added':
        case 'member.removed':
        case 'member.updated':
          deliverMemberEvent(owner, event);
          return;
        default:
          return;
      }
    },
  };
}

export type Fanout = ReturnType<typeof createFanout>;
