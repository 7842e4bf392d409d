import type { PresenceRecord } from '../api-shapes/presence.js';
import type { Logger } from '../logger.js';
import type { Bus } from './bus.js';
import { createFanout, type FanoutObserver, type MessageSenders } from './fanout.js';
import { createHub, type RealtimeChannels, type RealtimeConnection } from './hub.js';
import { createMembership } from './membership.js';
import { createPresence, type PresenceStore } from './presence.js';

export type { Bus } from './bus.js';
export type { ClientEvent, RealtimeEvent } from './events.js';
export type { MessageSenders } from './fanout.js';
export type { RealtimeChannels, RealtimeConnection } from './hub.js';
export type { PresenceStore } from './presence.js';

/**
 * The real-time layer, assembled from its parts (see README.md beside this file): the hub
 * (local connections and channel references), the bus (Redis transport), membership, presence
 * and fan-out. What it returns implements the ports in services/ports.ts: ConversationEvents and
 * MembershipListener for the services, PresenceReader for HTTP, RealtimeGateway for ws.
 *
 * Publishing is best effort: failures are logged and never fail the request that caused them.
 */
export function createRealtime(deps: {
  bus: Bus;
  /** Must announce transitions itself (created with the bus's `encode`). */
  presence: PresenceStore;
  groups: { listGroupIdsOfUser(userId: string): Promise<string[]> };
  senders: MessageSenders;
  channels: RealtimeChannels;
  logger: Logger;
  /** How often live connections are refreshed in Redis (well within the presence TTL). */
  refreshMs: number;
  /** How often connected users' groups are re-read to correct missed membership changes. */
  reconcileMs: number;
  observer?: FanoutObserver;
}) {
  const { bus, logger } = deps;
  const hub = createHub({ bus, channels: deps.channels });
  const membership = createMembership({
    hub,
    bus,
    groups: deps.groups,
    logger,
    reconcileMs: deps.reconcileMs,
  });
  const presence = createPresence({
    hub,
    store: deps.presence,
    logger,
    refreshMs: deps.refreshMs,
    observer: deps.observer,
  });
  const fanout = createFanout({
    bus,
    hub,
    membership,
    presence,
    senders: deps.senders,
    logger,
    observer: deps.observer,
  });
  /** userId → settles when the user's own and group channels are live on this node. */
  const ready = new Map<string, Promise<void>>();
  let started = false;

  bus.onEvent((channel, event) => fanout.receive(channel, event));
  // Whatever was published while the subscriber was away (membership changes too) is lost.
  bus.onReconnect(() => {
    if (started) void membership.reconcile('subscriber reconnected');
  });

  return {
    messageCreated: fanout.messageCreated,
    receiptUpdated: fanout.receiptUpdated,
    typing: fanout.typing,
    membershipChanged: membership.membershipChanged,

    async register(connection: RealtimeConnection): Promise<void> {
      const { userId } = connection;
      if (hub.add(connection)) {
        const own = hub.hold({ kind: 'user', id: userId }, userId);
        ready.set(
          userId,
          membership.load(userId).then(() => own),
        );
      }
      await Promise.all([ready.get(userId), presence.online(connection)]);
    },

    async unregister(connection: RealtimeConnection): Promise<void> {
      presence.unwatchAll(connection);
      const removed = hub.remove(connection);
      if (removed === 'unknown') return;
      if (removed === 'last') {
        ready.delete(connection.userId);
        hub.release({ kind: 'user', id: connection.userId }, connection.userId);
        membership.unload(connection.userId);
      }
      await presence.offline(connection);
    },

    watchPresence: presence.watch,
    unwatchPresence: presence.unwatch,
    liveConnections: presence.liveConnections,
    presenceOf: (userIds: readonly string[]): Promise<PresenceRecord[]> => presence.presenceOf(userIds),

    /** Starts the presence refresh, dead-node sweep and membership reconciliation timers. */
    start() {
      if (started) return;
      started = true;
      presence.start();
      membership.start();
    },

    stop() {
      started = false;
      presence.stop();
      membership.stop();
    },

    /** Runs a membership reconciliation now (as the timer and a subscriber reconnect do). */
    reconcileMemberships: () => membership.reconcile('requested'),
  };
}

export type Realtime = ReturnType<typeof createRealtime>;
