import type { PresenceRecord } from '../api-shapes/presence.js';
import type { Logger } from '../logger.js';
import type { Bus } from './bus.js';
import { resync } from './events.js';
import { createFanout, type FanoutObserver, type MessageSenders } from './fanout.js';
import { createGaps, type GapObserver } from './gaps.js';
import { createGroupEvents } from './group-events.js';
import { createHub, type RealtimeChannels, type RealtimeConnection } from './hub.js';
import { createMembership } from './membership.js';
import { createPresence, type PresenceStore } from './presence.js';
import { createPublisher, type PublisherObserver } from './publisher.js';

export type { Bus } from './bus.js';
export type { ClientEvent, RealtimeEvent } from './events.js';
export type { MessageSenders } from './fanout.js';
export type { RealtimeChannels, RealtimeConnection } from './hub.js';
export type { PresenceStore } from './presence.js';

/** The gateway's re-check of sockets' sessions (services/ports.ts, SessionRecheck). */
interface SessionRecheck {
  ended(userId: string, sessionId: string | null): void;
  gap(userIds: ReadonlySet<string>): void;
}

/**
 * The real-time layer, assembled from its parts (see README.md beside this file): the hub
 * (local connections and channel references), the bus (Redis transport), membership, presence
 * and fan-out. What it returns implements the ports in services/ports.ts: ConversationEvents,
 * MembershipListener, GroupEvents, BlockListener and SessionListener for the services, PresenceReader for HTTP,
 * RealtimeGateway for ws.
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
  observer?: FanoutObserver & GapObserver & PublisherObserver;
}) {
  const { bus, logger } = deps;
  const hub = createHub({ bus, channels: deps.channels });
  const publisher = createPublisher({ bus, logger, observer: deps.observer });
  const gaps = createGaps({ hub, observer: deps.observer });
  const membership = createMembership({
    hub,
    publisher,
    groups: deps.groups,
    logger,
    reconcileMs: deps.reconcileMs,
    onJoinedLive(userId) {
      const event = resync('joined a group');
      const connections = hub.connectionsOf(userId);
      for (const connection of connections) connection.deliver(event);
      deps.observer?.resyncDelivered('joined a group', connections.size);
    },
  });
  const presence = createPresence({
    hub,
    store: deps.presence,
    logger,
    refreshMs: deps.refreshMs,
    observer: deps.observer,
  });
  /** The gateway's: re-checks a user's sockets (a session of theirs ended, or a notice may be lost). */
  let recheckSessions: SessionRecheck = { ended: () => {}, gap: () => {} };
  const fanout = createFanout({
    publisher,
    hub,
    membership,
    presence,
    onSessionEnded: (userId, sessionId) => recheckSessions.ended(userId, sessionId),
    senders: deps.senders,
    logger,
    observer: deps.observer,
    onGap,
  });
  const groupEvents = createGroupEvents({ publisher, hub });
  /** userId → settles when the user's groups are loaded on this node. */
  const loads = new Map<string, Promise<void>>();
  let started = false;

  /**
   * These channels may have missed events and are live again (the bus says so only then), or a
   * node gave up publishing on them: their local holders are told to resync, and their users'
   * groups are read again (a membership notice may have been among the lost events).
   */
  function onGap(channels: string[], reason: string) {
    const users = gaps.tell(channels, reason);
    if (started && users.size > 0) void membership.reconcile(`gap: ${reason}`, users);
    // A session notice may have been among the lost events, too.
    if (users.size > 0) recheckSessions.gap(users);
  }

  bus.onEvent((channel, event) => fanout.receive(channel, event));
  bus.onPossibleGap(onGap);

  return {
    messageCreated: fanout.messageCreated,
    messageChanged: fanout.messageChanged,
    reactionUpdated: fanout.reactionUpdated,
    receiptUpdated: fanout.receiptUpdated,
    typing: fanout.typing,
    membershipChanged: membership.membershipChanged,
    groupUpdated: groupEvents.groupUpdated,
    memberAdded: groupEvents.memberAdded,
    memberRemoved: groupEvents.memberRemoved,
    memberUpdated: groupEvents.memberUpdated,
    blocked: groupEvents.blocked,

    /**
     * Resolves once every channel the user needs is live on this node *now*; rejects when one
     * cannot be subscribed (the gateway then closes instead of sending a `ready` that lies). A
     * second connection of a user checks again rather than trusting the first one's setup: that
     * may have been before Redis restarted.
     */
    async register(connection: RealtimeConnection): Promise<void> {
      const { userId } = connection;
      const own = { kind: 'user' as const, id: userId };
      if (hub.add(connection)) {
        hub.hold(own, userId).catch(() => {}); // awaited through hub.ready below
        loads.set(userId, membership.load(userId));
      }
      await Promise.all([loads.get(userId), presence.online(connection)]);
      await Promise.all([
        hub.ready(own),
        ...[...membership.groupsOf(userId)].map((id) => hub.ready({ kind: 'group', id })),
      ]);
    },

    async unregister(connection: RealtimeConnection): Promise<void> {
      presence.unwatchAll(connection);
      const removed = hub.remove(connection);
      if (removed === 'unknown') return;
      if (removed === 'last') {
        loads.delete(connection.userId);
        hub.release({ kind: 'user', id: connection.userId }, connection.userId);
        membership.unload(connection.userId);
      }
      await presence.offline(connection);
    },

    watchPresence: presence.watch,
    unwatchPresence: presence.unwatch,
    liveConnections: presence.liveConnections,
    onSessionRecheck(recheck: SessionRecheck) {
      recheckSessions = recheck;
    },
    sessionEnded: groupEvents.sessionEnded,
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
      publisher.close();
    },

    /** Runs a membership reconciliation now (as the timer and a subscriber reconnect do). */
    reconcileMemberships: () => membership.reconcile('requested'),
  };
}

export type Realtime = ReturnType<typeof createRealtime>;
