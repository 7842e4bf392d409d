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

/** Events on the Redis bus. */
export type BusEvent =
  | { kind: 'message'; message: Message }
  | { kind: 'receipt'; receipt: Receipt }
  | { kind: 'typing'; conversationId: string; userId: string }
  | {
      kind: 'membership';
      groupId: string;
      change: 'joined' | 'left';
      /** Whose membership changed (absent from nodes of older versions: then the user channel's user). */
      userId?: string;
      /** Epoch ms of the change on the node that made it (absent from older nodes: taken as now). */
      at?: number;
    }
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
/** Pauses between the attempts to publish a membership change (so three attempts in all). */
const MEMBERSHIP_RETRY_DELAYS_MS = [50, 200];
/** Users whose groups one reconciliation run reads at once. */
const RECONCILE_CONCURRENCY = 8;
/** A reconciliation run stops after this many failed reads (Cassandra is likely away); the next one retries. */
const RECONCILE_MAX_FAILURES = 5;
/** How long a membership change is remembered, to ignore late duplicates of older ones (retried publishes). */
const CHANGE_MEMORY_MS = 60_000;
/** (conversation, user) pairs whose last delivered watermarks a node remembers; the oldest are forgotten first. */
const MAX_STATUS_ENTRIES = 50_000;

interface MembershipChange {
  change: 'joined' | 'left';
  /** Epoch ms of the change: the publishing node's clock for events, the read's start for reconciliations. */
  at: number;
  /** The order in which this node learned it; a read applies only to groups not changed since it began. */
  seq: number;
}

interface LocalUser {
  connections: Set<RealtimeConnection>;
  /** Groups whose events this user gets (their channels are subscribed). */
  groups: Set<string>;
  /** The latest membership change this node knows of, per group (recent ones; 'left' also stops delivery). */
  changes: Map<string, MembershipChange>;
  /** True once the initial group list is applied; reconciliation leaves the user alone until then. */
  loaded: boolean;
  /** Settles when the user's channels are subscribed. */
  ready: Promise<void>;
}

type ChannelTarget = { kind: 'user' | 'group' | 'presence'; id: string };

type Watermarks = Pick<Receipt, 'deliveredUpTo' | 'readUpTo'>;

/** The later of two watermarks (message ids are ULIDs: their text order is their time order). */
const laterOf = (a: string | null, b: string | null) => (a === null ? b : b === null || a > b ? a : b);

/**
 * Real-time fan-out across nodes.
 *
 * Channels (names in cache/keys.ts):
 * - one per user: direct messages, receipts and typing addressed to them, and their membership
 *   changes. A node subscribes while that user has a connection on it.
 * - one per group: group messages, receipts and typing, published once however many members,
 *   and membership changes of the group. A node subscribes while one of its connected users is
 *   a member.
 * - one per user for presence changes, subscribed while a local connection watches that user.
 *   The presence store publishes them from the Redis script that changes the state, so they
 *   arrive in the order the changes happened.
 *
 * Membership: a change is published (with retries) on both the user's and the group's channel,
 * so either reaching the user's node is enough; on top of that every node re-reads its connected
 * users' groups after its subscriber reconnects and every `reconcileMs` (jittered), and joins or
 * leaves group channels to match. A user the node knows left a group is never sent its events.
 *
 * Presence: each connection is an entry with a TTL in Redis, refreshed on a timer; a sweeper
 * announces users of dead nodes offline once their entries lapse.
 *
 * Publishing is best effort: failures are logged and never fail the request that caused them.
 */
export function createRealtimeService(deps: {
  pubsub: PubSub<BusEvent>;
  /** Must announce transitions itself (created with the pub/sub `encode`). */
  presence: Pick<PresenceStore, 'touch' | 'remove' | 'sweep' | 'read' | 'liveConnections'>;
  groups: Pick<GroupRepository, 'listGroupIdsOfUser'>;
  channels: RealtimeChannels;
  logger: Logger;
  /** How often live connections are refreshed in Redis (well within the presence TTL). */
  refreshMs: number;
  /** How often connected users' groups are re-read to correct missed membership changes. */
  reconcileMs: number;
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
  /** watched userId → number of the last presence event received for them (see watchPresence). */
  const presenceEventNo = new Map<string, number>();
  let presenceEvents = 0;
  /** `<conversationId> <userId>` → the watermarks last delivered here (message.status never goes back). */
  const lastStatus = new Map<string, Watermarks>();
  const targets = new Map<string, ChannelTarget>();
  let changeSeq = 0;
  let started = false;
  let refreshTimer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let reconcileTimer: NodeJS.Timeout | undefined;
  let reconciling: Promise<void> | undefined;
  let reconcileAgain = false;

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

  /** Publishes with a few retries: a lost membership change would otherwise wait for reconciliation. */
  async function publishWithRetries(channel: string, event: BusEvent): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await pubsub.publish(channel, event);
        return;
      } catch (error) {
        const pause = MEMBERSHIP_RETRY_DELAYS_MS[attempt];
        if (pause === undefined) {
          logger.warn(
            { err: error, kind: event.kind, attempts: attempt + 1 },
            'real-time publish failed; membership reconciliation will correct subscriptions',
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  function deliverTo(
    userIds: Iterable<string>,
    event: RealtimeEvent,
    exclude: string | undefined,
    groupId: string | undefined,
  ): number {
    let count = 0;
    for (const userId of userIds) {
      if (userId === exclude) continue;
      const user = local.get(userId);
      if (!user) continue;
      // Last line of defence: whatever the subscriptions say, a known departure stops delivery.
      if (groupId !== undefined && user.changes.get(groupId)?.change === 'left') continue;
      for (const connection of user.connections) {
        connection.deliver(event);
        count++;
      }
    }
    if (count > 0) deps.observer?.fanoutDelivered(event.type, count);
    return count;
  }

  function joinGroup(userId: string, user: LocalUser, groupId: string) {
    if (user.groups.has(groupId)) return;
    user.groups.add(groupId);
    let members = groupMembers.get(groupId);
    if (!members) {
      members = new Set();
      groupMembers.set(groupId, members);
    }
    members.add(userId);
    if (members.size === 1) void subscribe(channels.groupChannel(groupId), { kind: 'group', id: groupId });
  }

  function leaveGroup(userId: string, user: LocalUser, groupId: string) {
    if (!user.groups.delete(groupId)) return;
    const members = groupMembers.get(groupId);
    if (!members) return;
    members.delete(userId);
    if (members.size === 0) {
      groupMembers.delete(groupId);
      unsubscribe(channels.groupChannel(groupId));
    }
  }

  /** A membership change from an event (this node's own, or from either channel); older news is ignored. */
  function applyChange(userId: string, groupId: string, change: 'joined' | 'left', at: number) {
    const user = local.get(userId);
    if (!user) return;
    const known = user.changes.get(groupId);
    if (known && known.at > at) return;
    user.changes.set(groupId, { change, at, seq: ++changeSeq });
    if (change === 'joined') joinGroup(userId, user, groupId);
    else leaveGroup(userId, user, groupId);
  }

  /**
   * Makes the user's groups those of a fresh read (started at `readAt`, when `changeSeq` was
   * `readSeq`), except groups whose change arrived after the read began: that news is newer
   * than, or as new as, what the read saw. Returns how many groups it joined or left.
   */
  function applyGroupList(userId: string, user: LocalUser, groupIds: string[], readSeq: number, readAt: number) {
    const listed = new Set(groupIds);
    const changedSince = (groupId: string) => (user.changes.get(groupId)?.seq ?? 0) > readSeq;
    let corrected = 0;
    for (const groupId of listed) {
      if (user.groups.has(groupId) || changedSince(groupId)) continue;
      user.changes.set(groupId, { change: 'joined', at: readAt, seq: ++changeSeq });
      joinGroup(userId, user, groupId);
      corrected++;
    }
    for (const groupId of [...user.groups]) {
      if (listed.has(groupId) || changedSince(groupId)) continue;
      user.changes.set(groupId, { change: 'left', at: readAt, seq: ++changeSeq });
      leaveGroup(userId, user, groupId);
      corrected++;
    }
    for (const [groupId, known] of user.changes) {
      if (known.at < readAt - CHANGE_MEMORY_MS) user.changes.delete(groupId);
    }
    return corrected;
  }

  async function setUpUser(userId: string, user: LocalUser): Promise<void> {
    const userChannel = subscribe(channels.userChannel(userId), { kind: 'user', id: userId });
    const readSeq = changeSeq;
    const readAt = Date.now();
    const groupIds = await deps.groups.listGroupIdsOfUser(userId);
    if (local.get(userId) !== user) return; // everyone left while loading
    applyGroupList(userId, user, groupIds, readSeq, readAt);
    user.loaded = true;
    await Promise.all([
      userChannel,
      ...[...user.groups].map((groupId) => pubsub.ready(channels.groupChannel(groupId))),
    ]);
  }

  /** Re-reads one connected user's groups; resolves how many subscriptions it corrected. */
  async function reconcileUser(userId: string): Promise<number> {
    const user = local.get(userId);
    if (!user?.loaded) return 0;
    const readSeq = changeSeq;
    const readAt = Date.now();
    const groupIds = await deps.groups.listGroupIdsOfUser(userId);
    if (local.get(userId) !== user) return 0;
    return applyGroupList(userId, user, groupIds, readSeq, readAt);
  }

  async function reconcileAll(reason: string) {
    const userIds = [...local.keys()];
    let next = 0;
    let corrected = 0;
    let failures = 0;
    let lastError: unknown;
    async function worker() {
      while (next < userIds.length && failures < RECONCILE_MAX_FAILURES) {
        const userId = userIds[next++] as string;
        try {
          corrected += await reconcileUser(userId);
        } catch (error) {
          failures++;
          lastError = error;
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(RECONCILE_CONCURRENCY, userIds.length) }, worker));
    if (failures > 0) {
      logger.warn({ err: lastError, failures, reason }, 'membership reconciliation could not read some users’ groups');
    }
    if (corrected > 0) {
      logger.info(
        { corrected, users: userIds.length, reason },
        'membership reconciliation corrected group subscriptions',
      );
    }
  }

  /** One run at a time; a request during a run starts another right after it. */
  function reconcile(reason: string): Promise<void> {
    if (reconciling) {
      reconcileAgain = true;
      return reconciling;
    }
    reconciling = reconcileAll(reason).finally(() => {
      reconciling = undefined;
      if (reconcileAgain && started) {
        reconcileAgain = false;
        void reconcile('requested during a run');
      }
    });
    return reconciling;
  }

  function scheduleReconcile() {
    // Jittered so the nodes of a fleet do not read Cassandra in lockstep.
    const delay = Math.round(deps.reconcileMs * (0.75 + Math.random() * 0.5));
    reconcileTimer = setTimeout(() => {
      void reconcile('periodic').finally(() => {
        if (started) scheduleReconcile();
      });
    }, delay);
    reconcileTimer.unref();
  }

  /** The watermarks to deliver, or undefined when they are not newer than what this node already sent. */
  function newerStatus(receipt: Receipt): Receipt | undefined {
    const key = `${receipt.conversationId} ${receipt.userId}`;
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

  function onEnvelope(channel: string, envelope: Envelope<BusEvent>) {
    const target = targets.get(channel);
    if (!target) return;
    const event = envelope.event;
    if (target.kind === 'presence') {
      if (event.kind !== 'presence') return;
      const connections = watchers.get(target.id);
      if (!connections) return;
      presenceEventNo.set(target.id, ++presenceEvents);
      const change: RealtimeEvent = { type: 'presence', presence: event.presence };
      for (const connection of connections) connection.deliver(change);
      deps.observer?.fanoutDelivered('presence', connections.size);
      return;
    }
    const groupId = target.kind === 'group' ? target.id : undefined;
    const recipients = groupId === undefined ? [target.id] : (groupMembers.get(groupId) ?? []);
    switch (event.kind) {
      case 'message':
        deliverTo(recipients, { type: 'message.created', message: event.message }, undefined, groupId);
        return;
      case 'receipt': {
        const receipt = newerStatus(event.receipt);
        if (receipt) deliverTo(recipients, { type: 'message.status', receipt }, receipt.userId, groupId);
        return;
      }
      case 'typing':
        deliverTo(
          recipients,
          { type: 'typing', conversationId: event.conversationId, userId: event.userId },
          event.userId,
          groupId,
        );
        return;
      case 'membership': {
        // A user channel speaks only for its user, a group channel only for its group.
        const userId = event.userId ?? (target.kind === 'user' ? target.id : undefined);
        if (userId === undefined || (target.kind === 'user' && userId !== target.id)) return;
        if (groupId !== undefined && event.groupId !== groupId) return;
        applyChange(userId, event.groupId, event.change, typeof event.at === 'number' ? event.at : Date.now());
        return;
      }
      default:
        return;
    }
  }

  pubsub.onEnvelope(onEnvelope);
  // Whatever was published while the subscriber was away (membership changes too) is lost.
  pubsub.onReconnect(() => {
    if (started) void reconcile('subscriber reconnected');
  });

  async function refreshAll() {
    const now = Date.now();
    const all = [...local.values()].flatMap((user) => [...user.connections]);
    // Bounded batches: auto-pipelining sends each batch as a few round trips.
    for (let i = 0; i < all.length; i += 1000) {
      await Promise.all(
        all.slice(i, i + 1000).map(async (connection) => {
          try {
            // Back online after an entry lapsed (e.g. Redis restarted empty): the store announces it.
            await presence.touch(connection.userId, connection.id, now);
          } catch {
            // Redis away: the next refresh tries again; presence is best effort.
          }
        }),
      );
    }
  }

  /** Claims lapsed connections of dead nodes (the store announces them), a bounded number of batches per run. */
  async function sweep() {
    const BATCH = 500;
    try {
      for (let round = 0; round < 20; round++) {
        const { scanned } = await presence.sweep(BATCH);
        if (scanned < BATCH) return;
      }
    } catch (error) {
      logger.debug({ err: error }, 'presence sweep failed');
    }
  }

  function stopWatching(connection: RealtimeConnection, userId: string) {
    const set = watchers.get(userId);
    set?.delete(connection);
    if (set?.size === 0) {
      watchers.delete(userId);
      presenceEventNo.delete(userId);
    }
    unsubscribe(channels.presenceChannel(userId));
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
      const at = Date.now();
      const event: BusEvent = { kind: 'membership', groupId, userId, change, at };
      // This node follows at once; the user's node learns it from either channel (its own user
      // channel, or the group's, which it listens to while the user is a member).
      applyChange(userId, groupId, change, at);
      await Promise.all([
        publishWithRetries(channels.userChannel(userId), event),
        publishWithRetries(channels.groupChannel(groupId), event),
      ]);
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
          changes: new Map(),
          loaded: false,
          ready: Promise.resolve(),
        };
        local.set(connection.userId, created);
        created.ready = setUpUser(connection.userId, created);
        user = created;
      }
      user.connections.add(connection);
      const online = presence
        .touch(connection.userId, connection.id)
        .catch((error: unknown) => logger.warn({ err: error }, 'presence update failed'));
      await Promise.all([user.ready, online]);
    },

    /** Removes a connection (idempotent); the presence store announces the user offline if it was their last. */
    async unregister(connection: RealtimeConnection): Promise<void> {
      const watched = watching.get(connection);
      if (watched) {
        watching.delete(connection);
        for (const userId of watched) stopWatching(connection, userId);
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
        await presence.remove(connection.userId, connection.id, Date.now());
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
      // A one-to-one conversation's participants are in its id.
      await Promise.all(
        conversation.ref.userIds.filter((id) => id !== userId).map((id) => publish(channels.userChannel(id), event)),
      );
    },

    /**
     * Starts sending the connection presence changes of these users, and their current state
     * right away (after the subscription is live, so no change falls in between). A user for
     * whom an event arrived while the state was being read gets no snapshot: that event, and
     * any after it, already tell the state as new as the read or newer.
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
      const eventsBeforeRead = presenceEvents;
      let current: Presence[];
      try {
        current = await presence.read(fresh);
      } catch (error) {
        throw new AppError('UNAVAILABLE', 'Presence is unavailable right now; changes will still be sent', {
          cause: error,
        });
      }
      for (const record of current) {
        if (!watching.get(connection)?.has(record.userId)) continue;
        if ((presenceEventNo.get(record.userId) ?? 0) > eventsBeforeRead) continue;
        connection.deliver({ type: 'presence', presence: record });
      }
    },

    /** Stops presence events of these users for the connection. */
    unwatchPresence(connection: RealtimeConnection, userIds: readonly string[]) {
      const mine = watching.get(connection);
      if (!mine) return;
      for (const userId of new Set(userIds)) {
        if (mine.delete(userId)) stopWatching(connection, userId);
      }
    },

    /** Live connections of a user on every node (rejects when Redis does). */
    liveConnections(userId: string): Promise<number> {
      return presence.liveConnections(userId);
    },

    async presenceOf(userIds: readonly string[]): Promise<Presence[]> {
      try {
        return await presence.read(userIds);
      } catch (error) {
        throw new AppError('UNAVAILABLE', 'Presence is unavailable right now', { cause: error });
      }
    },

    /** Starts the presence refresh, dead-node sweep and membership reconciliation timers. */
    start() {
      if (started) return;
      started = true;
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
      scheduleReconcile();
    },

    stop() {
      started = false;
      clearInterval(refreshTimer);
      clearTimeout(sweepTimer);
      clearTimeout(reconcileTimer);
      refreshTimer = undefined;
      sweepTimer = undefined;
      reconcileTimer = undefined;
    },

    /** Runs a membership reconciliation now (as the timer and a subscriber reconnect do). */
    reconcileMemberships: () => reconcile('requested'),
  };
}

export type RealtimeService = ReturnType<typeof createRealtimeService>;
