import type { PresenceRecord } from '../api-shapes/presence.js';
import { AppError } from '../domain/errors.js';
import type { Logger } from '../logger.js';
import { type ClientEvent, presenceChanged } from './events.js';
import type { Hub, RealtimeConnection } from './hub.js';

/** At most this many users watched by one connection. */
export const MAX_PRESENCE_WATCHES = 1000;
/** Connections refreshed per pipelined batch. */
const REFRESH_BATCH = 1000;
/** Lapsed entries one sweep batch claims, and batches per run. */
const SWEEP_BATCH = 500;
const SWEEP_ROUNDS = 20;

/**
 * The presence state in Redis (cache/presence.ts): every method rejects when Redis does. It
 * announces each transition itself, from the Lua script that makes it.
 */
export interface PresenceStore {
  /** Marks a connection alive for another TTL. */
  touch(userId: string, connectionId: string, now?: number): Promise<boolean>;
  /** Forgets a closed connection. */
  remove(userId: string, connectionId: string, now?: number): Promise<boolean>;
  /** Claims lapsed connections of dead nodes. */
  sweep(limit?: number): Promise<{ scanned: number }>;
  read(userIds: readonly string[]): Promise<PresenceRecord[]>;
  liveConnections(userId: string): Promise<number>;
}

/** Counters the composition root may wire to metrics. */
export interface PresenceObserver {
  fanoutDelivered(event: string, count?: number): void;
}

/** Presence for this node's connections: their entries in Redis, and who watches whom. */
export interface Presence {
  /** Marks a new connection online (best effort: logged when Redis is away). */
  online(connection: RealtimeConnection): Promise<void>;
  /** Releases a closed connection (best effort: the entry lapses by itself, the sweeper announces it). */
  offline(connection: RealtimeConnection): Promise<void>;
  watch(connection: RealtimeConnection, userIds: readonly string[]): Promise<void>;
  unwatch(connection: RealtimeConnection, userIds: readonly string[]): void;
  /** Drops every watch of a closing connection. */
  unwatchAll(connection: RealtimeConnection): void;
  /** A change announced on a presence channel this node listens to. */
  receive(watchedUserId: string, event: ClientEvent): void;
  /** For the HTTP API; rejects with UNAVAILABLE when Redis cannot answer. */
  presenceOf(userIds: readonly string[]): Promise<PresenceRecord[]>;
  liveConnections(userId: string): Promise<number>;
  start(): void;
  stop(): void;
}

/**
 * Each connection is an entry with a TTL in Redis, refreshed every `refreshMs`: a node that dies
 * stops refreshing, so its users read as offline within the TTL instead of forever. Every node
 * sweeps lapsed entries on the same cadence (offset at random), and the one whose script claims
 * an entry announces the user offline: without the sweep, watchers of a dead node's users would
 * never be told they went offline.
 *
 * Watches are holders of the watched user's presence channel in the hub (one per watching
 * connection); this module only remembers, per connection, whom it watches, for the per-connection
 * limit and to drop them all when it closes.
 */
export function createPresence(deps: {
  hub: Hub;
  store: PresenceStore;
  logger: Logger;
  /** How often live connections are refreshed in Redis (well within the presence TTL). */
  refreshMs: number;
  observer?: PresenceObserver | undefined;
}): Presence {
  const { hub, store, logger } = deps;
  /** connection → users it watches. */
  const watching = new Map<RealtimeConnection, Set<string>>();
  /** watched userId → number of the last presence event received for them (see watch). */
  const eventNo = new Map<string, number>();
  let events = 0;
  let refreshTimer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;

  const owner = (userId: string) => ({ kind: 'presence' as const, id: userId });

  function stopWatching(connection: RealtimeConnection, userId: string) {
    hub.release(owner(userId), connection.id);
    if (hub.holders(owner(userId)).size === 0) eventNo.delete(userId);
  }

  async function refreshAll() {
    const now = Date.now();
    const all = hub.connections();
    // Bounded batches: auto-pipelining sends each batch as a few round trips.
    for (let i = 0; i < all.length; i += REFRESH_BATCH) {
      await Promise.all(
        all.slice(i, i + REFRESH_BATCH).map(async (connection) => {
          try {
            // Back online after an entry lapsed (e.g. Redis restarted empty): the store announces it.
            await store.touch(connection.userId, connection.id, now);
          } catch {
            // Redis away: the next refresh tries again; presence is best effort.
          }
        }),
      );
    }
  }

  async function sweep() {
    try {
      for (let round = 0; round < SWEEP_ROUNDS; round++) {
        const { scanned } = await store.sweep(SWEEP_BATCH);
        if (scanned < SWEEP_BATCH) return;
      }
    } catch (error) {
      logger.debug({ err: error }, 'presence sweep failed');
    }
  }

  return {
    async online(connection) {
      await store
        .touch(connection.userId, connection.id)
        .catch((error: unknown) => logger.warn({ err: error }, 'presence update failed'));
    },

    async offline(connection) {
      try {
        await store.remove(connection.userId, connection.id, Date.now());
      } catch (error) {
        // The entry lapses by itself within the TTL; the sweeper announces it then.
        logger.warn({ err: error }, 'presence removal failed');
      }
    },

    /**
     * Starts sending the connection presence changes of these users, and their current state
     * right away (after the subscription is live, so no change falls in between). A user for
     * whom an event arrived while the state was being read gets no snapshot: that event, and any
     * after it, already tell the state as new as the read or newer. (Sending the snapshot anyway
     * could put a stale "online" after a fresh "offline": the watcher would show a user online
     * who has left.)
     */
    async watch(connection, userIds) {
      // A frame handled after its connection closed must not leave watches nobody will drop.
      if (!hub.has(connection)) return;
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
        subscriptions.push(hub.hold(owner(userId), connection.id));
      }
      try {
        await Promise.all(subscriptions);
      } catch (error) {
        // The watches stay (the bus keeps subscribing); a resync follows once they hold.
        throw new AppError('UNAVAILABLE', 'Presence is unavailable right now; try again', { cause: error });
      }
      if (fresh.length === 0) return;
      const eventsBeforeRead = events;
      let current: PresenceRecord[];
      try {
        current = await store.read(fresh);
      } catch (error) {
        throw new AppError('UNAVAILABLE', 'Presence is unavailable right now; changes will still be sent', {
          cause: error,
        });
      }
      for (const record of current) {
        if (!watching.get(connection)?.has(record.userId)) continue;
        if ((eventNo.get(record.userId) ?? 0) > eventsBeforeRead) continue;
        connection.deliver(presenceChanged(record));
      }
    },

    unwatch(connection, userIds) {
      const mine = watching.get(connection);
      if (!mine) return;
      for (const userId of new Set(userIds)) {
        if (mine.delete(userId)) stopWatching(connection, userId);
      }
    },

    unwatchAll(connection) {
      const mine = watching.get(connection);
      if (!mine) return;
      watching.delete(connection);
      for (const userId of mine) stopWatching(connection, userId);
    },

    receive(watchedUserId, event) {
      const holders = hub.holders(owner(watchedUserId));
      if (holders.size === 0) return;
      eventNo.set(watchedUserId, ++events);
      let count = 0;
      for (const connectionId of holders) {
        const connection = hub.connection(connectionId);
        if (!connection) continue;
        connection.deliver(event);
        count++;
      }
      deps.observer?.fanoutDelivered('presence', count);
    },

    async presenceOf(userIds) {
      try {
        return await store.read(userIds);
      } catch (error) {
        throw new AppError('UNAVAILABLE', 'Presence is unavailable right now', { cause: error });
      }
    },

    liveConnections: (userId) => store.liveConnections(userId),

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
