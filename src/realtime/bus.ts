import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { decodeEnvelope, type Envelope, type RealtimeEvent } from './events.js';

/** How long after a failed SUBSCRIBE/UNSUBSCRIBE on a live connection the channels are synced again. */
const RESYNC_MS = 1000;
/** Channels per SUBSCRIBE/UNSUBSCRIBE command when many are synced at once. */
const CHUNK = 1000;

export type BusHandler = (channel: string, event: RealtimeEvent, from: string) => void;

/**
 * The transport between nodes (Centrifuge's Broker; socket.io's Redis adapter): publish an event
 * on a channel, and receive the events of the channels this node is subscribed to. It knows
 * nothing of users, groups or reference counts: the hub decides which channels the node needs
 * and calls `subscribe` once per channel (on its first local holder) and `unsubscribe` once (after
 * its last). The only real-time file that talks to Redis.
 */
export interface Bus {
  readonly nodeId: string;
  /** Publishes once; rejects when Redis cannot take it (callers decide whether that matters). */
  publish(channel: string, event: RealtimeEvent): Promise<void>;
  /**
   * The exact text `publish` sends for this event, for publishers that are not this module
   * (the presence store's Lua scripts publish the transition they make).
   */
  encode(event: RealtimeEvent): string;
  /** Starts listening to a channel; resolves once Redis confirmed it (or it failed and was logged). */
  subscribe(channel: string): Promise<void>;
  /** Stops listening to a channel. */
  unsubscribe(channel: string): void;
  /** Sets the one handler of incoming events. */
  onEvent(handler: BusHandler): void;
  /**
   * Sets the one handler called each time the subscriber connection is (re)established and the
   * channels were subscribed again: whatever was published meanwhile was missed.
   */
  onReconnect(handler: () => void): void;
  close(): Promise<void>;
}

/**
 * Redis pub/sub. Publishing goes through the shared command connection; receiving uses a
 * dedicated subscriber connection (a subscribed connection can run nothing else).
 *
 * `wanted` is what the hub asked for; `live` is what the current subscriber connection is
 * subscribed to, as confirmed by Redis, and `doubtful` what a failed (e.g. timed-out) command left
 * unknown. A fresh connection starts with nothing, and ioredis's own resubscribing is off: it
 * would also bring back a channel whose UNSUBSCRIBE failed while Redis was away, and that channel
 * then stayed subscribed (and its events were received for nobody) until the node restarted. So
 * after every reconnect, and shortly after a command failed on a live connection, they are synced:
 * wanted but not live → SUBSCRIBE; live or doubtful but no longer wanted → UNSUBSCRIBE.
 *
 * A node's own publications come back to it through its subscription and are delivered like any
 * other: the echo is not dropped (socket.io's adapter drops it because it delivers locally first;
 * we do not). One path means every node hands a channel's events to its users in the one order
 * Redis published them. Delivering locally first would show the members on node A their own
 * node's group message before an earlier one from node B that everyone else saw first; and the
 * presence scripts publish in this node's name, so dropping "our" echo would hide a user's own
 * online/offline changes from the watchers on the node they are connected to.
 */
export function createRedisBus(deps: { publisher: Redis; subscriber: Redis; nodeId: string; logger: Logger }): Bus {
  const { publisher, subscriber, nodeId, logger } = deps;
  const wanted = new Map<string, Promise<void>>();
  const live = new Set<string>();
  const doubtful = new Set<string>();
  let handler: BusHandler = () => {};
  let reconnected: () => void = () => {};
  let resyncTimer: NodeJS.Timeout | undefined;
  let closed = false;

  // Whoever built the connection, it must not resubscribe by itself (see above).
  subscriber.options.autoResubscribe = false;

  subscriber.on('message', (channel: string, raw: string) => {
    // Messages for a channel dropped a moment ago can still arrive: ignore them.
    if (!wanted.has(channel)) return;
    const envelope: Envelope | undefined = decodeEnvelope(raw);
    if (!envelope) {
      // A node of another version, or a stranger publishing on our channels: never half-read it.
      logger.warn({ channel }, 'dropping an unreadable pub/sub envelope');
      return;
    }
    try {
      handler(channel, envelope.event, envelope.node);
    } catch (error) {
      logger.error({ err: error, channel, from: envelope.node }, 'pub/sub handler failed');
    }
  });

  /** SUBSCRIBE; `live` follows the confirmation (replies come in command order). */
  function sendSubscribe(channels: string[]): Promise<void> {
    return subscriber.subscribe(...channels).then(
      () => {
        for (const channel of channels) {
          live.add(channel);
          doubtful.delete(channel);
        }
      },
      (error: unknown) => {
        markDoubtful(channels);
        // While disconnected this is expected (the 'ready' below catches up); say so only when live.
        const level = subscriber.status === 'ready' ? 'warn' : 'debug';
        logger[level]({ err: error, channels: channels.length }, 'redis subscribe failed');
        scheduleResync();
      },
    );
  }

  function sendUnsubscribe(channels: string[]) {
    subscriber.unsubscribe(...channels).then(
      () => {
        // Even if wanted again meanwhile: that SUBSCRIBE was sent after this and re-adds it.
        for (const channel of channels) {
          live.delete(channel);
          doubtful.delete(channel);
        }
      },
      (error: unknown) => {
        markDoubtful(channels);
        logger.debug({ err: error, channels: channels.length }, 'redis unsubscribe failed');
        scheduleResync();
      },
    );
  }

  /** The command may or may not have run (a timeout): the next resync settles these channels. */
  function markDoubtful(channels: string[]) {
    for (const channel of channels) {
      live.delete(channel);
      doubtful.add(channel);
    }
  }

  /** Makes the connection's subscriptions equal the wanted channels. */
  function resync() {
    if (closed || subscriber.status !== 'ready') return;
    const missing = [...wanted.keys()].filter((channel) => !live.has(channel));
    const extra = [...new Set([...live, ...doubtful])].filter((channel) => !wanted.has(channel));
    for (let i = 0; i < missing.length; i += CHUNK) void sendSubscribe(missing.slice(i, i + CHUNK));
    for (let i = 0; i < extra.length; i += CHUNK) sendUnsubscribe(extra.slice(i, i + CHUNK));
  }

  // While Redis is away, the 'ready' below does the work; on a live connection, retry shortly.
  function scheduleResync() {
    if (closed || resyncTimer) return;
    resyncTimer = setTimeout(() => {
      resyncTimer = undefined;
      resync();
    }, RESYNC_MS);
    resyncTimer.unref();
  }

  // A new connection: the server knows none of the old one's subscriptions.
  subscriber.on('ready', () => {
    live.clear();
    doubtful.clear();
    resync();
    try {
      reconnected();
    } catch (error) {
      logger.error({ err: error }, 'pub/sub reconnect handler failed');
    }
  });
  if (subscriber.status === 'wait') subscriber.connect().catch(() => {});

  const encode = (event: RealtimeEvent) => JSON.stringify({ node: nodeId, event } satisfies Envelope);

  return {
    nodeId,

    async publish(channel, event) {
      await publisher.publish(channel, encode(event));
    },

    encode,

    subscribe(channel) {
      const pending = wanted.get(channel);
      if (pending) return pending;
      // Sent even if still live: an UNSUBSCRIBE of it may be on its way. Best effort: on
      // failure, the resync (shortly, or on 'ready') subscribes it again.
      const ready = sendSubscribe([channel]);
      wanted.set(channel, ready);
      return ready;
    },

    unsubscribe(channel) {
      if (!wanted.delete(channel)) return;
      // Commands on one connection run in order, so a later SUBSCRIBE of the same channel wins.
      sendUnsubscribe([channel]);
    },

    onEvent(next) {
      handler = next;
    },

    onReconnect(next) {
      reconnected = next;
    },

    async close() {
      closed = true;
      clearTimeout(resyncTimer);
      wanted.clear();
      live.clear();
      doubtful.clear();
      subscriber.disconnect();
    },
  };
}
