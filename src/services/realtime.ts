import type { PresenceRecord, PresenceStore } from '../cache/presence.js';
import type { Envelope, PubSub } from '../cache/pubsub.js';
import { parseConversationId } from '../domain/conversations.js';
import { AppError } from '../domain/errors.js';
import type { Message, Receipt } from '../domain/types.js';
import type { Logger } from '../logger.js';
import type { GroupRepository } from '../store/groups.js';
import type { MembershipListener } from './groups.js';
import type { Conversation, ConversationEvents } from './messaging.js';

export type Presence = PresenceRecord;

/** What a connected client is told. The gateway turns each into a frame. */
export type RealtimeEvent =
  | { type: 'message.created'; message: Message }
  | { type: 'message.status'; receipt: Receipt }
  | { type: 'presence'; presence: Presence }
  | { type: 'typing'; conversationId: string; userId: string };

/** A client connection as the service sees it; the gateway owns the socket behind it. */
export interface RealtimeConnection {
  readonly id: string;
  readonly userId: string;
  /** Queues the event for the client. Must not throw; the same event object goes to many connections. */
  deliver(event: RealtimeEvent): void;
}

/** Events on the Redis bus. `exclude` names a user that must not receive it (the actor). */
export type BusEvent =
  | { kind: 'message'; message: Message }
  | { kind: 'receipt'; receipt: Receipt }
  | { kind: 'typing'; conversationId: string; userId: string }
  | { kind: 'membership'; groupId: string; change: 'joined' | 'left' }
  | { kind: 'presence'; presence: Presence };

/** Reads presence for the HTTP API. */
export interface PresenceReader {
  /** Rejects with UNAVAILABLE when Redis cannot answer. */
  presenceOf(userIds: readonly string[]): Promise<Presence[]>;
}

/** Counters the composition root may wire to metrics. */
export interface RealtimeObserver {
  fanoutDelivered(event: string, count?: number): void;
}

/** Channel names, from cache/keys.ts. */
export interface RealtimeChannels {
  userChannel(userId: string): string;
  groupChannel(groupId: string): string;
  presenceChannel(userId: string): string;
}

/** At most this many users watched by one connection. */
export const MAX_PRESENCE_WATCHES = 1000;

interface LocalUser {
  connections: Set<RealtimeConnection>;
  groups: Set<string>;
  /** Groups left while the initial group list was loading (the list may still name them). */
  leftWhileLoading: Set<string> | undefined;
  /** Settles when the user's channels are subscribed. */
  ready: Promise<void>;
}

type ChannelTarget = { kind: 'user' | 'group' | 'presence'; id: string };

/**
 * Real-time fan-out across nodes.
 *
 * Channels (names in cache/keys.ts):
 * - one per user: direct messages, receipts and typing addressed to them, and their membership
 *   changes. A node subscribes while that user has a connection on it.
 * - one per group: group messages, receipts and typing, published once however many members.
 *   A node subscribes while one of its connected users is a member; membership events on the
 *   user channel keep that current.
 * - one per user for presence changes, subscribed while a local connection watches that user.
 *
 * Presence: each connection is an entry with a TTL in Redis, refreshed on a timer; a sweeper
 * announces users of dead nodes offline once their entries lapse.
 *
 * Publishing is best effort: failures are logged and never fail the request that caused them.
 */
export function createRealtimeService(deps: {
  pubsub: PubSub<BusEvent>;
  presence: PresenceStore;
  groups: Pick<GroupRepository, 'listGroupIdsOfUser'>;
  channels: RealtimeChannels;
  logger: Logger;
  /** How often live connections are refreshed in Redis (well within the presence TTL). */
  refreshMs: number;
  observer?: RealtimeObserver;
}) {
  const { pubsub, presence, channels, logger } = deps;
  const local = new Map<string, LocalUser>();
  /** groupId → local users who are members. */
  const groupMembers = new Map<string, Set<string>>();
  /** watched userId → local connections watching them. */
  const watchers = new Map<string, Set<RealtimeConnection>>();
  /** connection → users it watches. */
  const watching = new Map<RealtimeConnection, Set<string>>();
  const targets = new Map<string, ChannelTarget>();
  let refreshTimer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;

  function subscribe(channel: string, target: ChannelTarget): Promise<void> {
    targets.set(channel, target);
    return pubsub.subscribe(channel);
  }

  function unsubscribe(channel: string) {
    if (pubsub.unsubscribe(channel)) targets.delete(channel);
  }

  async function publish(channel: string, event: BusEvent): Promise<void> {
    try {
      await pubsub.publish(channel, event);
    } catch (error) {
      logger.warn({ err: error, kind: event.kind }, 'real-time publish failed; clients will catch up on reconnect');
    }
  }

  function deliverTo(userIds: Iterable<string>, event: RealtimeEvent, exclude?: string): number {
    let count = 0;
    for (const userId of userIds) {
      if (userId === exclude) continue;
      const user = local.get(userId);
      if (!user) continue;
      for (const connection of user.connections) {
        connection.deliver(event);
        count++;
      }
    }
    if (count > 0) deps.observer?.fanoutDelivered(event.type, count);
    return count;
  }

  function joinGroup(userId: string, groupId: string) {
    const user = local.get(userId);
    if (!user || user.groups.has(groupId)) return;
    user.groups.add(groupId);
    user.leftWhileLoading?.delete(groupId);
    let members = groupMembers.get(groupId);
    if (!members) {
      members = new Set();
      groupMembers.set(groupId, members);
    }
    members.add(userId);
    if (members.size === 1) void subscribe(channels.groupChannel(groupId), { kind: 'group', id: groupId });
  }

  function leaveGroup(userId: string, groupId: string) {
    const user = local.get(userId);
    if (!user) return;
    user.leftWhileLoading?.add(groupId);
    if (!user.groups.delete(groupId)) return;
    const members = groupMembers.get(groupId);
    if (!members) return;
    members.delete(userId);
    if (members.size === 0) {
      groupMembers.delete(groupId);
      unsubscribe(channels.groupChannel(groupId));
    }
  }

  async function setUpUser(userId: string, user: LocalUser): Promise<void> {
    const userChannel = subscribe(channels.userChannel(userId), { kind: 'user', id: userId });
    const groupIds = await deps.groups.listGroupIdsOfUser(userId);
    if (local.get(userId) !== user) return; // everyone left while loading
    const left = user.leftWhileLoading;
    user.leftWhileLoading = undefined;
    const pending: Promise<void>[] = [userChannel];
    for (const groupId of groupIds) {
      if (left?.has(groupId)) continue;
      joinGroup(userId, groupId);
      pending.push(pubsub.ready(channels.groupChannel(groupId)));
    }
    await Promise.all(pending);
  }

  async function announce(record: Presence) {
    await publish(channels.presenceChannel(record.userId), { kind: 'presence', presence: record });
  }

  function onEnvelope(channel: string, envelope: Envelope<BusEvent>) {
    const target = targets.get(channel);
    if (!target) return;
    const event = envelope.event;
    if (target.kind === 'presence') {
      if (event.kind !== 'presence') return;
      const change: RealtimeEvent = { type: 'presence', presence: event.presence };
      const connections = watchers.get(target.id);
      if (!connections) return;
      for (const connection of connections) connection.deliver(change);
      deps.observer?.fanoutDelivered('presence', connections.size);
      return;
    }
    const recipients = target.kind === 'user' ? [target.id] : (groupMembers.get(target.id) ?? []);
    switch (event.kind) {
      case 'message':
        deliverTo(recipients, { type: 'message.created', message: event.message });
        return;
      case 'receipt':
        deliverTo(recipients, { type: 'message.status', receipt: event.receipt }, event.receipt.userId);
        return;
      case 'typing':
        deliverTo(
          recipients,
          { type: 'typing', conversationId: event.conversationId, userId: event.userId },
          event.userId,
        );
        return;
      case 'membership':
        if (target.kind !== 'user') return;
        if (event.change === 'joined') joinGroup(target.id, event.groupId);
        else leaveGroup(target.id, event.groupId);
        return;
      default:
        return;
    }
  }

  pubsub.onEnvelope(onEnvelope);

  async function refreshAll() {
    const now = Date.now();
    const all = [...local.values()].flatMap((user) => [...user.connections]);
    // Bounded batches: auto-pipelining sends each batch as a few round trips.
    for (let i = 0; i < all.length; i += 1000) {
      await Promise.all(
        all.slice(i, i + 1000).map(async (connection) => {
          try {
            if (await presence.touch(connection.userId, connection.id, now)) {
              await announce({ userId: connection.userId, status: 'online', lastSeenAt: null });
            }
          } catch {
            // Redis away: the next refresh tries again; presence is best effort.
          }
        }),
      );
    }
  }

  /** Claims lapsed connections of dead nodes, a bounded number of batches per run. */
  async function sweep() {
    const BATCH = 500;
    try {
      for (let round = 0; round < 20; round++) {
        const { scanned, offline } = await presence.sweep(BATCH);
        await Promise.all(offline.map(announce));
        if (scanned < BATCH) return;
      }
    } catch (error) {
      logger.debug({ err: error }, 'presence sweep failed');
    }
  }

  const events: ConversationEvents = {
    async messageCreated(message: Message, participantIds: readonly string[]) {
      if (message.groupId) {
        await publish(channels.groupChannel(message.groupId), { kind: 'message', message });
        return;
      }
      await Promise.all(participantIds.map((id) => publish(channels.userChannel(id), { kind: 'message', message })));
    },

    async receiptUpdated(receipt: Receipt, participantIds: readonly string[]) {
      if (parseConversationId(receipt.conversationId)?.kind === 'group') {
        await publish(channels.groupChannel(receipt.conversationId), { kind: 'receipt', receipt });
        return;
      }
      await Promise.all(
        participantIds
          .filter((id) => id !== receipt.userId)
          .map((id) => publish(channels.userChannel(id), { kind: 'receipt', receipt })),
      );
    },
  };

  const membership: MembershipListener = {
    async membershipChanged(groupId, userId, change) {
      // The user may be connected to any node: tell theirs through their own channel.
      await publish(channels.userChannel(userId), { kind: 'membership', groupId, change });
    },
  };

  return {
    ...events,
    ...membership,

    /**
     * Adds a connection: subscribes what its user needs and marks them online. Resolves once
     * the subscriptions are live, so a client told `ready` afterwards misses nothing newer.
     * Rejects when the user's groups cannot be read (the caller closes the connection).
     */
    async register(connection: RealtimeConnection): Promise<void> {
      let user = local.get(connection.userId);
      if (!user) {
        const created: LocalUser = {
          connections: new Set(),
          groups: new Set(),
          leftWhileLoading: new Set(),
          ready: Promise.resolve(),
        };
        local.set(connection.userId, created);
        created.ready = setUpUser(connection.userId, created);
        user = created;
      }
      user.connections.add(connection);
      const online = presence
        .touch(connection.userId, connection.id)
        .then((becameOnline) =>
          becameOnline ? announce({ userId: connection.userId, status: 'online', lastSeenAt: null }) : undefined,
        )
        .catch((error: unknown) => logger.warn({ err: error }, 'presence update failed'));
      await Promise.all([user.ready, online]);
    },

    /** Removes a connection (idempotent) and announces the user offline if it was their last. */
    async unregister(connection: RealtimeConnection): Promise<void> {
      const watched = watching.get(connection);
      if (watched) {
        watching.delete(connection);
        for (const userId of watched) {
          const set = watchers.get(userId);
          set?.delete(connection);
          if (set?.size === 0) watchers.delete(userId);
          unsubscribe(channels.presenceChannel(userId));
        }
      }
      const user = local.get(connection.userId);
      if (!user?.connections.delete(connection)) return;
      if (user.connections.size === 0) {
        local.delete(connection.userId);
        unsubscribe(channels.userChannel(connection.userId));
        for (const groupId of user.groups) {
          const members = groupMembers.get(groupId);
          members?.delete(connection.userId);
          if (members?.size === 0) {
            groupMembers.delete(groupId);
            unsubscribe(channels.groupChannel(groupId));
          }
        }
      }
      try {
        const now = Date.now();
        if (await presence.remove(connection.userId, connection.id, now)) {
          await announce({ userId: connection.userId, status: 'offline', lastSeenAt: now });
        }
      } catch (error) {
        // The entry lapses by itself within the TTL; the sweeper announces it then.
        logger.warn({ err: error }, 'presence removal failed');
      }
    },

    /** Relays "typing" to the conversation's other participants. The caller checked membership. */
    async typing(conversation: Conversation, userId: string): Promise<void> {
      const event: BusEvent = { kind: 'typing', conversationId: conversation.ref.id, userId };
      if (conversation.ref.kind === 'group') {
        await publish(channels.groupChannel(conversation.ref.id), event);
        return;
      }
      await Promise.all(
        conversation.participantIds.filter((id) => id !== userId).map((id) => publish(channels.userChannel(id), event)),
      );
    },

    /**
     * Starts sending the connection presence changes of these users, and their current state
     * right away (after the subscription is live, so no change falls in between).
     */
    async watchPresence(connection: RealtimeConnection, userIds: readonly string[]): Promise<void> {
      let mine = watching.get(connection);
      const fresh = [...new Set(userIds)].filter((id) => !mine?.has(id));
      if ((mine?.size ?? 0) + fresh.length > MAX_PRESENCE_WATCHES) {
        throw new AppError('VALIDATION_FAILED', `A connection watches at most ${MAX_PRESENCE_WATCHES} users`, {
          issues: [{ path: 'data.userIds', message: `at most ${MAX_PRESENCE_WATCHES} users per connection` }],
        });
      }
      if (!mine) {
        mine = new Set();
        watching.set(connection, mine);
      }
      const subscriptions: Promise<void>[] = [];
      for (const userId of fresh) {
        mine.add(userId);
        let set = watchers.get(userId);
        if (!set) {
          set = new Set();
          watchers.set(userId, set);
        }
        set.add(connection);
        subscriptions.push(subscribe(channels.presenceChannel(userId), { kind: 'presence', id: userId }));
      }
      await Promise.all(subscriptions);
      if (fresh.length === 0) return;
      let current: Presence[];
      try {
        current = await presence.read(fresh);
      } catch (error) {
        throw new AppError('UNAVAILABLE', 'Presence is unavailable right now; changes will still be sent', {
          cause: error,
        });
      }
      for (const record of current) {
        if (watching.get(connection)?.has(record.userId)) connection.deliver({ type: 'presence', presence: record });
      }
    },

    /** Stops presence events of these users for the connection. */
    unwatchPresence(connection: RealtimeConnection, userIds: readonly string[]) {
      const mine = watching.get(connection);
      if (!mine) return;
      for (const userId of new Set(userIds)) {
        if (!mine.delete(userId)) continue;
        const set = watchers.get(userId);
        set?.delete(connection);
        if (set?.size === 0) watchers.delete(userId);
        unsubscribe(channels.presenceChannel(userId));
      }
    },

    async presenceOf(userIds: readonly string[]): Promise<Presence[]> {
      try {
        return await presence.read(userIds);
      } catch (error) {
        throw new AppError('UNAVAILABLE', 'Presence is unavailable right now', { cause: error });
      }
    },

    /** Starts the presence refresh and dead-node sweep timers. */
    start() {
      if (refreshTimer) return;
      refreshTimer = setInterval(() => void refreshAll(), deps.refreshMs);
      refreshTimer.unref();
      // Sweep at the refresh cadence too, offset so nodes do not all run at once.
      const sweepMs = deps.refreshMs;
      sweepTimer = setTimeout(
        function tick() {
          void sweep().finally(() => {
            if (sweepTimer) sweepTimer = setTimeout(tick, sweepMs).unref();
          });
        },
        Math.floor(Math.random() * sweepMs),
      ).unref();
    },

    stop() {
      clearInterval(refreshTimer);
      clearTimeout(sweepTimer);
      refreshTimer = undefined;
      sweepTimer = undefined;
    },
  };
}

export type RealtimeService = ReturnType<typeof createRealtimeService>;
